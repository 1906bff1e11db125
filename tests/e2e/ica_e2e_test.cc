// End-to-end tests of ICA networks (issue 14; Liu et al. 2025) through the
// real `fnprobe` CLI and a real fnprobe-inference + fnprobe-worker pair on a
// planted-response model (fnprobe-make-model --planted): a text corpus is
// sent teacher-forced through Forward in groups, each group's stored
// activations are decomposed per hook point, and
//   - each condition's planted neurons (planted.json) form a component
//     network in >= 90% of the groups (IoU with the truth >= 0.8),
//   - `recurrence` finds each of them in >= 90% of the groups,
//   - random units are not key neurons,
// then `ica` decomposes again with other options, `compare --methods
// glm,ica` relates components to a block design's conditions, and the error
// paths (another user's experiment, a spec with both a corpus and a design)
// answer as documented.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/inference/tools/model_maker.h"
#include "server/inference/tools/planted_spec.h"
#include "tests/e2e/cli_e2e_cluster.h"
#include "tests/support/command_runner.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::CliE2eCluster;
using ::fnprobe::testing::CommandResult;
using ::testing::HasSubstr;

constexpr const char* kAlice = ::fnprobe::testing::kAliceToken;
constexpr const char* kBob = ::fnprobe::testing::kBobToken;
constexpr char kModel[] = "planted";
constexpr int kGroups = 10;

const char* const kPlantJson = R"({"conditions": [
  {"name": "alpha", "words": ["zorblat", "quixel", "vornak"]},
  {"name": "beta", "words": ["plimbus", "dravex", "snorfel"]},
  {"name": "gamma", "words": ["yuxtrop", "blenwick", "grumsh"]}]})";

const std::vector<std::string>& Ordinary() {
  static const auto* words = new std::vector<std::string>{
      "violin", "forest",  "feather", "market", "bridge",  "candle", "garden",
      "letter", "thunder", "valley",  "silver", "lantern", "copper", "harbor",
      "pepper", "meadow",  "stone",   "river",  "window",  "castle"};
  return *words;
}

// `count` distinct texts of 8-14 words: each word one of `words` with
// probability `share`, else an ordinary word.
std::vector<std::string> Texts(const std::vector<std::string>& words,
                               double share, int count, std::mt19937& rng) {
  std::set<std::string> texts;
  std::uniform_int_distribution<int> length(8, 14);
  std::uniform_real_distribution<double> coin(0, 1);
  while (static_cast<int>(texts.size()) < count) {
    std::vector<std::string> text = {"the"};
    const int n = length(rng);
    for (int i = 0; i < n; ++i) {
      const auto& pool =
          !words.empty() && coin(rng) < share ? words : Ordinary();
      text.push_back(
          pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)]);
    }
    texts.insert(absl::StrJoin(text, " ") + " .");
  }
  return {texts.begin(), texts.end()};
}

// A text corpus: one pool per planted condition (half its words planted)
// and one of ordinary words; 40 texts per group drawn from the pools in
// turn, 10 groups.
nlohmann::json CorpusSpec() {
  std::mt19937 rng(3);
  const nlohmann::json plant = nlohmann::json::parse(kPlantJson);
  nlohmann::json pools = nlohmann::json::array();
  for (const auto& c : plant["conditions"]) {
    pools.push_back(
        {{"name", c["name"]}, {"prompts", Texts(c["words"], 0.5, 60, rng)}});
  }
  pools.push_back({{"name", "plain"}, {"prompts", Texts({}, 0, 60, rng)}});
  return {{"name", "planted-ica"},
          {"model", kModel},
          {"generation", {{"seed", 1}}},
          {"texts",
           {{"pools", pools},
            {"textsPerGroup", 40},
            {"groups", kGroups},
            {"maxTokens", 32}}},
          {"ica", {{"components", 10}, {"fun", "LOGCOSH"}, {"z", 3.6}}}};
}

double Iou(const std::set<std::string>& a, const std::set<std::string>& b) {
  int both = 0;
  for (const std::string& u : a) both += b.count(u);
  const size_t either = a.size() + b.size() - both;
  return either == 0 ? 0.0 : static_cast<double>(both) / either;
}

