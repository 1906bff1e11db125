// End-to-end tests of the real `fnprobe` CLI binary (run as a subprocess,
// with its own HOME and environment) against a real fnprobe-inference +
// fnprobe-worker pair on loopback serving a tiny model: an experiment from
// `submit --watch` to every read command, exports read back (numpy reads the
// .npy files), and the error paths with their documented exit codes.
//
// One experiment is submitted (lazily, by the first test that needs it) and
// shared by the read and export tests, which keeps the suite to a few
// seconds.
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

namespace fnprobe {
namespace {

using ::fnprobe::testing::CliE2eCluster;
using ::fnprobe::testing::CommandResult;
using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::ReadAll;
using ::fnprobe::testing::RunCommand;
using ::fnprobe::testing::UnusedLoopbackPort;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kAlice = ::fnprobe::testing::kAliceToken;
constexpr const char* kBob = ::fnprobe::testing::kBobToken;
constexpr char kModel[] = "tiny";  // the model directory's basename

// 2 conditions x 2 repeats of baseline/task/baseline, 3 prompts per block of
// 6 tokens: 4 runs of 54 time points, 216 tokens.
constexpr int kConditions = 2;
constexpr int kRepeats = 2;
constexpr int kRuns = kConditions * kRepeats;
constexpr int kPromptsPerBlock = 3;
constexpr int kTokensPerPrompt = 6;
constexpr int kBlockTokens = kPromptsPerBlock * kTokensPerPrompt;  // 18
constexpr int kTimePoints = 3 * kBlockTokens;                      // 54
constexpr int kTokensTotal = kRuns * kTimePoints;                  // 216

constexpr char kSpecJson[] = R"({
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
constexpr char kInvalidSpecJson[] = R"({
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

const std::vector<std::string>& ConditionNames() {
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

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

// Runs `fnprobe args...` with exactly `env` as its environment.
CliResult RunCli(const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env,
                 const std::string& dir) {
  return RunCommand(FNPROBE_CLI_BINARY, args, env, dir);
}

int UnusedPort() { return UnusedLoopbackPort(); }

// Runs a shell command, returning its exit status and output.
std::pair<int, std::string> Shell(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  char buffer[4096];
  std::string output;
  while (fgets(buffer, sizeof(buffer), pipe)) output += buffer;
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

// The units of a network (from `networks --json`) as a set.
std::set<int64_t> UnitSet(const nlohmann::json& network) {
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

  static CliE2eCluster* e2e_;
  static Submitted* submitted_;
  ::fnprobe::testing::ScopedTempDir home_{"fnprobe_cli_e2e_home_"};
  ::fnprobe::testing::ScopedTempDir io_{"fnprobe_cli_e2e_io_"};
  ::fnprobe::testing::ScopedTempDir files_{"fnprobe_cli_e2e_files_"};
};

CliE2eCluster* CliE2eTest::e2e_ = nullptr;
CliE2eTest::Submitted* CliE2eTest::submitted_ = nullptr;

// --- submit --watch ---

TEST_F(CliE2eTest, SubmitWatchFollowsTheExperimentToDone) {
  const Submitted& s = Submit();
  ASSERT_EQ(s.result.exit_code, 0) << s.result;
  ASSERT_GT(s.id, 0) << s.result;
  EXPECT_THAT(
      s.result.out,
      HasRegex(absl::StrCat("submitted experiment ", s.id,
                            " \\(cli-e2e, from [^)]*spec.json\\): ", kRuns,
                            " runs, ", kTokensTotal, " tokens on ", kModel)));
  // Plain progress lines (no terminal), the last one done with every run
  // and token.
  EXPECT_EQ(s.result.out.find('\r'), std::string::npos);
  const std::vector<std::string> lines = Lines(s.result.out);
  ASSERT_GE(lines.size(), 2u) << s.result;
  EXPECT_THAT(lines.back(), HasSubstr(absl::StrCat(
                                "done  runs ", kRuns, "/", kRuns, "  tokens ",
                                kTokensTotal, "/", kTokensTotal)));
  EXPECT_EQ(s.result.err, "");
}

// --- read commands ---

TEST_F(CliE2eTest, NetworksListsEachConditionNetworkWithTopUnits) {
  const std::string id = Id();
  CliResult r = Alice({"networks", id});
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_FALSE(lines.empty());
  EXPECT_THAT(lines[0], HasRegex("^network +kind +label +contrast +units "
                                 "+threshold +dof$"));
  for (const std::string& c : ConditionNames()) {
    EXPECT_THAT(r.out, HasRegex(absl::StrCat(
                           "\n +[0-9]+ +condition +", c, " +", c,
                           " > rest +[0-9]+ +fdr alpha 0.05, [|]t[|] > ")))
        << r.out;
    EXPECT_THAT(r.out, HasRegex(absl::StrCat("\nnetwork [0-9]+ \\(", c, ", ", c,
                                             " > rest\\): top [0-9]+ of "
                                             "[0-9]+ units by [|]t[|]")));
  }
  EXPECT_THAT(r.out, HasRegex("unit +name +t +beta +p +q"));
  EXPECT_THAT(r.out, HasSubstr("inference: token-level (descriptive only"));
  EXPECT_EQ(r.err, "");

  // One condition, at most 5 units, in the order of `networks --json`.
  CliResult json_r =
      Alice({"networks", id, "--condition", "garden", "--top", "5", "--json"});
  ASSERT_EQ(json_r.exit_code, 0) << json_r;
  nlohmann::json json = nlohmann::json::parse(json_r.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << json_r.out;
  ASSERT_EQ(json.size(), 1u);
  const nlohmann::json& units = json[0]["units"];
  const int64_t size =
      std::stoll(json[0]["network"]["size"].get<std::string>());
  ASSERT_GT(size, 0) << "the garden network is empty: the test proves little";
  ASSERT_EQ(units.size(), static_cast<size_t>(std::min<int64_t>(5, size)));

  r = Alice({"networks", id, "--condition", "garden", "--top", "5"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, Not(HasSubstr("cooking")));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("(garden, garden > rest): top ",
                                            units.size(), " of ", size,
                                            " units by |t|")));
  // Exactly the 5 strongest units, by |t|, largest first.
  std::vector<std::string> rows;
  bool in_units = false;
  for (const std::string& line : Lines(r.out)) {
    if (in_units) rows.push_back(line);
    if (absl::StartsWith(line, "unit ")) in_units = true;
  }
  ASSERT_EQ(rows.size(), units.size()) << r.out;
  double previous = 1e300;
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string name = units[i]["name"];
    EXPECT_THAT(
        rows[i],
        HasRegex(absl::StrCat(
            "^ *", units[i]["unit"].get<std::string>(), " +",
            std::regex_replace(name, std::regex("[\\[\\].]"), "\\$&"), " ")))
        << rows[i];
    const double t = std::abs(units[i]["t"].get<double>());
    EXPECT_LE(t, previous);
    EXPECT_GT(t, json[0]["network"]["threshold"].get<double>() - 1e-9);
    previous = t;
  }
}

TEST_F(CliE2eTest, NetworksJsonHasOneNetworkPerCondition) {
  const std::string id = Id();
  CliResult r = Alice({"networks", id, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r;
  nlohmann::json json = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << r.out;
  ASSERT_TRUE(json.is_array());
  ASSERT_EQ(json.size(), static_cast<size_t>(kConditions));
  const nlohmann::json experiment = ShowJson(id);
  for (int c = 0; c < kConditions; ++c) {
    const nlohmann::json& n = json[c]["network"];
    EXPECT_EQ(n["condition"], ConditionNames()[c]);
    EXPECT_EQ(n["kind"], "NETWORK_CONDITION");
    EXPECT_EQ(n["experimentId"], id);
    EXPECT_EQ(n["contrast"], ConditionNames()[c] + " > rest");
    EXPECT_EQ(n["thresholdMethod"], "fdr");
    const int64_t size = std::stoll(n["size"].get<std::string>());
    int64_t by_hook = 0;
    for (const auto& h : n["sizeByHook"]) {
      by_hook += std::stoll(h["count"].get<std::string>());
    }
    EXPECT_EQ(by_hook, size);
    EXPECT_EQ(n["sizeByHook"].size(), experiment["layout"]["hooks"].size());
    // Default --top 10.
    EXPECT_EQ(json[c]["units"].size(),
              static_cast<size_t>(std::min<int64_t>(10, size)));
    for (const auto& u : json[c]["units"]) {
      EXPECT_LT(std::stoll(u["unit"].get<std::string>()),
                LayoutWidth(experiment));
    }
  }
}

TEST_F(CliE2eTest, CompareShowsTwoByTwoDiceOfTheNetworks) {
  const std::string id = Id();
  // Every unit of both networks, to compute Dice here.
  CliResult all = Alice({"networks", id, "--top", "100000", "--json"});
  ASSERT_EQ(all.exit_code, 0) << all;
  nlohmann::json networks = nlohmann::json::parse(all.out, nullptr, false);
  ASSERT_EQ(networks.size(), 2u) << all.out;
  const std::set<int64_t> a = UnitSet(networks[0]);
  const std::set<int64_t> b = UnitSet(networks[1]);
  ASSERT_EQ(a.size(),
            std::stoull(networks[0]["network"]["size"].get<std::string>()));
  ASSERT_EQ(b.size(),
            std::stoull(networks[1]["network"]["size"].get<std::string>()));
  size_t shared = 0;
  for (int64_t u : a) shared += b.count(u);
  ASSERT_GT(a.size() + b.size(), 0u);
  const double dice = 2.0 * shared / (a.size() + b.size());

  CliResult r = Alice({"compare", id});
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;  // header, 2 rows, most overlap
  EXPECT_THAT(lines[0], HasRegex("^Dice +units +cooking +garden$"));
  const std::string d = absl::StrFormat("%.2f", dice);
  EXPECT_THAT(lines[1], HasRegex(absl::StrCat("^cooking +", a.size(),
                                              " +1.00 +", d, "$")));
  EXPECT_THAT(lines[2], HasRegex(absl::StrCat("^garden +", b.size(), " +", d,
                                              " +1.00$")));
  EXPECT_EQ(lines[3], absl::StrCat("most overlap: cooking / garden (Dice ", d,
                                   ", ", shared, " shared units)"));

  CliResult json_r = Alice({"compare", id, "--json"});
  ASSERT_EQ(json_r.exit_code, 0) << json_r;
  nlohmann::json json = nlohmann::json::parse(json_r.out, nullptr, false);
  ASSERT_EQ(json["dice"].size(), 4u) << json_r.out;
  EXPECT_NEAR(json["dice"][1].get<double>(), dice, 1e-12);
  EXPECT_NEAR(json["dice"][2].get<double>(), dice, 1e-12);
}

TEST_F(CliE2eTest, RepeatabilityShowsOnePairPerCondition) {
  const std::string id = Id();
  CliResult r = Alice({"repeatability", id});
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_THAT(lines[0], HasRegex("^condition +pairs +mean Dice +min +max$"));
  // Two repeats: one pair, so mean, min and max are the same number.
  for (int c = 0; c < kConditions; ++c) {
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        lines[c + 1], m,
        std::regex(absl::StrCat("^", ConditionNames()[c],
                                " +1 +([01]\\.[0-9]{2}) +([01]\\.[0-9]{2}) "
                                "+([01]\\.[0-9]{2})$"))))
        << lines[c + 1];
    EXPECT_EQ(m[1], m[2]);
    EXPECT_EQ(m[1], m[3]);
  }
  EXPECT_THAT(lines[3], HasRegex("^mean Dice between repeats, all pairs: "
                                 "[01]\\.[0-9]{2}$"));
}

TEST_F(CliE2eTest, ClassifyShowsAccuracyAndConfusionMatrix) {
  const std::string id = Id();
  CliResult r = Alice({"classify", id});
  ASSERT_EQ(r.exit_code, 0) << r;
  // The confusion matrix: each row holds that condition's 2 held-out runs.
  EXPECT_THAT(r.out, HasRegex("true \\\\ predicted +cooking +garden\n"));
  int counts[2][2];
  for (int c = 0; c < kConditions; ++c) {
    std::smatch m;
    ASSERT_TRUE(
        std::regex_search(r.out, m,
                          std::regex(absl::StrCat("\n", ConditionNames()[c],
                                                  " +([0-9]+) +([0-9]+)\n"))))
        << r.out;
    counts[c][0] = std::stoi(m[1]);
    counts[c][1] = std::stoi(m[2]);
    EXPECT_EQ(counts[c][0] + counts[c][1], kRepeats) << ConditionNames()[c];
  }
  const int correct = counts[0][0] + counts[1][1];
  EXPECT_THAT(r.out, HasSubstr(absl::StrFormat(
                         "accuracy (mean t)        %.1f%%  (%d/%d held-out "
                         "runs)",
                         100.0 * correct / kRuns, correct, kRuns)));
  EXPECT_THAT(r.out, HasRegex("accuracy \\(correlation\\) +[0-9.]+%"));
  EXPECT_THAT(r.out, HasRegex("chance +50.0%"));
  // One prediction row per run.
  EXPECT_THAT(r.out, HasRegex("run +repeat +true +predicted +by "
                              "correlation"));
  int predictions = 0;
  for (const std::string& line : Lines(r.out)) {
    predictions += std::regex_search(
        line, std::regex("^ *[0-9]+ +[01] +(cooking|garden) +(cooking|garden) "
                         "+(cooking|garden)$"));
  }
  EXPECT_EQ(predictions, kRuns) << r.out;
}

TEST_F(CliE2eTest, EventsShowBidsBlocksAtTheRightOnsets) {
  const std::string id = Id();
  const nlohmann::json experiment = ShowJson(id);
  ASSERT_EQ(experiment["runs"].size(), static_cast<size_t>(kRuns));
  const nlohmann::json& run = experiment["runs"][1];
  ASSERT_EQ(run["index"], 1);
  const std::string condition = run["condition"];
  CliResult r = Alice({"events", id, "1"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out,
              HasSubstr(absl::StrCat("run 1 (", condition, ", repeat ",
                                     run["repeat"].get<int>(), "): done, ",
                                     kTimePoints, " time points")));
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_GE(lines.size(), 5u) << r.out;
  EXPECT_THAT(lines[1], HasRegex("^onset +duration +trial_type$"));
  EXPECT_THAT(lines[2], HasRegex("^ +0 +18 +rest$"));
  EXPECT_THAT(lines[3], HasRegex(absl::StrCat("^ +18 +18 +", condition, "$")));
  EXPECT_THAT(lines[4], HasRegex("^ +36 +18 +rest$"));
  // The 9 prompts, in presentation order.
  EXPECT_THAT(r.out, HasSubstr("prompts, in presentation order"));
  EXPECT_THAT(r.out, HasRegex("\n +9\\. [^\n]+\n$"));
  EXPECT_THAT(r.out, Not(HasSubstr(" 10. ")));
}

TEST_F(CliE2eTest, UnitListsTheNetworksHoldingIt) {
  const std::string id = Id();
  CliResult networks = Alice({"networks", id, "--json", "--top", "1"});
  ASSERT_EQ(networks.exit_code, 0) << networks;
  nlohmann::json json = nlohmann::json::parse(networks.out, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << networks.out;
  const nlohmann::json* network = nullptr;
  for (const auto& n : json) {
    if (!n["units"].empty()) {
      network = &n;
      break;
    }
  }
  ASSERT_NE(network, nullptr) << "every network is empty: " << networks.out;
  const std::string name = (*network)["units"][0]["name"];
  const std::string unit = (*network)["units"][0]["unit"];
  const std::string network_id = (*network)["network"]["id"];
  const std::string condition = (*network)["network"]["condition"];
  const double t = (*network)["units"][0]["t"];

  CliResult r = Alice({"unit", id, name});
  ASSERT_EQ(r.exit_code, 0) << r;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      r.out, m,
      std::regex(absl::StrCat(
          "^", std::regex_replace(name, std::regex("[\\[\\].]"), "\\$&"),
          " \\(unit ", unit, "\\) is in ([0-9]+) networks?:\n"))))
      << r.out;
  EXPECT_GE(std::stoi(m[1]), 1);
  // Its condition network, with the same t as `networks` gave.
  EXPECT_THAT(r.out, HasRegex(absl::StrCat(
                         "\n +", network_id, " +condition +", condition, " +",
                         condition, " > rest +",
                         std::regex_replace(absl::StrFormat("%.4g", t),
                                            std::regex("[.+]"), "\\$&"),
                         " ")))
      << r.out;
  // By index, the same answer.
  CliResult by_index = Alice({"unit", id, unit});
  EXPECT_EQ(by_index.exit_code, 0) << by_index;
  EXPECT_EQ(by_index.out, r.out);
}

TEST_F(CliE2eTest, ShowPrintsTheExperimentAndItsRuns) {
  const std::string id = Id();
  CliResult r = Alice({"show", id});
  ASSERT_EQ(r.exit_code, 0) << r;
  const int64_t width = LayoutWidth(ShowJson(id));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("experiment ", id, "  cli-e2e\n")));
  EXPECT_THAT(r.out, HasRegex("model +tiny\n"));
  EXPECT_THAT(r.out, HasRegex("owner +alice\n"));
  EXPECT_THAT(r.out, HasRegex("phase +done\n"));
  EXPECT_THAT(r.out,
              HasSubstr(absl::StrCat("runs ", kRuns, "/", kRuns, ", tokens ",
                                     kTokensTotal, "/", kTokensTotal)));
  EXPECT_THAT(r.out, HasSubstr("cooking, garden vs rest; 2 repeats of "
                               "baseline/task/baseline, 3 prompts per block, "
                               "6 tokens per prompt"));
  EXPECT_THAT(r.out, HasSubstr("threshold FDR alpha 0.05, classify"));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat(width, " units")));
  for (int i = 0; i < kRuns; ++i) {
    EXPECT_THAT(
        r.out, HasRegex(absl::StrCat(
                   "\n +", i, " +", ConditionNames()[i % kConditions], " +",
                   i / kConditions, " +done +", kTimePoints, "/", kTimePoints)))
        << i;
  }
}

