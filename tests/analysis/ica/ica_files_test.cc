// fnprobe-ica's files: .npy reading and writing (common/npy_io) in every
// accepted form and every refused one, Armadillo binary input, and the
// output files.
#include "server/analysis/ica/ica_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "common/npy_io.h"
#include "nlohmann/json.hpp"
#include "tests/analysis/ica/ica_test_util.h"
#include "tests/support/reference_data.h"

namespace fnprobe::ica {
namespace {

using ::fnprobe::testing::ReadFileOrDie;
using ::fnprobe::testing::ScopedTempDir;
using ::testing::HasSubstr;

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A .npy file with a hand-written header dict (padded as numpy does).
std::string NpyWithDict(const std::string& dict, const std::string& data) {
  std::string header = dict;
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + data;
}

// 2 x 3 matrix [[1 2 3] [4 5 6]] in either order and precision.
template <typename T>
std::string Matrix23(bool fortran) {
  const T c_order[] = {1, 2, 3, 4, 5, 6};
  const T f_order[] = {1, 4, 2, 5, 3, 6};
  return std::string(reinterpret_cast<const char*>(fortran ? f_order : c_order),
                     6 * sizeof(T));
}

TEST(NpyTest, HeaderRoundTripsAndIsAligned) {
  const std::string h = EncodeNpyHeader(NpyDtype::kFloat32, {4, 1500});
  EXPECT_EQ(h.size() % 64, 0u);
  auto parsed = ParseNpyHeader(h);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->dtype, NpyDtype::kFloat32);
  EXPECT_FALSE(parsed->fortran_order);
  EXPECT_EQ(parsed->shape, (std::vector<int64_t>{4, 1500}));
  EXPECT_EQ(parsed->data_offset, h.size());
  EXPECT_EQ(parsed->data_bytes(), 4u * 1500 * 4);
}

TEST(NpyTest, EveryOrderAndPrecisionGivesTheSameFrames) {
  ScopedTempDir dir;
  const std::string cases[][2] = {
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
       Matrix23<float>(false)},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
       Matrix23<float>(true)},
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }",
       Matrix23<double>(false)},
      {"{\"descr\": \"=f8\", \"shape\": (2L, 3L), \"fortran_order\": True}",
       Matrix23<double>(true)},
  };
  for (const auto& [dict, data] : cases) {
    const std::string path = dir.path() + "/x.npy";
    WriteBytes(path, NpyWithDict(dict, data));
    auto frames = LoadFrames(path);
    ASSERT_TRUE(frames.ok()) << dict << ": " << frames.status();
    // Frames are V x T: unit 2 at time point 1 is X[1][2] = 6.
    arma::mat m =
        std::holds_alternative<arma::fmat>(*frames)
            ? arma::conv_to<arma::mat>::from(std::get<arma::fmat>(*frames))
            : std::get<arma::mat>(*frames);
    EXPECT_EQ(std::holds_alternative<arma::fmat>(*frames),
              dict.find("f4") != std::string::npos);
    ASSERT_EQ(m.n_rows, 3u) << dict;
    ASSERT_EQ(m.n_cols, 2u) << dict;
    EXPECT_EQ(m(2, 1), 6.0) << dict;
    EXPECT_EQ(m(1, 0), 2.0) << dict;
    EXPECT_EQ(m(0, 1), 4.0) << dict;
  }
}