class IcaE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<PlantSpec> plant = ParsePlantSpec(kPlantJson, "test");
    ASSERT_OK(plant);
    MakeModelOptions make;
    make.shape = "tiny";
    make.planted = *plant;
    auto e2e = CliE2eCluster::Start("ica_e2e", kModel, make);
    ASSERT_OK(e2e);
    e2e_ = e2e->release();
  }

  static void TearDownTestSuite() {
    delete e2e_;
    e2e_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(e2e_, nullptr); }

  // The suite's temporary root: the model, the cluster, HOME, spec files.
  static const std::string& Root() { return e2e_->root(); }

  CommandResult As(const std::string& token, std::vector<std::string> args) {
    return e2e_->RunAs(token, std::move(args),
                       {{"HOME", Root()}, {"PATH", "/usr/bin:/bin"}}, Root());
  }
  CommandResult Alice(std::vector<std::string> args) {
    return As(kAlice, std::move(args));
  }

  // Submits `spec` with --watch; its id, or "" after a failed test.
  std::string Submit(const nlohmann::json& spec, const std::string& name) {
    const std::string path = Root() + "/" + name + ".json";
    std::ofstream(path) << spec.dump();
    CommandResult r = Alice({"submit", path, "--watch"});
    EXPECT_EQ(r.exit_code, 0) << r;
    std::smatch m;
    if (!std::regex_search(r.out, m,
                           std::regex("submitted experiment ([0-9]+) "))) {
      ADD_FAILURE() << r;
      return "";
    }
    return m[1];
  }

  // The corpus experiment, submitted once for the suite.
  std::string CorpusId() {
    if (corpus_id_->empty()) *corpus_id_ = Submit(CorpusSpec(), "corpus");
    return *corpus_id_;
  }

  // Each condition's planted neurons (planted.json) as unit names.
  static std::map<std::string, std::set<std::string>> PlantedNeurons() {
    std::ifstream in(Root() + "/" + kModel + "/planted.json");
    const nlohmann::json planted = nlohmann::json::parse(in);
    std::map<std::string, std::set<std::string>> out;
    for (const auto& c : planted.at("conditions")) {
      for (const auto& n : c.at("neurons")) {
        out[c.at("name")].insert(
            absl::StrCat("blocks.0.mlp_post[", n.get<int>(), "]"));
      }
    }
    return out;
  }

  // Every unit planted.json names (any hook), for the key-neuron null.
  static std::set<std::string> AllPlantedUnits() {
    std::ifstream in(Root() + "/" + kModel + "/planted.json");
    const nlohmann::json planted = nlohmann::json::parse(in);
    std::set<std::string> out;
    for (const auto& c : planted.at("conditions")) {
      for (const auto& u : c.at("units")) out.insert(u.get<std::string>());
    }
    return out;
  }

  nlohmann::json Json(const CommandResult& r) {
    EXPECT_EQ(r.exit_code, 0) << r;
    return nlohmann::json::parse(r.out, nullptr, false);
  }

  static CliE2eCluster* e2e_;
  static std::string* corpus_id_;
};

CliE2eCluster* IcaE2eTest::e2e_ = nullptr;
std::string* IcaE2eTest::corpus_id_ = new std::string;

TEST_F(IcaE2eTest, PlantedNeuronsFormAComponentInNearlyEveryGroup) {
  const std::string id = CorpusId();
  ASSERT_FALSE(id.empty());
  const nlohmann::json list =
      Json(Alice({"ica", id, "--hook", "blocks.0.mlp_post", "--json"}));
  ASSERT_TRUE(list.contains("components")) << list.dump();
  EXPECT_EQ(list["groups"], kGroups);
  for (const auto& [condition, truth] : PlantedNeurons()) {
    // Group -> the best IoU of any of its components with the truth. The
    // listed top units are all of a component's units when it has few.
    std::map<int, double> best;
    for (const auto& c : list["components"]) {
      std::set<std::string> units;
      for (const auto& u : c["topUnits"]) units.insert(u.get<std::string>());
      const int group = c.value("group", 0);
      best[group] = std::max(best[group], Iou(units, truth));
    }
    int recovered = 0;
    for (const auto& [group, iou] : best) recovered += iou >= 0.8;
    std::cout << condition << ": recovered in " << recovered << " of "
              << kGroups << " groups\n";
    EXPECT_GE(recovered, 0.9 * kGroups) << condition;
  }
}

