// Drives the real `fnprobe` binary (as a subprocess, with its own
// environment and HOME) against FakeExperimentService on loopback, and checks
// what it prints, writes and exits with: tables, JSON that parses back,
// export files (CSV, JSON, .npy read by numpy, events.tsv), and every error
// path with its exit code.
#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/fake_experiment_service.h"
#include "tests/support/command_runner.h"
#include "tests/support/reference_data.h"

namespace fnprobe::testing {
namespace {

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

using CliResult = CommandResult;

// Runs `fnprobe args...` with exactly `env` as its environment.
CliResult RunBinary(const std::vector<std::string>& args,
                    const std::map<std::string, std::string>& env,
                    const std::string& dir) {
  return RunCommand(FNPROBE_BINARY, args, env, dir);
}

int UnusedPort() { return UnusedLoopbackPort(); }

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { worker_ = new FakeWorker(); }
  static void TearDownTestSuite() {
    delete worker_;
    worker_ = nullptr;
  }

  FakeExperimentService& fake() { return worker_->service(); }

  std::map<std::string, std::string> BaseEnv() const {
    return {{"HOME", home_.path()}, {"PATH", "/usr/bin:/bin"}};
  }

  // fnprobe with the fake's address and token, and a HOME without config.
  CliResult Fnprobe(std::vector<std::string> args,
                    std::map<std::string, std::string> extra_env = {}) {
    args.insert(args.begin(),
                {"--server", worker_->address(), "--token",
                 FakeExperimentService::kToken, "--connect-timeout", "5"});
    return Bare(args, extra_env);
  }

  // fnprobe with only `args` and the base environment plus `extra_env`.
  CliResult Bare(const std::vector<std::string>& args,
                 std::map<std::string, std::string> extra_env = {}) {
    std::map<std::string, std::string> env = BaseEnv();
    env.insert(extra_env.begin(), extra_env.end());
    return RunBinary(args, env, io_.path());
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = files_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  static FakeWorker* worker_;
  ScopedTempDir home_{"fnprobe_cli_home_"};
  ScopedTempDir io_{"fnprobe_cli_io_"};
  ScopedTempDir files_{"fnprobe_cli_files_"};
};

FakeWorker* CliTest::worker_ = nullptr;

constexpr char kSpecJson[] = R"({
  "name": "topics",
  "model": "tiny-opt",
  "generation": {"tokensPerPrompt": 8, "temperature": 0, "seed": 7},
  "capture": {"hooks": ["neurons"], "dtype": "F16"},
  "baseline": {"name": "rest", "prompts": ["Tell me about sailing.", "Describe a harbor."]},
  "conditions": [
    {"name": "pathology", "prompts": ["Describe a biopsy.", "What is necrosis?"]}
  ],
  "design": {"pattern": ["baseline", "task", "baseline"], "promptsPerBlock": 1, "repeats": 2},
  "analysis": {"noise": "AR1", "threshold": {"method": "FDR", "alpha": 0.05}, "classify": true}
})";

constexpr char kSpecYaml[] = R"(# the same spec as kSpecJson
name: topics
model: tiny-opt
generation: {tokensPerPrompt: 8, temperature: 0, seed: 7}
capture:
  hooks: [neurons]
  dtype: F16
baseline:
  name: rest
  prompts:
    - Tell me about sailing.
    - "Describe a harbor."
conditions:
  - name: pathology
    prompts: [Describe a biopsy., "What is necrosis?"]
design:
  pattern: [baseline, task, baseline]
  promptsPerBlock: 1
  repeats: 2
analysis:
  noise: AR1
  threshold: {method: FDR, alpha: 0.05}
  classify: true
)";

// --- help and usage ---

