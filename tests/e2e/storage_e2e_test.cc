// Storage many users can live with (issue 18), with real processes: a tiny
// model, fnprobe-inference and fnprobe-worker on loopback, the real `fnprobe`
// CLI. Deleting (rows and files; another user's: exit 4 and nothing
// changes; --activations-only keeps results and refuses re-analysis),
// usage and quotas (the refusal names the numbers), the start-up sweep of
// files no row refers to (a worker killed between a deletion's rows and its
// files), and a data dir on a small file system (a real tmpfs where the
// test may mount one): the experiment fails with "data dir full", no
// partial files, the worker stays up, and after a delete the next one
// completes.
#include <sys/mount.h>
#include <sys/statvfs.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/inference/tools/model_maker.h"
#include "tests/e2e/worker_cluster.h"
#include "tests/support/command_runner.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::CommandResult;
using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::RunCommand;
using ::fnprobe::testing::WorkerCluster;
using ::fnprobe::testing::WorkerClusterOptions;
using ::testing::HasSubstr;

constexpr char kAlice[] = "alice-token-0123456789abcdef";
constexpr char kBob[] = "bob-token-0123456789abcdefgh";

// 1 condition x 1 repeat of baseline/task/baseline, 2 prompts per block of
// 4 tokens: one run of 24 time points.
constexpr char kSpecJson[] = R"({
  "name": "storage-e2e",
  "model": "tiny",
  "generation": {"tokensPerPrompt": 4, "seed": 3},
  "baseline": {"name": "rest", "prompts": [
    "Tell me about sailing.", "Describe a harbor.", "How do you tack a boat?",
    "What knots should sailors know?"]},
  "conditions": [{"name": "cooking", "prompts": [
    "How do you make pasta?", "What is a good soup?"]}],
  "design": {"pattern": ["baseline", "task", "baseline"],
             "promptsPerBlock": 2, "repeats": 1},
  "analysis": {"inference": "TOKEN"}
})";

// Bytes of the regular files under `dir`.
int64_t BytesUnder(const std::string& dir) {
  int64_t bytes = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) bytes += static_cast<int64_t>(e.file_size());
  }
  return bytes;
}

std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  return files;
}