TEST_F(IcaE2eTest, RecurrenceFindsEachPlantedNetworkInNinetyPercent) {
  const std::string id = CorpusId();
  ASSERT_FALSE(id.empty());
  const nlohmann::json r = Json(Alice({"recurrence", id, "--json"}));
  ASSERT_TRUE(r.contains("networks")) << r.dump();
  for (const auto& [condition, truth] : PlantedNeurons()) {
    double frequency = 0, iou = 0;
    for (const auto& n : r["networks"]) {
      std::set<std::string> units;
      for (const auto& u : n["units"]) units.insert(u.get<std::string>());
      if (Iou(units, truth) >= iou) {
        iou = Iou(units, truth);
        frequency = n["frequency"].get<double>();
      }
    }
    std::cout << condition << ": recurring network IoU " << iou
              << ", frequency " << frequency << "\n";
    EXPECT_GE(iou, 0.8) << condition;
    EXPECT_GE(frequency, 0.9) << condition;
  }
}

TEST_F(IcaE2eTest, PlantedNeuronsAreKeyNeuronsAndRandomUnitsAreNot) {
  const std::string id = CorpusId();
  ASSERT_FALSE(id.empty());
  const nlohmann::json names = Json(Alice({"key-neurons", id, "--json"}));
  ASSERT_TRUE(names.is_array()) << names.dump();
  std::set<std::string> key;
  for (const auto& n : names) key.insert(n.get<std::string>());
  for (const auto& [condition, truth] : PlantedNeurons()) {
    for (const std::string& unit : truth) {
      EXPECT_TRUE(key.count(unit)) << condition << " " << unit;
    }
  }
  // The null: units of the layout that nothing was planted in are rarely
  // key neurons. A key neuron needs a recurring component whose map singles
  // it out; a few ordinary units do recur (the tiny model's high-variance
  // token-identity dims: 43 of 872 in one run, about 5%; the count moves by
  // a few between runs, which differ in the last bits of the
  // decomposition), so the rate over every ordinary unit is held to 10%,
  // against 100% of the planted ones above. (A fixed draw of 200 held to
  // 5% sat on that rate, 9.9 expected against a bound of 10, and failed in
  // some runs.)
  const nlohmann::json show = Json(Alice({"show", id, "--json"}));
  const std::set<std::string> planted = AllPlantedUnits();
  int ordinary = 0, hits = 0;
  for (const auto& hook : show["layout"]["hooks"]) {
    const int64_t width = std::stoll(hook["width"].get<std::string>());
    for (int64_t u = 0; u < width; ++u) {
      const std::string name =
          absl::StrCat(hook["name"].get<std::string>(), "[", u, "]");
      if (planted.count(name)) continue;
      ++ordinary;
      hits += key.count(name);
    }
  }
  ASSERT_GT(ordinary, 100);
  std::cout << "key neurons: " << key.size()
            << "; ordinary units that are: " << hits << " of " << ordinary
            << "\n";
  EXPECT_LE(hits, ordinary / 10);
}

TEST_F(IcaE2eTest, IcaWithOptionsDecomposesAgainOnlyTheHooksAsked) {
  const std::string id = CorpusId();
  ASSERT_FALSE(id.empty());
  const nlohmann::json list =
      Json(Alice({"ica", id, "--components", "4", "--hooks",
                  "blocks.0.mlp_post", "--fun", "cube", "--json"}));
  ASSERT_TRUE(list.contains("components")) << list.dump();
  std::map<int, int> per_group;
  for (const auto& c : list["components"]) {
    EXPECT_EQ(c["hook"], "blocks.0.mlp_post");
    ++per_group[c.value("group", 0)];
  }
  EXPECT_EQ(per_group.size(), static_cast<size_t>(kGroups));
  for (const auto& [group, count] : per_group) EXPECT_EQ(count, 4) << group;
  const nlohmann::json show = Json(Alice({"show", id, "--json"}));
  EXPECT_EQ(show["spec"]["ica"]["components"], 4);
  EXPECT_EQ(show["spec"]["ica"]["fun"], "CUBE");
  // Back to the suite's decomposition for the other tests.
  Json(Alice({"ica", id, "--components", "10", "--fun", "logcosh", "--json"}));
}

