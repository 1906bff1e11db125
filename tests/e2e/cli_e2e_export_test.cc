// End-to-end tests of the real `fnprobe` CLI binary (cli_e2e_fixture.h):
// exports read back (numpy reads the .npy files) and the error paths with
// their documented exit codes.
#include "tests/e2e/cli_e2e_fixture.h"

namespace fnprobe::cli_e2e_testing {
namespace {

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
}  // namespace fnprobe::cli_e2e_testing