TEST_F(CliE2eTest, ListShowsTheExperimentToItsOwnerOnly) {
  const std::string id = Id();
  CliResult r = Alice({"list"});
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::vector<std::string> lines = Lines(r.out);
  ASSERT_GE(lines.size(), 2u) << r.out;
  EXPECT_THAT(lines[0], HasRegex("^id +name +model +phase +runs +tokens "
                                 "+stored +created$"));
  EXPECT_THAT(r.out, HasRegex(absl::StrCat("\n *", id,
                                           " +cli-e2e +tiny +done +4/4 "
                                           "+216 +[0-9.]+ [KM]iB "
                                           "+20[0-9][0-9]-")));
  CliResult bob = As(kBob, {"list"});
  ASSERT_EQ(bob.exit_code, 0) << bob;
  EXPECT_THAT(bob.out, Not(HasSubstr("cli-e2e")));
  EXPECT_THAT(bob.out, HasSubstr("no experiments yet"));
}

TEST_F(CliE2eTest, ModelsShowsTheServedModel) {
  CliResult r = Alice({"models"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasRegex("^server +reachable +model +family"));
  EXPECT_THAT(r.out, HasRegex("\n127.0.0.1:[0-9]+ +yes +tiny +opt +2 +64 "
                              "+1,024 +cpu +F32"));
}

TEST_F(CliE2eTest, ReportSummarizesEverySection) {
  const std::string id = Id();
  const int64_t width = LayoutWidth(ShowJson(id));
  CliResult networks = Alice({"networks", id, "--json", "--top", "0"});
  ASSERT_EQ(networks.exit_code, 0) << networks;
  nlohmann::json json = nlohmann::json::parse(networks.out, nullptr, false);
  ASSERT_EQ(json.size(), 2u) << networks.out;

  CliResult r = Alice({"report", id});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat(
                         "experiment ", id,
                         " \"cli-e2e\" on tiny: 2 "
                         "conditions x 2 repeats = 4 runs, 216 tokens, ",
                         width, " units")));
  EXPECT_THAT(r.out, HasSubstr("network sizes by layer"));
  EXPECT_THAT(r.out, HasRegex("network +units +share +L0 +L1\n"));
  for (const auto& n : json) {
    const std::string c = n["network"]["condition"];
    EXPECT_THAT(r.out,
                HasRegex(absl::StrCat("\n", c, " +",
                                      n["network"]["size"].get<std::string>(),
                                      " +[0-9.]+% +[0-9]+ +[0-9]+\n")));
  }
  EXPECT_THAT(r.out, HasSubstr("overlap between condition networks (Dice)"));
  EXPECT_THAT(r.out, HasSubstr("most overlap: cooking / garden"));
  EXPECT_THAT(r.out, HasSubstr("repeatability"));
  EXPECT_THAT(r.out, HasRegex("accuracy \\(mean t\\) +[0-9.]+%"));
  EXPECT_THAT(r.out, HasRegex("chance +50.0%"));
  EXPECT_THAT(r.out, HasSubstr("confusion (rows: true"));
}