TEST_F(IcaE2eTest, NetworksAndUnitSeeIcaNetworksLikeGlmOnes) {
  const std::string id = CorpusId();
  ASSERT_FALSE(id.empty());
  // One entry per network: {"network": summary, "units": [...]}.
  const nlohmann::json list =
      Json(Alice({"networks", id, "--kind", "ica", "--top", "0", "--json"}));
  ASSERT_TRUE(list.is_array() && !list.empty());
  std::set<std::string> hooks;
  for (const auto& entry : list) {
    const nlohmann::json& n = entry["network"];
    EXPECT_EQ(n["kind"], "NETWORK_ICA");
    EXPECT_EQ(n["method"], "ica");
    EXPECT_EQ(n["thresholdMethod"], "zscore");
    hooks.insert(n["hook"].get<std::string>());
  }
  EXPECT_TRUE(hooks.count("blocks.0.mlp_post"));
  // The default kind stays the GLM's condition networks: a text corpus has
  // none.
  const nlohmann::json glm = Json(Alice({"networks", id, "--json"}));
  EXPECT_TRUE(glm.empty()) << glm.size() << " GLM networks";
  // `unit` finds a planted neuron in one ICA network per group.
  const std::string neuron = *PlantedNeurons().at("alpha").begin();
  const nlohmann::json unit = Json(Alice({"unit", id, neuron, "--json"}));
  std::set<int> groups;
  for (const auto& m : unit["networks"]) {
    if (m["network"]["kind"] == "NETWORK_ICA") {
      groups.insert(m["network"].value("repeat", 0));
      EXPECT_GT(std::abs(m["unit"]["t"].get<double>()), 3.6) << m.dump();
    }
  }
  EXPECT_GE(groups.size(), 9u) << unit.dump();
  CommandResult table = Alice({"networks", id, "--kind", "ica", "--top", "0"});
  EXPECT_EQ(table.exit_code, 0) << table;
  EXPECT_THAT(table.out, HasSubstr("|z| > 3.6"));
}

TEST_F(IcaE2eTest, ExportWritesTheIcaNetworks) {
  const std::string id = CorpusId();
  ASSERT_FALSE(id.empty());
  const std::string out = Root() + "/export";
  CommandResult r = Alice({"export", id, "--out", out, "--runs"});
  ASSERT_EQ(r.exit_code, 0) << r;
  std::ifstream in(out + "/ica_networks.csv");
  ASSERT_TRUE(in.good()) << r;
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header, "network,group,hook,component,unit,name,z");
  // Each planted neuron in a row of every group.
  std::map<std::string, std::set<std::string>> groups_of;
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> cells = absl::StrSplit(line, ',');
    ASSERT_EQ(cells.size(), 7u) << line;
    groups_of[cells[5]].insert(cells[1]);
    EXPECT_GT(std::abs(std::stod(cells[6])), 3.6) << line;
  }
  for (const auto& [condition, truth] : PlantedNeurons()) {
    for (const std::string& unit : truth) {
      EXPECT_GE(groups_of[unit].size(), 9u) << unit;
    }
  }
  EXPECT_TRUE(std::filesystem::exists(out + "/networks.csv"));
}

TEST_F(IcaE2eTest, AnotherUsersExperimentReadsAsNotFound) {
  const std::string id = CorpusId();
  ASSERT_FALSE(id.empty());
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"ica", id},
                                             {"ica", id, "--components", "3"},
                                             {"recurrence", id},
                                             {"key-neurons", id}}) {
    CommandResult r = As(kBob, args);
    EXPECT_EQ(r.exit_code, 4) << r;
    EXPECT_THAT(r.err, HasSubstr("not found")) << r;
  }
}

TEST_F(IcaE2eTest, ACorpusBesideABlockDesignIsRefusedNamingTexts) {
  nlohmann::json spec = CorpusSpec();
  spec["conditions"] = {{{"name", "a"}, {"prompts", {"one", "two"}}}};
  spec["ica"]["components"] = 0;
  spec["texts"]["groups"] = 0;
  const std::string path = Root() + "/bad.json";
  std::ofstream(path) << spec.dump();
  CommandResult r = Alice({"submit", path});
  EXPECT_EQ(r.exit_code, 3) << r;
  EXPECT_THAT(r.err, HasSubstr("texts: a text corpus replaces conditions"));
  EXPECT_THAT(r.err, HasSubstr("texts.groups: must be in [1, 1000], got 0"));
}

