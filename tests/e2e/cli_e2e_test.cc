// End-to-end tests of the real `fnprobe` CLI binary (run as a subprocess,
// with its own HOME and environment) against a real fnprobe-inference +
// fnprobe-worker pair on loopback serving a tiny model (cli_e2e_fixture.h):
// an experiment from `submit --watch` to every read command. Exports and the
// error paths are in cli_e2e_export_test.cc, the same suite.
#include "tests/e2e/cli_e2e_fixture.h"

namespace fnprobe::cli_e2e_testing {
namespace {

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

}  // namespace
}  // namespace fnprobe::cli_e2e_testing