// --- export ---

TEST_F(CliE2eTest, ExportCsvWritesMapsNetworksEventsAndLayout) {
  const std::string id = Id();
  const nlohmann::json experiment = ShowJson(id);
  const int64_t width = LayoutWidth(experiment);
  const std::string dir = files_.path() + "/csv";
  CliResult r = Alice({"export", id, "--format", "csv", "--out", dir});
  ASSERT_EQ(r.exit_code, 0) << r;

  // layout.json: hooks whose widths add up to the layout's width.
  nlohmann::json layout =
      nlohmann::json::parse(ReadAll(dir + "/layout.json"), nullptr, false);
  ASSERT_FALSE(layout.is_discarded());
  EXPECT_EQ(layout["width"], absl::StrCat(width));
  int64_t hook_widths = 0;
  for (const auto& h : layout["hooks"]) {
    hook_widths += std::stoll(h["width"].get<std::string>());
  }
  EXPECT_EQ(hook_widths, width);
  const std::string first_hook = layout["hooks"][0]["name"];
  const std::string last_hook = layout["hooks"].back()["name"];
  const int64_t last_width =
      std::stoll(layout["hooks"].back()["width"].get<std::string>());

  // One t-map per condition: a header and one row per unit of the layout.
  for (const std::string& c : ConditionNames()) {
    const std::string path = absl::StrCat(dir, "/", c, ".t.csv");
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    const std::vector<std::string> rows = Lines(ReadAll(path));
    ASSERT_EQ(rows.size(), static_cast<size_t>(width + 1)) << path;
    EXPECT_EQ(rows[0], "unit,name,t,beta,p");
    EXPECT_THAT(rows[1], HasSubstr(absl::StrCat("0,", first_hook, "[0],")));
    EXPECT_THAT(rows.back(),
                HasSubstr(absl::StrCat(width - 1, ",", last_hook, "[",
                                       last_width - 1, "],")));
    for (size_t i = 1; i < rows.size(); ++i) {
      std::vector<std::string> cells = absl::StrSplit(rows[i], ',');
      ASSERT_EQ(cells.size(), 5u) << rows[i];
      double t = 0;
      ASSERT_TRUE(absl::SimpleAtod(cells[2], &t)) << rows[i];
      ASSERT_TRUE(std::isfinite(t)) << rows[i];
    }
  }

  // networks.csv: every unit of both networks.
  CliResult networks = Alice({"networks", id, "--json", "--top", "0"});
  nlohmann::json json = nlohmann::json::parse(networks.out, nullptr, false);
  ASSERT_EQ(json.size(), 2u) << networks.out;
  int64_t units = 0;
  for (const auto& n : json)
    units += std::stoll(n["network"]["size"].get<std::string>());
  const std::vector<std::string> network_rows =
      Lines(ReadAll(dir + "/networks.csv"));
  ASSERT_FALSE(network_rows.empty());
  EXPECT_EQ(network_rows[0], "network,condition,unit,name,beta,t,p,q");
  EXPECT_EQ(network_rows.size(), static_cast<size_t>(units + 1));

  // events.tsv for every run, with the run's condition in its task block.
  for (const auto& run : experiment["runs"]) {
    const std::string path =
        absl::StrCat(dir, "/run-", run["index"].get<int>(), "_events.tsv");
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
    EXPECT_EQ(
        ReadAll(path),
        absl::StrCat("onset\tduration\ttrial_type\n0\t18\trest\n18\t18\t",
                     run["condition"].get<std::string>(), "\n36\t18\trest\n"))
        << path;
  }
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_THAT(entry.path().string(), Not(HasSubstr(".tmp")));
  }
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("wrote ", dir, "/layout.json")));
}