class StorageE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_root_ = new std::string(MakeTempDir("storage_e2e_model"));
    MakeModelOptions make;
    make.shape = "tiny";
    make.out_dir = *model_root_ + "/tiny";
    ASSERT_OK(MakeModel(make));
  }
  static void TearDownTestSuite() {
    delete model_root_;
    model_root_ = nullptr;
  }

  // A cluster of its own, with `worker_flags`; `data_dir` (empty: under
  // the cluster's dir) may be a small file system.
  void StartCluster(std::vector<std::string> worker_flags = {}) {
    WorkerClusterOptions o;
    o.dir = dir_;
    o.model_dir = *model_root_ + "/tiny";
    o.tokens = {absl::StrCat(kAlice, " alice"), absl::StrCat(kBob, " bob")};
    o.worker_flags = std::move(worker_flags);
    auto cluster = WorkerCluster::Start(o);
    ASSERT_OK(cluster);
    cluster_ = *std::move(cluster);
  }

  CommandResult As(const std::string& token, std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", cluster_->worker_address(),
                               "--token", token, "--connect-timeout", "5"});
    return RunCommand(FNPROBE_CLI_BINARY, args,
                      {{"HOME", dir_}, {"PATH", "/usr/bin:/bin"}}, dir_);
  }
  CommandResult Alice(std::vector<std::string> args) {
    return As(kAlice, std::move(args));
  }

  // Submits kSpecJson as alice, waits for the end; returns its id (0 when
  // the submit failed) and leaves the result in *result.
  int64_t SubmitAndWatch(CommandResult* result,
                         const std::string& spec_json = kSpecJson) {
    const std::string spec = dir_ + "/spec.json";
    std::ofstream(spec) << spec_json;
    *result = Alice({"submit", spec, "--watch"});
    std::smatch m;
    if (std::regex_search(result->out, m,
                          std::regex("submitted experiment ([0-9]+) "))) {
      return std::stoll(m[1]);
    }
    return 0;
  }

  nlohmann::json UsageJson(const std::string& token) {
    CommandResult r = As(token, {"usage", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  std::string activations() const {
    return cluster_->data_dir() + "/activations";
  }

  static std::string* model_root_;
  std::string dir_ = MakeTempDir("storage_e2e");
  std::unique_ptr<WorkerCluster> cluster_;
};

std::string* StorageE2eTest::model_root_ = nullptr;

TEST_F(StorageE2eTest, OwnerDeletesRowsAndFilesOthersGetNotFound) {
  StartCluster();
  const int64_t before = BytesUnder(activations());
  CommandResult submitted;
  const int64_t id = SubmitAndWatch(&submitted);
  ASSERT_GT(id, 0) << submitted;
  ASSERT_EQ(submitted.exit_code, 0) << submitted;
  EXPECT_THAT(submitted.out, HasSubstr("of raw activations"));
  const std::string sid = absl::StrCat(id);
  const int64_t stored = BytesUnder(activations()) - before;
  ASSERT_GT(stored, 0);

  // Usage counts what is stored, and `show`/`list` print it.
  nlohmann::json usage = UsageJson(kAlice);
  EXPECT_EQ(usage["experiments"], 1);
  EXPECT_EQ(usage["bytes"], stored);
  EXPECT_EQ(usage["quotaBytes"], 0);
  EXPECT_EQ(UsageJson(kBob)["experiments"], 0);
  CommandResult show = Alice({"show", sid});
  EXPECT_THAT(show.out, HasSubstr("stored"));

  // Bob may not delete it: exit 4, and nothing changes.
  CommandResult bob = As(kBob, {"delete", sid});
  EXPECT_EQ(bob.exit_code, 4) << bob;
  EXPECT_EQ(BytesUnder(activations()) - before, stored);
  EXPECT_EQ(Alice({"show", sid}).exit_code, 0);

  CommandResult deleted = Alice({"delete", sid});
  EXPECT_EQ(deleted.exit_code, 0) << deleted;
  EXPECT_THAT(deleted.out, HasSubstr("1 file(s) removed"));
  EXPECT_EQ(BytesUnder(activations()), before);
  EXPECT_EQ(Alice({"show", sid}).exit_code, 4);
  usage = UsageJson(kAlice);
  EXPECT_EQ(usage["experiments"], 0);
  EXPECT_EQ(usage["bytes"], 0);
}

TEST_F(StorageE2eTest, ActivationsOnlyKeepsResultsAndRefusesReanalysis) {
  StartCluster();
  CommandResult submitted;
  const int64_t id = SubmitAndWatch(&submitted);
  ASSERT_GT(id, 0) << submitted;
  const std::string sid = absl::StrCat(id);
  CommandResult networks = Alice({"networks", sid, "--json"});
  ASSERT_EQ(networks.exit_code, 0) << networks;

  CommandResult deleted = Alice({"delete", sid, "--activations-only"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted;
  EXPECT_TRUE(FilesUnder(activations()).empty());
  EXPECT_EQ(UsageJson(kAlice)["bytes"], 0);
  EXPECT_EQ(UsageJson(kAlice)["experiments"], 1);
  // Results stay readable, identical.
  CommandResult after = Alice({"networks", sid, "--json"});
  EXPECT_EQ(after.exit_code, 0) << after;
  EXPECT_EQ(after.out, networks.out);
  EXPECT_THAT(Alice({"show", sid}).out, HasSubstr("activations deleted"));
  CommandResult reanalyze = Alice({"reanalyze", sid, "--noise", "AR1"});
  EXPECT_NE(reanalyze.exit_code, 0);
  EXPECT_THAT(reanalyze.err, HasSubstr("raw activations were deleted"));
  // A second --activations-only says so; a full delete still works.
  EXPECT_NE(Alice({"delete", sid, "--activations-only"}).exit_code, 0);
  EXPECT_EQ(Alice({"delete", sid}).exit_code, 0);
  EXPECT_EQ(Alice({"show", sid}).exit_code, 4);
}

TEST_F(StorageE2eTest, QuotaRefusalNamesQuotaUsageAndEstimate) {
  StartCluster({"--user-quota-bytes", "1000"});
  CommandResult submitted;
  EXPECT_EQ(SubmitAndWatch(&submitted), 0) << submitted;
  EXPECT_NE(submitted.exit_code, 0);
  EXPECT_THAT(submitted.err, HasSubstr("quota"));
  EXPECT_THAT(submitted.err, HasSubstr("alice stores 0 bytes of a quota of "
                                       "1000"));
  EXPECT_THAT(submitted.err, HasSubstr("would add about "));
  EXPECT_EQ(UsageJson(kAlice)["quotaBytes"], 1000);
  EXPECT_EQ(UsageJson(kAlice)["experiments"], 0);
}

TEST_F(StorageE2eTest, RestartRemovesFilesNoRowRefersTo) {
  StartCluster();
  CommandResult submitted;
  const int64_t id = SubmitAndWatch(&submitted);
  ASSERT_GT(id, 0) << submitted;
  const std::vector<std::string> kept = FilesUnder(activations());
  ASSERT_EQ(kept.size(), 1u);
  // What a worker killed between a deletion's transaction and its file
  // removal leaves: files no row refers to.
  const std::string orphan_dir = activations() + "/experiment-999";
  std::filesystem::create_directories(orphan_dir);
  std::ofstream(orphan_dir + "/run-4242.fnpact") << std::string(4096, 'x');
  cluster_->KillWorker();
  ASSERT_OK(cluster_->StartWorker());
  EXPECT_EQ(FilesUnder(activations()), kept);
  EXPECT_FALSE(std::filesystem::exists(orphan_dir));
  EXPECT_EQ(Alice({"show", absl::StrCat(id)}).exit_code, 0);
}

// A real small file system: tmpfs of 1 MiB as the data dir (the test skips
// where it may not mount one).
TEST_F(StorageE2eTest, FullDataDirFailsTheExperimentAndTheWorkerStaysUp) {
  const std::string data = dir_ + "/data";
  std::filesystem::create_directories(data);
  if (::mount("tmpfs", data.c_str(), "tmpfs", 0, "size=2m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno)
                 << "); the fault-injecting file system covers this case";
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{data};
  // Leave room for the database's rows (SQLite fails a submit cleanly
  // when it cannot write them) but not for a run's activations: every
  // hook point as F32 for 96 time points.
  StartCluster({"--min-free-bytes", "0"});
  struct statvfs fs;
  ASSERT_EQ(::statvfs(data.c_str(), &fs), 0);
  const int64_t free_bytes = static_cast<int64_t>(fs.f_bavail) * fs.f_frsize;
  {
    std::ofstream ballast(data + "/ballast");
    ballast << std::string(static_cast<size_t>(free_bytes - (256 << 10)), 'b');
  }
  std::string big = kSpecJson;
  big.replace(big.find("\"tokensPerPrompt\": 4"), 20,
              "\"tokensPerPrompt\": 16");
  big.replace(big.find("\"analysis\""), 10,
              "\"capture\": {\"hooks\": [\"all\"], \"dtype\": \"F32\"}, "
              "\"analysis\"");
  CommandResult submitted;
  const int64_t id = SubmitAndWatch(&submitted, big);
  ASSERT_GT(id, 0) << submitted;
  EXPECT_NE(submitted.exit_code, 0) << submitted;
  CommandResult show = Alice({"show", absl::StrCat(id)});
  EXPECT_THAT(show.out, HasSubstr("failed"));
  EXPECT_THAT(show.out, HasSubstr("data dir full"));
  EXPECT_TRUE(FilesUnder(activations()).empty());
  // The worker is up; after freeing space the next experiment completes.
  EXPECT_EQ(Alice({"delete", absl::StrCat(id)}).exit_code, 0);
  std::filesystem::remove(data + "/ballast");
  CommandResult second;
  const int64_t next = SubmitAndWatch(&second);
  ASSERT_GT(next, 0) << second;
  EXPECT_EQ(second.exit_code, 0) << second;
}

}  // namespace
}  // namespace fnprobe
