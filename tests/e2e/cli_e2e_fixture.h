// The fixture of the `fnprobe` CLI end-to-end tests (cli_e2e_test.cc:
// submit and read commands; cli_e2e_export_test.cc: exports and error
// paths): a real fnprobe-inference + fnprobe-worker pair on loopback serving
// a tiny model, started once for the suite, and one experiment submitted
// lazily by the first test that needs it and shared by the rest. The
// fixture is one class in a named namespace, so the two files' tests are
// one suite with one cluster.
#ifndef FNPROBE_TESTS_E2E_CLI_E2E_FIXTURE_H_
#define FNPROBE_TESTS_E2E_CLI_E2E_FIXTURE_H_

#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/inference/tools/model_maker.h"
#include "tests/e2e/cli_e2e_cluster.h"
#include "tests/support/command_runner.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::cli_e2e_testing {

using ::fnprobe::testing::CliE2eCluster;
using ::fnprobe::testing::CommandResult;
using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::ReadAll;
using ::fnprobe::testing::RunCommand;
using ::fnprobe::testing::UnusedLoopbackPort;
using ::testing::HasSubstr;
using ::testing::Not;

inline constexpr const char* kAlice = ::fnprobe::testing::kAliceToken;
inline constexpr const char* kBob = ::fnprobe::testing::kBobToken;
inline constexpr char kModel[] = "tiny";  // the model directory's basename

// 2 conditions x 2 repeats of baseline/task/baseline, 3 prompts per block of
// 6 tokens: 4 runs of 54 time points, 216 tokens.
inline constexpr int kConditions = 2;
inline constexpr int kRepeats = 2;
inline constexpr int kRuns = kConditions * kRepeats;
inline constexpr int kPromptsPerBlock = 3;
inline constexpr int kTokensPerPrompt = 6;
inline constexpr int kBlockTokens = kPromptsPerBlock * kTokensPerPrompt;  // 18
inline constexpr int kTimePoints = 3 * kBlockTokens;                      // 54
inline constexpr int kTokensTotal = kRuns * kTimePoints;                  // 216

inline constexpr char kSpecJson[] = R"({
  "name": "cli-e2e",
  "model": "tiny",
  "generation": {"tokensPerPrompt": 6, "temperature": 0.8, "seed": 11},
  "baseline": {"name": "rest", "prompts": [
    "Tell me about sailing.", "Describe a harbor.", "How do you tack a boat?",
    "What knots should sailors know?", "What is a spinnaker?",
    "How do sailors use a compass?", "What is a keel for?",
    "How do you reef a sail?", "What is a mooring?",
    "How do tides affect sailing?", "What is a jib?",
    "How do you dock a sailboat?"]},
  "conditions": [
    {"name": "cooking", "prompts": [
      "How do you make pasta?", "What is a good soup?", "How do I bake bread?",
      "How do you fry an egg?", "What spices go with rice?",
      "How do I roast potatoes?"]},
    {"name": "garden", "prompts": [
      "How do I plant tulips?", "When should I water tomatoes?",
      "How do you prune roses?", "What is compost?",
      "How do I keep slugs away?", "Which herbs grow indoors?"]}
  ],
  "design": {"pattern": ["baseline", "task", "baseline"],
             "promptsPerBlock": 3, "repeats": 2},
  "analysis": {"classify": true, "inference": "TOKEN"}
})";
// TOKEN: on a random model prompt-level networks are (rightly) empty, and
// these tests are about showing networks; the CLI labels them descriptive.

// kSpecJson with an empty second condition name and zero repeats.
inline constexpr char kInvalidSpecJson[] = R"({
  "name": "cli-e2e-invalid",
  "model": "tiny",
  "generation": {"tokensPerPrompt": 6, "temperature": 0.8, "seed": 11},
  "baseline": {"name": "rest", "prompts": [
    "Tell me about sailing.", "Describe a harbor.", "How do you tack a boat?",
    "What knots should sailors know?", "What is a spinnaker?",
    "How do sailors use a compass?"]},
  "conditions": [
    {"name": "cooking", "prompts": ["How do you make pasta?"]},
    {"name": "", "prompts": ["How do I plant tulips?"]}
  ],
  "design": {"pattern": ["baseline", "task", "baseline"],
             "promptsPerBlock": 3, "repeats": 0},
  "analysis": {"classify": true}
})";