TEST_F(CliE2eTest, ExportNpyIsReadByNumpyWithTheLayoutWidth) {
  const std::string id = Id();
  const int64_t width = LayoutWidth(ShowJson(id));
  const std::string csv_dir = files_.path() + "/csv";
  const std::string npy_dir = files_.path() + "/npy";
  CliResult r = Alice({"export", id, "--format", "npy", "--out", npy_dir});
  ASSERT_EQ(r.exit_code, 0) << r;
  ASSERT_EQ(Alice({"export", id, "--out", csv_dir}).exit_code, 0);
  for (int i = 0; i < kRuns; ++i) {
    EXPECT_TRUE(std::filesystem::exists(
        absl::StrCat(npy_dir, "/run-", i, "_events.tsv")));
  }
  EXPECT_TRUE(std::filesystem::exists(npy_dir + "/networks.csv"));
  EXPECT_TRUE(std::filesystem::exists(npy_dir + "/layout.json"));
  // Each condition's t-map: float64, the layout's width, the CSV's values.
  const std::string script = WriteFile(
      "check_npy.py",
      "import csv, numpy, sys\n"
      "a = numpy.load(sys.argv[1])\n"
      "assert a.dtype == numpy.float64, a.dtype\n"
      "assert a.shape == (int(sys.argv[3]),), a.shape\n"
      "t = [float(row['t']) for row in csv.DictReader(open(sys.argv[2]))]\n"
      "assert numpy.array_equal(a, numpy.array(t)), 'values differ'\n"
      "assert numpy.isfinite(a).all()\n"
      "print('ok', a.shape[0])\n");
  for (const std::string& c : ConditionNames()) {
    const std::string npy = absl::StrCat(npy_dir, "/", c, ".t.npy");
    ASSERT_TRUE(std::filesystem::exists(npy)) << npy;
    auto [status, output] =
        Shell(absl::StrCat("/usr/bin/python3 ", script, " ", npy, " ", csv_dir,
                           "/", c, ".t.csv ", width));
    EXPECT_EQ(status, 0) << output;
    EXPECT_EQ(output, absl::StrCat("ok ", width, "\n"));
  }
}