TEST(NpyTest, BadFilesAreRefusedWithReasons) {
  ScopedTempDir dir;
  const std::string path = dir.path() + "/bad.npy";
  const std::string ok_dict =
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  struct Case {
    std::string bytes;
    absl::StatusCode code;
    std::string message;
  };
  const std::string good = NpyWithDict(ok_dict, Matrix23<float>(false));
  const Case cases[] = {
      {"", absl::StatusCode::kInvalidArgument, "empty"},
      {"hello world, not numpy", absl::StatusCode::kInvalidArgument,
       "neither a .npy file nor an Armadillo"},
      {std::string("\x93NUMPY\x07\x00", 8) + "xx",
       absl::StatusCode::kInvalidArgument, "version 7"},
      {NpyWithDict(
           "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }",
           Matrix23<float>(false)),
       absl::StatusCode::kInvalidArgument, "unsupported .npy dtype '<i4'"},
      {NpyWithDict(
           "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }",
           Matrix23<float>(false)),
       absl::StatusCode::kInvalidArgument, "big-endian"},
      {NpyWithDict("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2, 3)}",
                   Matrix23<float>(false)),
       absl::StatusCode::kInvalidArgument, "True or False"},
      {NpyWithDict("{'descr': '<f4', 'shape': (2, 3), }",
                   Matrix23<float>(false)),
       absl::StatusCode::kInvalidArgument, "missing"},
      {NpyWithDict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}",
                   Matrix23<float>(false)),
       absl::StatusCode::kInvalidArgument, "non-negative integer"},
      {NpyWithDict("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }",
                   Matrix23<float>(false)),
       absl::StatusCode::kInvalidArgument, "2-D array"},
      {NpyWithDict("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3)}",
                   ""),
       absl::StatusCode::kInvalidArgument, "empty"},
      {good.substr(0, good.size() - 5), absl::StatusCode::kDataLoss,
       "truncated .npy file"},
      {good.substr(0, 30), absl::StatusCode::kDataLoss, "truncated .npy file"},
      {good + "junk", absl::StatusCode::kInvalidArgument,
       "4 bytes beyond the data"},
  };
  for (const Case& c : cases) {
    WriteBytes(path, c.bytes);
    auto frames = LoadFrames(path);
    EXPECT_EQ(frames.status().code(), c.code) << frames.status();
    EXPECT_THAT(frames.status().message(), HasSubstr(c.message));
    EXPECT_THAT(frames.status().message(), HasSubstr(path));
  }
  EXPECT_EQ(LoadFrames(dir.path() + "/missing.npy").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ArmaBinaryTest, TheFixtureLoadsAsFrames) {
  auto frames = LoadFrames(testing::FixturePath("X.arma_f32"));
  ASSERT_TRUE(frames.ok()) << frames.status();
  const arma::fmat& f = std::get<arma::fmat>(*frames);
  const auto fixture = testing::LoadPlantedFixture();
  ASSERT_EQ(f.n_rows, 1500u);
  ASSERT_EQ(f.n_cols, 200u);
  EXPECT_EQ(f(1234, 56), fixture.x(56, 1234));
}

TEST(ArmaBinaryTest, TruncatedAndForeignFilesAreRefused) {
  ScopedTempDir dir;
  const std::string bytes = ReadFileOrDie(testing::FixturePath("X.arma_f32"));
  const std::string path = dir.path() + "/x.arma";
  WriteBytes(path, bytes.substr(0, bytes.size() - 100));
  auto truncated = LoadFrames(path);
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(truncated.status().message(),
              HasSubstr("truncated Armadillo binary file"));
  WriteBytes(path, "ARMA_MAT_BIN_IS004\n2 2\n0123456789abcdef");
  EXPECT_THAT(LoadFrames(path).status().message(), HasSubstr("IS004"));
  WriteBytes(path, "ARMA_MAT_BIN_FN004\ntwo 2\n0123456789abcdef");
  EXPECT_THAT(LoadFrames(path).status().message(),
              HasSubstr("malformed Armadillo binary header"));
}

TEST(IcaFilesTest, OutputsHaveTheDocumentedShapes) {
  const auto fixture = testing::LoadPlantedFixture();
  IcaOptions o;
  o.components = 4;
  o.restarts = 2;
  auto result = RunSpatialIca(testing::ToFrames(fixture.x), o);
  ASSERT_TRUE(result.ok()) << result.status();
  ScopedTempDir dir;
  const std::string out = dir.path() + "/nested/out";
  ASSERT_TRUE(WriteIcaOutputs(out, *result, o).ok());

  auto sources = ReadNpyHeader(out + "/sources.npy");
  ASSERT_TRUE(sources.ok()) << sources.status();
  EXPECT_EQ(sources->dtype, NpyDtype::kFloat32);
  EXPECT_EQ(sources->shape, (std::vector<int64_t>{4, 1500}));
  arma::fmat maps(1500, 4);  // row-major K x V = column-major V x K
  ASSERT_TRUE(ReadNpyData(out + "/sources.npy", *sources, maps.memptr()).ok());
  EXPECT_NEAR(maps(77, 2), result->maps(77, 2), 1e-6);

  auto mixing = ReadNpyHeader(out + "/mixing.npy");
  ASSERT_TRUE(mixing.ok()) << mixing.status();
  EXPECT_EQ(mixing->shape, (std::vector<int64_t>{200, 4}));
  arma::mat rows(4, 200);  // row-major T x K
  ASSERT_TRUE(ReadNpyData(out + "/mixing.npy", *mixing, rows.memptr()).ok());
  EXPECT_EQ(rows(3, 150), result->mixing(150, 3));

  const auto j = nlohmann::json::parse(ReadFileOrDie(out + "/components.json"));
  EXPECT_EQ(j["components"], 4);
  EXPECT_EQ(j["units"], 1500);
  EXPECT_EQ(j["fun"], "logcosh");
  ASSERT_EQ(j["per_component"].size(), 4u);
  for (int c = 0; c < 4; ++c) {
    EXPECT_EQ(j["per_component"][c]["network_size"],
              result->components[c].network.size());
    EXPECT_NEAR(j["per_component"][c]["stability"].get<double>(),
                result->components[c].stability, 1e-12);
  }
}

}  // namespace
}  // namespace fnprobe::ica