inline const std::vector<std::string>& ConditionNames() {
  static const auto* names = new std::vector<std::string>{"cooking", "garden"};
  return *names;
}

// Like ::testing::ContainsRegex, with std::regex (ECMAScript): gtest's POSIX
// regcomp() resolves to libonig's in binaries that link libtorch, which then
// matches nothing.
MATCHER_P(HasRegex, pattern,
          absl::StrCat("contains regular expression \"", pattern, "\"")) {
  return std::regex_search(std::string(arg), std::regex(std::string(pattern)));
}

using CliResult = CommandResult;

inline std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// Runs `fnprobe args...` with exactly `env` as its environment.
inline CliResult RunCli(const std::vector<std::string>& args,
                        const std::map<std::string, std::string>& env,
                        const std::string& dir) {
  return RunCommand(FNPROBE_CLI_BINARY, args, env, dir);
}

inline int UnusedPort() { return UnusedLoopbackPort(); }

// Runs a shell command, returning its exit status and output.
inline std::pair<int, std::string> Shell(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buffer[4096];
  std::string output;
  while (fgets(buffer, sizeof(buffer), pipe)) output += buffer;
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// The units of a network (from `networks --json`) as a set.
inline std::set<int64_t> UnitSet(const nlohmann::json& network) {
  std::set<int64_t> units;
  for (const auto& u : network["units"]) {
    units.insert(std::stoll(u["unit"].get<std::string>()));
  }
  return units;
}

class CliE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MakeModelOptions make;
    make.shape = "tiny";
    auto e2e = CliE2eCluster::Start("cli_e2e", kModel, make);
    ASSERT_OK(e2e);
    e2e_ = e2e->release();
  }

  static void TearDownTestSuite() {
    delete e2e_;
    e2e_ = nullptr;
    delete submitted_;
    submitted_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(e2e_, nullptr) << "the cluster did not start";
  }

  // fnprobe with only `args`, HOME without a config file.
  CliResult Bare(const std::vector<std::string>& args) {
    return RunCli(args, {{"HOME", home_.path()}, {"PATH", "/usr/bin:/bin"}},
                  io_.path());
  }

  // fnprobe --server WORKER --token TOKEN args...
  CliResult As(const std::string& token, std::vector<std::string> args) {
    return e2e_->RunAs(token, std::move(args),
                       {{"HOME", home_.path()}, {"PATH", "/usr/bin:/bin"}},
                       io_.path());
  }
  CliResult Alice(std::vector<std::string> args) {
    return As(kAlice, std::move(args));
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = files_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  struct Submitted {
    CliResult result;
    int64_t id = 0;
  };

  // Submits kSpecJson with --watch once, for every test of the suite.
  const Submitted& Submit() {
    if (submitted_ == nullptr) {
      submitted_ = new Submitted;
      const std::string spec = MakeTempDir("cli_e2e_spec") + "/spec.json";
      std::ofstream(spec) << kSpecJson;
      submitted_->result = Alice({"submit", spec, "--watch"});
      std::smatch m;
      if (std::regex_search(submitted_->result.out, m,
                            std::regex("submitted experiment ([0-9]+) "))) {
        submitted_->id = std::stoll(m[1]);
      }
    }
    return *submitted_;
  }

  // The id of the finished experiment; fails the test without one.
  std::string Id() {
    const Submitted& s = Submit();
    EXPECT_EQ(s.result.exit_code, 0) << s.result;
    EXPECT_GT(s.id, 0) << s.result;
    return absl::StrCat(s.id);
  }

  // `show ID --json`, parsed.
  nlohmann::json ShowJson(const std::string& id) {
    CliResult r = Alice({"show", id, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  static int64_t LayoutWidth(const nlohmann::json& experiment) {
    return std::stoll(experiment["layout"]["width"].get<std::string>());
  }

  inline static CliE2eCluster* e2e_ = nullptr;
  inline static Submitted* submitted_ = nullptr;
  ::fnprobe::testing::ScopedTempDir home_{"fnprobe_cli_e2e_home_"};
  ::fnprobe::testing::ScopedTempDir io_{"fnprobe_cli_e2e_io_"};
  ::fnprobe::testing::ScopedTempDir files_{"fnprobe_cli_e2e_files_"};
};

}  // namespace fnprobe::cli_e2e_testing

#endif  // FNPROBE_TESTS_E2E_CLI_E2E_FIXTURE_H_