// --- errors ---

// The worker refuses the spec with every problem listed; nothing is stored.
TEST_F(CliE2eTest, InvalidSpecExitsThreeListingBothFields) {
  CliResult before = Alice({"list", "--json"});
  ASSERT_EQ(before.exit_code, 0) << before;
  const std::string path = WriteFile("invalid.json", kInvalidSpecJson);
  CliResult r = Alice({"submit", path, "--watch"});
  EXPECT_EQ(r.exit_code, 3) << r;
  EXPECT_THAT(r.err, HasSubstr("fnprobe: invalid experiment spec ("));
  EXPECT_THAT(r.err, HasSubstr("\n    conditions[1].name: is empty\n"));
  EXPECT_THAT(r.err,
              HasSubstr("\n    design.repeats: must be in [1, 100], got 0\n"));
  EXPECT_THAT(r.err, HasSubstr("hint: fix each field listed above"));
  EXPECT_EQ(r.out, "");
  CliResult after = Alice({"list", "--json"});
  ASSERT_EQ(after.exit_code, 0) << after;
  EXPECT_EQ(after.out, before.out);
  EXPECT_THAT(after.out, Not(HasSubstr("cli-e2e-invalid")));
}

TEST_F(CliE2eTest, UnknownExperimentExitsFour) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"show", "999999"},
           {"networks", "999999"},
           {"compare", "999999"},
           {"classify", "999999"},
           {"events", "999999", "0"},
           {"report", "999999"},
           {"export", "999999", "--out", files_.path() + "/none"}}) {
    CliResult r = Alice(args);
    EXPECT_EQ(r.exit_code, 4) << args[0] << ": " << r;
    EXPECT_THAT(r.err, HasSubstr("fnprobe: experiment 999999 not found\n"
                                 "hint: `fnprobe list`"))
        << args[0];
    EXPECT_EQ(r.out, "") << args[0];
  }
  EXPECT_FALSE(std::filesystem::exists(files_.path() + "/none"));
}

