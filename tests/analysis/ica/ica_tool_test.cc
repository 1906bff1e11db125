// The fnprobe-ica binary as a user runs it: the planted fixture (.npy and
// Armadillo input) recovered from its output files, same seed → same
// bytes, and exit 3 with a message for bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/npy_io.h"
#include "nlohmann/json.hpp"
#include "tests/analysis/ica/ica_test_util.h"
#include "tests/support/command_runner.h"
#include "tests/support/reference_data.h"

namespace fnprobe::ica {
namespace {

using ::fnprobe::testing::CommandResult;
using ::fnprobe::testing::ReadFileOrDie;
using ::fnprobe::testing::RunCommand;
using ::fnprobe::testing::ScopedTempDir;
using ::testing::HasSubstr;

class IcaToolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fixture_ = testing::LoadPlantedFixture();
    // The fixture as numpy would save X (T x V float32, C order): the
    // row-major bytes of X are the column-major bytes of Xᵀ.
    npy_ = dir_.path() + "/X.npy";
    const arma::fmat xt = fixture_.x.t();
    ASSERT_TRUE(WriteNpy(npy_, NpyDtype::kFloat32,
                         {static_cast<int64_t>(fixture_.x.n_rows),
                          static_cast<int64_t>(fixture_.x.n_cols)},
                         xt.memptr())
                    .ok());
  }

  CommandResult Run(const std::vector<std::string>& args) {
    return RunCommand(FNPROBE_ICA_BINARY, args, {}, dir_.path());
  }

  // Matched |corr| of the planted sources with DIR/sources.npy.
  arma::vec Recovery(const std::string& out) {
    auto header = ReadNpyHeader(out + "/sources.npy");
    EXPECT_TRUE(header.ok()) << header.status();
    if (!header.ok()) return arma::vec(4, arma::fill::zeros);
    EXPECT_EQ(header->shape, (std::vector<int64_t>{4, 1500}));
    arma::fmat maps(1500, 4);
    EXPECT_TRUE(ReadNpyData(out + "/sources.npy", *header, maps.memptr()).ok());
    return testing::MatchedAbsCorrelation(
        arma::conv_to<arma::mat>::from(maps),
        arma::conv_to<arma::mat>::from(fixture_.sources));
  }

  ScopedTempDir dir_;
  testing::PlantedFixture fixture_;
  std::string npy_;
};

TEST_F(IcaToolTest, RecoversThePlantedSourcesFromNpy) {
  const std::string out = dir_.path() + "/out";
  const CommandResult r = Run({"--input", npy_, "--components", "4", "--fun",
                               "logcosh", "--seed", "3", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r;
  const arma::vec corr = Recovery(out);
  EXPECT_GE(corr.min(), 0.95) << corr.t();
  auto mixing = ReadNpyHeader(out + "/mixing.npy");
  ASSERT_TRUE(mixing.ok()) << mixing.status();
  EXPECT_EQ(mixing->shape, (std::vector<int64_t>{200, 4}));
  const auto j = nlohmann::json::parse(ReadFileOrDie(out + "/components.json"));
  ASSERT_EQ(j["per_component"].size(), 4u);
  for (const auto& c : j["per_component"]) {
    EXPECT_GT(c["network_size"].get<int>(), 0);
    EXPECT_TRUE(c["stability"].is_null());  // one restart
  }
}

TEST_F(IcaToolTest, RecoversFromArmadilloInputWithRestarts) {
  const std::string out = dir_.path() + "/out_arma";
  const CommandResult r =
      Run({"--input", testing::FixturePath("X.arma_f32"), "--components", "4",
           "--fun", "cube", "--restarts", "5", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_GE(Recovery(out).min(), 0.95);
  const auto j = nlohmann::json::parse(ReadFileOrDie(out + "/components.json"));
  for (const auto& c : j["per_component"]) {
    EXPECT_GT(c["stability"].get<double>(), 0.9);
  }
}

TEST_F(IcaToolTest, SameSeedSameBytes) {
  for (const char* out : {"/a", "/b"}) {
    const CommandResult r = Run({"--input", npy_, "--components", "4", "--seed",
                                 "11", "--restarts", "3", "--max-iter", "500",
                                 "--tol", "1e-6", "--out", dir_.path() + out});
    ASSERT_EQ(r.exit_code, 0) << r;
  }
  for (const char* file : {"/sources.npy", "/mixing.npy", "/components.json"}) {
    EXPECT_EQ(ReadFileOrDie(dir_.path() + "/a" + file),
              ReadFileOrDie(dir_.path() + "/b" + file))
        << file;
  }
}

TEST_F(IcaToolTest, BadInputExitsThreeWithAMessage) {
  const std::string out = dir_.path() + "/never";
  const std::string garbage = dir_.path() + "/garbage.npy";
  std::ofstream(garbage) << "\x93NUMPY\x01";
  const std::string truncated = dir_.path() + "/truncated.npy";
  const std::string full = ReadFileOrDie(npy_);
  std::ofstream(truncated, std::ios::binary) << full.substr(0, full.size() / 2);
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const Case cases[] = {
      {{"--input", dir_.path() + "/missing.npy", "--components", "4"},
       "missing.npy"},
      {{"--input", garbage, "--components", "4"}, "truncated .npy file"},
      {{"--input", truncated, "--components", "4"}, "truncated .npy file"},
      {{"--input", npy_, "--components", "300"}, "exceed the rank"},
      {{"--input", npy_, "--components", "0"}, "at least 1"},
      {{"--input", npy_, "--components", "4", "--fun", "tanh"},
       "unknown contrast function 'tanh'"},
      {{"--input", npy_, "--components", "4", "--tol", "0"}, "tol"},
  };
  for (Case c : cases) {
    c.args.push_back("--out");
    c.args.push_back(out);
    const CommandResult r = Run(c.args);
    EXPECT_EQ(r.exit_code, 3) << r;
    EXPECT_THAT(r.err, HasSubstr("fnprobe-ica: "));
    EXPECT_THAT(r.err, HasSubstr(c.message)) << r;
  }
  // A flag the tool does not know is a usage error, not bad input.
  EXPECT_EQ(Run({"--input", npy_, "--components", "4", "--bogus", "--out", out})
                .exit_code,
            2);
}

}  // namespace
}  // namespace fnprobe::ica