// Every subcommand's --help exits 0 and names each of its options.
TEST_F(CliTest, HelpOnEveryCommandNamesEveryOption) {
  const std::map<std::string, std::vector<std::string>> commands = {
      {"submit", {"SPEC", "--watch", "--json"}},
      {"watch", {"ID", "--json"}},
      {"list", {"--limit", "--json"}},
      {"show", {"ID", "--json"}},
      {"cancel", {"ID", "--json"}},
      {"reanalyze",
       {"ID", "--noise", "--threshold", "--alpha", "--permutations", "--watch",
        "--json"}},
      {"models", {"--json"}},
      {"networks",
       {"ID", "--condition", "--hook", "--top", "--kind", "--json"}},
      {"compare", {"ID", "--kind", "--metric", "--json"}},
      {"repeatability", {"ID", "--json"}},
      {"classify", {"ID", "--json"}},
      {"events", {"ID", "RUN", "--json"}},
      {"unit", {"ID", "UNIT", "--json"}},
      {"report", {"ID", "--json", "--html", "--open"}},
      {"export", {"ID", "--format", "--out", "--runs", "--plots"}},
      {"demo", {"--work-dir", "--spec", "--bin-dir", "--keep"}},
  };
  for (const auto& [command, options] : commands) {
    CliResult r = Bare({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command << ": " << r.err;
    for (const std::string& option : options) {
      EXPECT_THAT(r.out, HasSubstr(option)) << command;
    }
    EXPECT_THAT(r.out, HasSubstr("Global options")) << command;
  }
}

// The top-level help lists every command, the global options, the
// precedence of connection settings and the exit codes.
TEST_F(CliTest, TopLevelHelpDocumentsPrecedenceAndExitCodes) {
  CliResult r = Bare({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* text : {"submit",         "watch",
                           "list",           "show",
                           "networks",       "compare",
                           "repeatability",  "classify",
                           "events",         "unit",
                           "export",         "models",
                           "reanalyze",      "report",
                           "demo",           "--server",
                           "--token",        "--token-file",
                           "--ca-cert",      "--config",
                           "--timeout",      "--connect-timeout",
                           "FNPROBE_SERVER", "FNPROBE_TOKEN",
                           "FNPROBE_CONFIG", "~/.config/fnprobe/config.json",
                           "127.0.0.1:7070", "Exit codes"}) {
    EXPECT_THAT(r.out, HasSubstr(text));
  }
}

// Bad flags are usage errors (2) with one line and a hint.
TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Bare({}).exit_code, 2);
  CliResult r = Bare({"show"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("fnprobe: ID is required"));
  EXPECT_THAT(r.err, HasSubstr("hint:"));
  r = Bare({"show", "abc"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("not an experiment id (a positive integer): "
                               "abc"));
  EXPECT_EQ(Bare({"export", "7", "--out", "x", "--format", "xls"}).exit_code,
            2);
  EXPECT_EQ(Bare({"--token", "a", "--token-file", "b", "list"}).exit_code, 2);
}

// A token that is not printable ASCII used to abort the CLI inside gRPC's
// validate_metadata (exit 134); it is an error naming the token's source.
TEST_F(CliTest, NonPrintableTokenIsAnErrorNotAnAbort) {
  CliResult r = Bare({"--server", worker_->address(), "--token",
                      "tok\x01"
                      "en",
                      "list"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--token: the token has a character that is "
                               "not printable ASCII (byte 0x01 at offset 3)"));
  r = Bare({"--server", worker_->address(), "--token-file",
            WriteFile("token", "caf\xc3\xa9\n"), "list"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("token file "));
}

// --- read commands ---

// `list` prints an aligned table, newest first; --limit pages.
TEST_F(CliTest, ListPrintsAlignedTable) {
  CliResult r = Fnprobe({"list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_THAT(lines[0], ContainsRegex("^id +name +model +phase +runs"));
  EXPECT_THAT(lines[1], ContainsRegex("^ 9 +exp-9 +tiny-opt +generating +2/6"));
  EXPECT_THAT(lines[3],
              ContainsRegex("^ 7 +nencka2023-small +tiny-opt +done +6/6 +288"));
  // Columns line up: "phase" starts where "generating" and "done" start.
  EXPECT_EQ(lines[0].find("phase"), lines[1].find("generating"));
  EXPECT_EQ(lines[0].find("phase"), lines[3].find("done"));

  CliResult limited = Fnprobe({"list", "--limit", "2"});
  EXPECT_EQ(Lines(limited.out).size(), 4u);  // header, 2 rows, "more" note
  EXPECT_THAT(limited.out, HasSubstr("--limit 0"));
}

// `--json` prints the response proto, which parses back.
TEST_F(CliTest, JsonOutputParsesBackToTheResponse) {
  CliResult r = Fnprobe({"list", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::ListExperimentsResponse list;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &list).ok())
      << r.out;
  ASSERT_EQ(list.experiments_size(), 3);
  EXPECT_EQ(list.experiments(2).id(), 7);

  r = Fnprobe({"show", "7", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::Experiment e;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &e).ok());
  EXPECT_EQ(e.runs_size(), 6);
  EXPECT_EQ(e.layout().width(), 96);
  // Default values are printed too.
  EXPECT_THAT(r.out, HasSubstr("\"overflowCount\": \"0\""));

  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"compare", "7", "--json"},
           {"repeatability", "7", "--json"},
           {"classify", "7", "--json"},
           {"events", "7", "2", "--json"},
           {"unit", "7", "blocks.0.mlp_post[3]", "--json"},
           {"models", "--json"},
           {"report", "7", "--json"},
           {"networks", "7", "--json"}}) {
    r = Fnprobe(args);
    ASSERT_EQ(r.exit_code, 0) << args[0] << ": " << r.err;
    EXPECT_FALSE(nlohmann::json::parse(r.out, nullptr, false).is_discarded())
        << args[0] << ": " << r.out;
  }
}

// `show` prints the experiment's settings and a row per run.
TEST_F(CliTest, ShowPrintsExperimentAndRuns) {
  CliResult r = Fnprobe({"show", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("experiment 7  nencka2023-small"));
  EXPECT_THAT(r.out, ContainsRegex("phase +done"));
  EXPECT_THAT(r.out, HasSubstr("runs 6/6, tokens 288/288"));
  EXPECT_THAT(r.out, HasSubstr("medical_imaging, pathology, paleontology vs "
                               "rest; 2 repeats of baseline/task/baseline"));
  EXPECT_THAT(r.out, HasSubstr("noise OLS, threshold FDR alpha 0.05"));
  EXPECT_THAT(r.out, HasSubstr("4 hook points, 96 units"));
  EXPECT_THAT(r.out, ContainsRegex("\n +5 +paleontology +1 +done +48/48"));
}

// `networks` lists each network and its strongest units, by |t|, and
// filters by condition and hook.
TEST_F(CliTest, NetworksListsTopUnitsByAbsT) {
  CliResult r = Fnprobe({"networks", "7", "--top", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("11 +condition +medical_imaging +"
                                   "medical_imaging > rest"));
  EXPECT_THAT(r.out, HasSubstr("fdr alpha 0.05, |t| > 3.9"));
  const std::vector<v1::NetworkUnit> units = fake().NetworkUnits(1);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat(
                         "network 12 (pathology, pathology > rest): top 3 of ",
                         units.size(), " units by |t|")));
  EXPECT_THAT(r.out, HasSubstr(units[0].name()));
  EXPECT_THAT(r.out, HasSubstr(units[2].name()));
  EXPECT_THAT(r.out, Not(HasSubstr(units[3].name() + " ")));

  r = Fnprobe({"networks", "7", "--condition", "pathology", "--hook",
               "blocks.*.mlp_post", "--top", "100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr("medical_imaging")));
  EXPECT_THAT(r.out, Not(HasSubstr("embed[")));
  EXPECT_THAT(r.out, Not(HasSubstr("final_norm[")));
  // More units than one page of the fake: the CLI follows page tokens.
  int in_mlp = 0;
  for (const auto& u : units) {
    in_mlp += u.name().find("mlp_post") != std::string::npos;
  }
  ASSERT_GT(in_mlp, FakeExperimentService::kMaxPageSize);
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("top ", in_mlp, " of ", in_mlp,
                                            " units in blocks.*.mlp_post by "
                                            "|t|")));
}

// `networks --json` is an array with each network and its top units.
TEST_F(CliTest, NetworksJsonIsAnArrayOfNetworks) {
  CliResult r = Fnprobe({"networks", "7", "--top", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json json = nlohmann::json::parse(r.out);
  ASSERT_EQ(json.size(), 3u);
  EXPECT_EQ(json[1]["network"]["condition"], "pathology");
  EXPECT_EQ(json[1]["units"].size(), 2u);
  EXPECT_EQ(json[1]["units"][0]["name"], fake().NetworkUnits(1)[0].name());
}

// `compare` prints the Dice matrix with 1 on the diagonal and names the
// most overlapping pair; --metric jaccard switches the matrix.
TEST_F(CliTest, ComparePrintsOverlapMatrix) {
  CliResult r = Fnprobe({"compare", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  EXPECT_THAT(lines[0], ContainsRegex("^Dice +units +medical_imaging +"
                                      "pathology +paleontology$"));
  EXPECT_THAT(lines[1], ContainsRegex("^medical_imaging +[0-9]+ +1.00 +0\\."));
  EXPECT_THAT(lines[2], ContainsRegex("^pathology +[0-9]+ +0\\.[0-9]+ +1.00"));
  EXPECT_THAT(r.out, HasSubstr("most overlap: medical_imaging / pathology"));
  r = Fnprobe({"compare", "7", "--metric", "jaccard"});
  EXPECT_THAT(r.out, ContainsRegex("^Jaccard"));
}

// `repeatability` prints each condition's Dice between repeats.
TEST_F(CliTest, RepeatabilityPrintsDicePerCondition) {
  CliResult r = Fnprobe({"repeatability", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("medical_imaging +1 +0.81 +0.81 +0.81"));
  EXPECT_THAT(r.out, ContainsRegex("pathology +1 +0.74"));
  EXPECT_THAT(r.out, HasSubstr("all pairs: 0.82"));
}

// `classify` prints accuracy, chance and the confusion matrix.
TEST_F(CliTest, ClassifyPrintsAccuracyAndConfusion) {
  CliResult r = Fnprobe({"classify", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("accuracy \\(mean t\\) +83.3%  \\(5/6"));
  EXPECT_THAT(r.out, ContainsRegex("accuracy \\(correlation\\) +100.0%"));
  EXPECT_THAT(r.out, ContainsRegex("chance +33.3%"));
  EXPECT_THAT(r.out, ContainsRegex("true \\\\ predicted +medical_imaging +"
                                   "pathology +paleontology"));
  EXPECT_THAT(r.out, ContainsRegex("\npathology +0 +1 +1\n"));
  // Run id 103 is shown by its index in the experiment, 2.
  EXPECT_THAT(r.out, ContainsRegex("\n +2 +0 +pathology +pathology +"));
  EXPECT_THAT(r.out, Not(HasSubstr("103")));
}

// `events` prints the run's BIDS events and its prompts.
TEST_F(CliTest, EventsPrintsBidsRows) {
  CliResult r = Fnprobe({"events", "7", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("run 2 (pathology, repeat 0): done, 48 time "
                               "points"));
  EXPECT_THAT(r.out, ContainsRegex("onset +duration +trial_type"));
  EXPECT_THAT(r.out, ContainsRegex("\n +16 +16 +pathology\n"));
  EXPECT_THAT(r.out, HasSubstr("1. Tell me about rest topic 0."));
  EXPECT_EQ(Fnprobe({"events", "7", "9"}).exit_code, 3);  // OUT_OF_RANGE
}

// `unit` lists the networks that hold a unit, by name or index.
TEST_F(CliTest, UnitListsNetworksHoldingIt) {
  // Which networks hold it, as the fake decides.
  const std::string name = "blocks.0.mlp_post[3]";
  const int64_t unit = *fake().layout().ParseUnit(name);
  int expected = 0;
  for (int c = 0; c < 3; ++c) {
    for (const auto& u : fake().NetworkUnits(c)) expected += u.unit() == unit;
  }
  CliResult r = Fnprobe({"unit", "7", name});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat(name, " (unit ", unit, ") is in ",
                                            expected, " network")));
  CliResult by_index = Fnprobe({"unit", "7", absl::StrCat(unit)});
  EXPECT_EQ(by_index.out, r.out);
}

// `models` lists reachable and unreachable inference servers.
TEST_F(CliTest, ModelsPrintsServers) {
  CliResult r = Fnprobe({"models"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, ContainsRegex("127.0.0.1:7071 +yes +tiny-opt +opt +2 +64 "
                                   "+1,024 +cpu +f32"));
  EXPECT_THAT(r.out, ContainsRegex("10.0.0.2:7071 +no .*failed to connect"));
}

// `report` prints sizes by layer, overlap, repeatability and accuracy.
TEST_F(CliTest, ReportPrintsEverySection) {
  CliResult r = Fnprobe({"report", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("experiment 7 \"nencka2023-small\" on "
                               "tiny-opt: 3 conditions x 2 repeats = 6 runs"));
  EXPECT_THAT(r.out, HasSubstr("network sizes by layer"));
  EXPECT_THAT(r.out, ContainsRegex("network +units +share +embed +L0 +L1 +"
                                   "final_norm"));
  EXPECT_THAT(r.out, HasSubstr("overlap between condition networks (Dice)"));
  EXPECT_THAT(r.out, HasSubstr("repeatability"));
  EXPECT_THAT(r.out, ContainsRegex("accuracy \\(mean t\\) +83.3%"));
  EXPECT_THAT(r.out, HasSubstr("confusion (rows: true"));
}

// --- submit and watch ---

// A JSON spec reaches the worker field for field.
TEST_F(CliTest, SubmitJsonSpec) {
  const std::string path = WriteFile("spec.json", kSpecJson);
  CliResult r = Fnprobe({"submit", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("submitted experiment 10 (topics, from " + path +
                               "): 6 runs, 288 tokens on tiny-opt"));
  ASSERT_TRUE(fake().last_spec().has_value());
  EXPECT_EQ(fake().last_spec()->analysis().noise(), v1::NoiseModel::AR1);
  EXPECT_EQ(fake().last_spec()->conditions(0).prompts(1), "What is necrosis?");
}

// A YAML spec becomes the same ExperimentSpec as its JSON twin.
TEST_F(CliTest, SubmitYamlSpecEqualsJson) {
  ASSERT_EQ(Fnprobe({"submit", WriteFile("spec.json", kSpecJson)}).exit_code,
            0);
  const std::string from_json = fake().last_spec()->SerializeAsString();
  CliResult r = Fnprobe({"submit", WriteFile("spec.yaml", kSpecYaml)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(fake().last_spec()->SerializeAsString(), from_json)
      << fake().last_spec()->DebugString();
}

// An unknown field is refused locally, naming it; nothing is sent.
TEST_F(CliTest, SubmitUnknownFieldNamesIt) {
  const int before = fake().submit_count();
  const std::string path =
      WriteFile("typo.json", R"({"name": "x", "condtions": []})");
  CliResult r = Fnprobe({"submit", path});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr(path));
  EXPECT_THAT(r.err, HasSubstr("condtions"));
  EXPECT_EQ(fake().submit_count(), before);

  r = Fnprobe({"submit", WriteFile("bad.yaml", "name: [unclosed\n")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("bad.yaml: line"));
  r = Fnprobe({"submit", files_.path() + "/missing.json"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("missing.json"));
}

// A "billion laughs" YAML spec is refused locally, at once.
TEST_F(CliTest, SubmitYamlWithAliasesIsRefusedAtOnce) {
  const int before = fake().submit_count();
  std::string yaml = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (char level = 'b'; level <= 'j'; ++level) {
    const char prev = level - 1;
    yaml += std::string(1, level) + ": &" + level + " [";
    for (int i = 0; i < 9; ++i) yaml += std::string(i ? ", *" : "*") + prev;
    yaml += "]\n";
  }
  const absl::Time start = absl::Now();
  CliResult r = Fnprobe({"submit", WriteFile("laughs.yaml", yaml)});
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_THAT(r.err, HasSubstr("laughs.yaml: line 1"));
  EXPECT_THAT(r.err, HasSubstr("anchors and aliases"));
  EXPECT_LT(took, absl::Seconds(1));
  EXPECT_EQ(fake().submit_count(), before);
}

// The worker's INVALID_ARGUMENT lists every field, each on its own
// indented line, and exits 3.
TEST_F(CliTest, SubmitInvalidSpecListsEveryField) {
  const std::string path = WriteFile(
      "invalid.json", R"({"name": "x", "conditions": [{"name": ""}]})");
  CliResult r = Fnprobe({"submit", path});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("fnprobe: fnprobe-worker refused the request "
                               "(2 problems):\n"
                               "    conditions[0].name: must not be empty\n"
                               "    design.repeats: must be >= 1\n"
                               "hint: fix each field listed above"));
  EXPECT_EQ(r.out, "");
}

// submit --watch follows the new experiment to the end.
TEST_F(CliTest, SubmitWatchFollowsToDone) {
  CliResult r =
      Fnprobe({"submit", WriteFile("spec.json", kSpecJson), "--watch"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("submitted experiment 10"));
  EXPECT_THAT(r.out, HasSubstr("done  runs 6/6  tokens 288/288"));
}

// Without a terminal, watch prints plain lines with runs, tokens, rate and
// ETA (no carriage returns), and exits 0 when done.
TEST_F(CliTest, WatchPrintsPlainLinesUntilDone) {
  CliResult r = Fnprobe({"watch", "7"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
  EXPECT_THAT(r.out, HasSubstr("queued  runs 0/6  tokens 0/288"));
  EXPECT_THAT(r.out, HasSubstr("generating  runs 3/6  tokens 144/288  96 "
                               "tok/s  ETA 2s"));
  EXPECT_THAT(r.out, HasSubstr("analyzing  runs 6/6"));
  EXPECT_THAT(Lines(r.out).back(), HasSubstr("done  runs 6/6"));
}

// A failed experiment: exit 1, with its error.
TEST_F(CliTest, WatchFailedExitsOneWithTheError) {
  CliResult r = Fnprobe({"watch", "8"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("fnprobe: experiment 8 failed: run 3: "
                               "inference server 127.0.0.1:9 unreachable"));
  EXPECT_THAT(r.err, HasSubstr("hint:"));
}

// A cancelled experiment: exit 8.
TEST_F(CliTest, WatchCancelledExitsEight) {
  CliResult r = Fnprobe({"watch", "9"});
  EXPECT_EQ(r.exit_code, 8);
  EXPECT_THAT(r.err, HasSubstr("experiment 9 was cancelled"));
}

// watch --json prints one JSON object per progress message.
TEST_F(CliTest, WatchJsonPrintsOneObjectPerLine) {
  CliResult r = Fnprobe({"watch", "7", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 9u);
  for (const std::string& line : lines) {
    v1::ExperimentProgress p;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(line, &p).ok())
        << line;
  }
  EXPECT_THAT(lines.back(), HasSubstr("\"phase\":\"PHASE_DONE\""));
}

// --- reanalyze and cancel ---

// reanalyze sends the experiment's analysis with only the given changes.
TEST_F(CliTest, ReanalyzeSendsTheChangedAnalysis) {
  CliResult r = Fnprobe({"reanalyze", "7", "--noise", "ar1", "--threshold",
                         "bonferroni", "--alpha", "0.01"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto request = fake().last_reanalyze();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->experiment_id(), 7);
  const v1::AnalysisSpec& a = request->analysis();
  EXPECT_EQ(a.noise(), v1::NoiseModel::AR1);
  EXPECT_EQ(a.threshold().method(), v1::ThresholdSpec::BONFERRONI);
  EXPECT_DOUBLE_EQ(a.threshold().alpha(), 0.01);
  EXPECT_EQ(a.threshold().permutations(), 1000);  // kept
  EXPECT_TRUE(a.classify());                      // kept
  EXPECT_EQ(a.drift(), v1::DriftModel::COSINE);   // kept
  EXPECT_THAT(r.out, HasSubstr("noise AR1, threshold BONFERRONI alpha 0.01"));
}

// Commands that need a finished experiment exit 7 on an unfinished one.
TEST_F(CliTest, UnfinishedExperimentIsFailedPrecondition) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"reanalyze", "8", "--noise", "OLS"},
           {"report", "8"},
           {"compare", "8"},
           {"export", "8", "--out", files_.path() + "/x"},
           {"cancel", "7"}}) {
    CliResult r = Fnprobe(args);
    EXPECT_EQ(r.exit_code, 7) << args[0] << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr("fnprobe: experiment ")) << args[0];
  }
  CliResult cancel = Fnprobe({"cancel", "8"});
  EXPECT_EQ(cancel.exit_code, 0);
  EXPECT_THAT(cancel.out, HasSubstr("experiment 8 is cancelled"));
}

// --- errors ---

// An unknown experiment: exit 4, the worker's sentence and a hint.
TEST_F(CliTest, UnknownExperimentExitsFour) {
  for (const char* command : {"show", "watch", "networks", "classify"}) {
    CliResult r = Fnprobe({command, "42"});
    EXPECT_EQ(r.exit_code, 4) << command;
    EXPECT_THAT(r.err, HasSubstr("fnprobe: experiment 42 not found\n"
                                 "hint: `fnprobe list`"));
  }
}

// A bad unit name is an invalid argument: exit 3.
TEST_F(CliTest, BadUnitNameExitsThree) {
  CliResult r = Fnprobe({"unit", "7", "blocks.9.mlp_post[1]"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("blocks.9.mlp_post"));
}

// No server: exit 6, "cannot reach fnprobe-worker at HOST:PORT" and a hint.
TEST_F(CliTest, ServerDownExitsSixWithTheSentence) {
  const std::string address = absl::StrCat("127.0.0.1:", UnusedPort());
  CliResult r = Bare({"--server", address, "--connect-timeout", "0.5", "list"});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_THAT(r.err,
              HasSubstr("fnprobe: cannot reach fnprobe-worker at " + address));
  EXPECT_THAT(r.err, HasSubstr("hint: is fnprobe-worker running"));
  EXPECT_THAT(r.err, HasSubstr("--server"));
  EXPECT_EQ(r.out, "");
}

// A wrong or missing token: exit 5 and the token hint.
TEST_F(CliTest, WrongTokenExitsFive) {
  CliResult r = Bare({"--server", worker_->address(), "--token",
                      "wrong-token-0123456789", "list"});
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_THAT(r.err, HasSubstr("refused the credentials: unknown bearer "
                               "token"));
  EXPECT_THAT(r.err, HasSubstr("hint: check --token"));
  EXPECT_THAT(r.err, HasSubstr("FNPROBE_TOKEN"));
  EXPECT_EQ(Bare({"--server", worker_->address(), "list"}).exit_code, 5);
}

// --- connection settings ---

// Server and token from the environment.
TEST_F(CliTest, ServerAndTokenFromEnvironment) {
  CliResult r =
      Bare({"list"}, {{"FNPROBE_SERVER", worker_->address()},
                      {"FNPROBE_TOKEN", FakeExperimentService::kToken}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

// Flags win over the environment, which wins over the config file.
TEST_F(CliTest, FlagsBeatEnvironmentBeatConfig) {
  const std::string dead = absl::StrCat("127.0.0.1:", UnusedPort());
  // A bad server in the environment, the good one as a flag.
  CliResult r = Bare({"--server", worker_->address(), "list"},
                     {{"FNPROBE_SERVER", dead},
                      {"FNPROBE_TOKEN", FakeExperimentService::kToken}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Config names a dead server and a wrong token; the environment fixes
  // the server, the config's token is used (and refused).
  const std::string config = WriteFile(
      "config.json", absl::StrCat(R"({"server": ")", dead,
                                  R"(", "token": "wrong-token-0123456789"})"));
  r = Bare({"--config", config, "list"},
           {{"FNPROBE_SERVER", worker_->address()}});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  r = Bare({"--config", config, "--connect-timeout", "0.5", "list"},
           {{"FNPROBE_TOKEN", FakeExperimentService::kToken}});
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_THAT(r.err, HasSubstr(config));  // where the address came from
}

// The default config file (~/.config/fnprobe/config.json) supplies the
// server and a token file relative to it; FNPROBE_CONFIG names another.
TEST_F(CliTest, ConfigFileSuppliesServerAndTokenFile) {
  std::filesystem::create_directories(home_.path() + "/.config/fnprobe");
  std::ofstream(home_.path() + "/.config/fnprobe/token")
      << FakeExperimentService::kToken << "\n";
  std::ofstream(home_.path() + "/.config/fnprobe/config.json")
      << R"({"server": ")" << worker_->address()
      << R"(", "token_file": "token"})";
  EXPECT_EQ(Bare({"list"}).exit_code, 0);
  CliResult r = Bare({"list"}, {{"FNPROBE_CONFIG", files_.path() + "/none"}});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("does not exist"));
}

// A config file with an unknown key is refused, naming the key.
TEST_F(CliTest, ConfigUnknownKeyExitsThree) {
  const std::string config =
      WriteFile("config.json", R"({"sever": "127.0.0.1:1"})");
  CliResult r = Bare({"--config", config, "list"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("unknown key(s) sever"));
}

// --- export ---

// CSV export: every condition's t-map, all network units (across pages),
// each run's events.tsv and the layout.
TEST_F(CliTest, ExportCsvWritesEveryFile) {
  const std::string dir = files_.path() + "/export/csv";
  CliResult r = Fnprobe({"export", "7", "--out", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string tmap = ReadAll(dir + "/pathology.t.csv");
  std::vector<std::string> rows = Lines(tmap);
  ASSERT_EQ(rows.size(), 97u);
  EXPECT_EQ(rows[0], "unit,name,t,beta,p");
  const v1::StatMap map = fake().ConditionMap(1);
  EXPECT_THAT(rows[17], HasSubstr("16,blocks.0.mlp_post[0],"));
  std::vector<std::string> cells = absl::StrSplit(rows[17], ',');
  EXPECT_EQ(std::stod(cells[2]), map.t(16));  // exact round trip

  size_t units = 0;
  for (int c = 0; c < 3; ++c) units += fake().NetworkUnits(c).size();
  ASSERT_GT(units, 3u * FakeExperimentService::kMaxPageSize);
  rows = Lines(ReadAll(dir + "/networks.csv"));
  EXPECT_EQ(rows[0], "network,condition,unit,name,beta,t,p,q");
  EXPECT_EQ(rows.size(), units + 1);

  EXPECT_EQ(ReadAll(dir + "/run-3_events.tsv"),
            "onset\tduration\ttrial_type\n0\t16\trest\n16\t16\tpathology\n"
            "32\t16\trest\n");
  for (int i = 0; i < 6; ++i) {
    EXPECT_TRUE(
        std::filesystem::exists(absl::StrCat(dir, "/run-", i, "_events.tsv")));
  }
  nlohmann::json layout = nlohmann::json::parse(ReadAll(dir + "/layout.json"));
  EXPECT_EQ(layout["width"], "96");
  EXPECT_EQ(layout["hooks"][1]["name"], "blocks.0.mlp_post");
  EXPECT_FALSE(std::filesystem::exists(dir + "/run-0.t.csv"));
  // No temporary files are left behind.
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_THAT(entry.path().string(), Not(HasSubstr(".tmp")));
  }
}

// npy export: numpy reads each t-map back exactly. Debian's python3-numpy
// is imported by /usr/bin/python3 (not by another python3 on PATH).
TEST_F(CliTest, ExportNpyIsReadByNumpy) {
  const std::string dir = files_.path() + "/export/npy";
  CliResult r =
      Fnprobe({"export", "7", "--format", "npy", "--out", dir, "--runs"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir + "/networks.csv"));
  EXPECT_TRUE(std::filesystem::exists(dir + "/run-5.t.npy"));
  const v1::StatMap map = fake().ConditionMap(2);
  std::string expected;
  for (double t : map.t()) expected += absl::StrCat(t, ",");
  const std::string script =
      "import numpy, sys\n"
      "a = numpy.load(sys.argv[1])\n"
      "assert a.dtype == numpy.float64 and a.shape == (96,), (a.dtype, "
      "a.shape)\n"
      "exp = [float(x) for x in sys.argv[2].split(',') if x]\n"
      "assert numpy.allclose(a, exp, rtol=1e-5), (a, exp)\n"
      "print('ok', a.shape[0])\n";
  const std::string script_path = WriteFile("check.py", script);
  const std::string command =
      absl::StrCat("/usr/bin/python3 ", script_path, " ", dir,
                   "/paleontology.t.npy ", expected, " 2>&1");
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  char buffer[4096];
  std::string output;
  while (fgets(buffer, sizeof(buffer), pipe)) output += buffer;
  EXPECT_EQ(pclose(pipe), 0) << output;
  EXPECT_EQ(output, "ok 96\n");
}

// JSON export: t-maps as StatMap JSON, networks as an array of networks.
TEST_F(CliTest, ExportJsonParsesBack) {
  const std::string dir = files_.path() + "/export/json";
  CliResult r = Fnprobe({"export", "7", "--format", "json", "--out", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::StatMap map;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  ReadAll(dir + "/medical_imaging.t.json"), &map)
                  .ok());
  EXPECT_EQ(map.t_size(), 96);
  EXPECT_EQ(map.t(5), fake().ConditionMap(0).t(5));
  nlohmann::json networks =
      nlohmann::json::parse(ReadAll(dir + "/networks.json"));
  ASSERT_EQ(networks.size(), 3u);
  EXPECT_EQ(networks[0]["units"].size(), fake().NetworkUnits(0).size());
  EXPECT_THAT(r.out, HasSubstr("wrote " + dir + "/networks.json"));
}

}  // namespace
}  // namespace fnprobe::testing