TEST_F(CliE2eTest, WrongTokenExitsFive) {
  CliResult r = As("wrong-token-0123456789abcdef", {"list"});
  EXPECT_EQ(r.exit_code, 5) << r;
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("fnprobe: fnprobe-worker at ",
                                            e2e_->worker_address(),
                                            " refused the credentials: "
                                            "unknown bearer token")));
  EXPECT_THAT(r.err, HasSubstr("hint: check --token"));
  EXPECT_EQ(r.out, "");
  // No token at all is refused the same way.
  CliResult none = Bare({"--server", e2e_->worker_address(), "list"});
  EXPECT_EQ(none.exit_code, 5) << none;
  EXPECT_THAT(none.err, HasSubstr("refused the credentials"));
  // Submitting with a wrong token stores nothing.
  r = As("wrong-token-0123456789abcdef",
         {"submit", WriteFile("spec.json", kSpecJson)});
  EXPECT_EQ(r.exit_code, 5) << r;
}

TEST_F(CliE2eTest, ServerDownExitsSixWithCannotReach) {
  const std::string address = absl::StrCat("127.0.0.1:", UnusedPort());
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"list"},
           {"show", "1"},
           {"submit", WriteFile("spec.json", kSpecJson)}}) {
    std::vector<std::string> full = {
        "--server", address, "--token", kAlice, "--connect-timeout", "1"};
    full.insert(full.end(), args.begin(), args.end());
    CliResult r = Bare(full);
    EXPECT_EQ(r.exit_code, 6) << args[0] << ": " << r;
    EXPECT_THAT(r.err,
                HasSubstr("fnprobe: cannot reach fnprobe-worker at " + address))
        << args[0];
    EXPECT_THAT(r.err, HasSubstr("hint: is fnprobe-worker running"));
    EXPECT_EQ(r.out, "") << args[0];
  }
}