TEST_F(IcaE2eTest, CompareMethodsRelatesComponentsToConditions) {
  // A block design on the planted model: alpha prompts are full of alpha's
  // words; the task regressor follows them and so does the component of
  // alpha's planted neurons.
  std::mt19937 rng(5);
  const nlohmann::json plant = nlohmann::json::parse(kPlantJson);
  nlohmann::json spec = {
      {"name", "planted-block-ica"},
      {"model", kModel},
      {"generation", {{"tokensPerPrompt", 4}, {"temperature", 1}, {"seed", 2}}},
      {"baseline", {{"name", "rest"}, {"prompts", Texts({}, 0, 24, rng)}}},
      {"conditions",
       {{{"name", "alpha"},
         {"prompts", Texts(plant["conditions"][0]["words"], 0.6, 12, rng)}},
        {{"name", "beta"},
         {"prompts", Texts(plant["conditions"][1]["words"], 0.6, 12, rng)}}}},
      {"design",
       {{"pattern", {"baseline", "task", "baseline"}},
        {"promptsPerBlock", 3},
        {"repeats", 2}}},
      {"ica", {{"components", 4}, {"hooks", {"blocks.0.mlp_post"}}}}};
  const std::string id = Submit(spec, "block");
  ASSERT_FALSE(id.empty());
  const nlohmann::json r =
      Json(Alice({"compare", id, "--methods", "glm,ica", "--json"}));
  ASSERT_TRUE(r.contains("components")) << r.dump();
  ASSERT_EQ(r["conditions"].size(), 2u) << r.dump();
  const auto truth = PlantedNeurons();
  // Each run's component holding its own condition's planted neurons.
  const nlohmann::json list = Json(Alice({"ica", id, "--json"}));
  std::map<int64_t, std::set<std::string>> units_of;
  for (const auto& c : list["components"]) {
    for (const auto& u : c["topUnits"]) {
      units_of[std::stoll(c["networkId"].get<std::string>())].insert(
          u.get<std::string>());
    }
  }
  int checked = 0;
  for (const auto& c : r["components"]) {
    const std::string condition = c["condition"];
    const int64_t network = std::stoll(c["networkId"].get<std::string>());
    if (Iou(units_of[network], truth.at(condition)) < 0.8) continue;
    ++checked;
    EXPECT_GE(std::abs(c["correlation"].get<double>()), 0.5) << c.dump();
    const int own = condition == r["conditions"][0] ? 0 : 1;
    EXPECT_GT(c["dice"][own].get<double>(), c["dice"][1 - own].get<double>())
        << c.dump();
  }
  EXPECT_GE(checked, 2) << r.dump();

  // Scope experiment: one decomposition of every run's time points. Each
  // condition's planted neurons form a component whose time course follows
  // that condition's regressor over the concatenated runs, not the other's.
  const nlohmann::json every =
      Json(Alice({"ica", id, "--scope", "experiment", "--components", "4",
                  "--hooks", "blocks.0.mlp_post", "--json"}));
  ASSERT_TRUE(every.contains("components")) << every.dump();
  EXPECT_EQ(every["components"].size(), 4u) << every.dump();
  std::map<int64_t, std::set<std::string>> every_units;
  for (const auto& c : every["components"]) {
    EXPECT_EQ(c.value("group", 0), -1) << c.dump();
    EXPECT_EQ(c.value("runId", std::string("0")), "0") << c.dump();
    for (const auto& u : c["topUnits"]) {
      every_units[std::stoll(c["networkId"].get<std::string>())].insert(
          u.get<std::string>());
    }
  }
  const nlohmann::json pooled =
      Json(Alice({"compare", id, "--methods", "glm,ica", "--json"}));
  // network -> condition -> r over the concatenation.
  std::map<int64_t, std::map<std::string, double>> r_of;
  for (const auto& c : pooled["components"]) {
    EXPECT_EQ(c.value("group", 0), -1) << c.dump();
    r_of[std::stoll(c["networkId"].get<std::string>())][c["condition"]] =
        c["correlation"].get<double>();
  }
  int found = 0;
  for (const auto& [network, units] : every_units) {
    for (const std::string own : {"alpha", "beta"}) {
      if (Iou(units, truth.at(own)) < 0.8) continue;
      ++found;
      const std::string other = own == "alpha" ? "beta" : "alpha";
      const auto& r_by = r_of.at(network);
      std::cout << "every-run component " << network << " (" << own << "): r "
                << own << " " << r_by.at(own) << ", r " << other << " "
                << r_by.at(other) << "\n";
      EXPECT_GE(std::abs(r_by.at(own)), 0.5);
      EXPECT_GT(std::abs(r_by.at(own)), std::abs(r_by.at(other)));
    }
  }
  EXPECT_EQ(found, 2) << every.dump();
  CommandResult recurrence = Alice({"recurrence", id});
  EXPECT_NE(recurrence.exit_code, 0);
  EXPECT_THAT(recurrence.err, HasSubstr("scope experiment"));
  EXPECT_NE(Alice({"ica", id, "--scope", "everything"}).exit_code, 0);

  // A text corpus has no conditions to compare with.
  CommandResult corpus = Alice({"compare", CorpusId(), "--methods", "glm,ica"});
  EXPECT_NE(corpus.exit_code, 0);
  EXPECT_THAT(corpus.err, HasSubstr("text corpus"));
}

}  // namespace
}  // namespace fnprobe