// Another user's experiment reads as not found, for every command.
TEST_F(CliE2eTest, AnotherUsersExperimentReadsAsNotFound) {
  const std::string id = Id();
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"show", id},
           {"watch", id},
           {"networks", id},
           {"compare", id},
           {"repeatability", id},
           {"classify", id},
           {"events", id, "1"},
           {"unit", id, "0"},
           {"report", id},
           {"export", id, "--out", files_.path() + "/bob"},
           {"cancel", id}}) {
    CliResult r = As(kBob, args);
    EXPECT_EQ(r.exit_code, 4) << args[0] << ": " << r;
    EXPECT_THAT(r.err, HasSubstr(absl::StrCat("fnprobe: experiment ", id,
                                              " not found\n")))
        << args[0];
    EXPECT_EQ(r.out, "") << args[0];
  }
  EXPECT_FALSE(std::filesystem::exists(files_.path() + "/bob"));
  // Alice still reads it.
  EXPECT_EQ(Alice({"show", id}).exit_code, 0);
}

// A run index past the last run. The real worker answers OUT_OF_RANGE
// (exit 3, "invalid argument"); tests/client's fake answers NOT_FOUND and
// client_cli_test expects exit 4 for the same command.
TEST_F(CliE2eTest, EventsOfARunPastTheLastExitsThree) {
  const std::string id = Id();
  CliResult r = Alice({"events", id, "9"});
  EXPECT_EQ(r.exit_code, 3) << r;
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat(
                         "fnprobe: run index 9 is out of range: experiment ",
                         id, " has 4 runs")));
  EXPECT_EQ(r.out, "");
}

}  // namespace
}  // namespace fnprobe
