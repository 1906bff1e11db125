// Masking experiments end to end (issue 15's must-show), through real
// fnprobe-inference and fnprobe-worker processes and the `fnprobe` CLI, on
// a planted model whose conditions have a causal part (planted_model.h,
// step 8): a block-design experiment finds condition alpha's network; a
// masking experiment zeroes it, and keeps only its attention units, and
// scores texts of alpha's and of beta's words against 10 random controls.
//   - zeroing alpha's network raises alpha's NLL beyond every control (above
//     their 95th percentile) and by at least 5x the controls' median change;
//   - beta's NLL moves no more than the controls move it;
//   - keeping only alpha's attention units keeps alpha's top-1 accuracy
//     within 10% of unmasked;
//   - the CLI's --json and --csv carry the interface's names;
//   - against variance-matched controls zeroing alpha's network still
//     raises alpha's NLL above every control.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/grpc_status.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/inference/tools/model_maker.h"
#include "server/inference/tools/planted_spec.h"
#include "tests/e2e/worker_cluster.h"
#include "tests/support/command_runner.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::CallContext;
using ::fnprobe::testing::CommandResult;
using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::RunCommand;
using ::fnprobe::testing::WaitForExperiment;
using ::fnprobe::testing::WorkerCluster;
using ::fnprobe::testing::WorkerClusterOptions;
using Json = nlohmann::json;

constexpr char kToken[] = "masking-token-0123456789abcdef";
constexpr char kOtherToken[] = "masking-other-0123456789abcdef";

const char* const kPlantJson = R"({"conditions": [
  {"name": "alpha", "words": ["zorblat", "quixel", "vornak"]},
  {"name": "beta", "words": ["plimbus", "dravex", "snorfel"]},
  {"name": "gamma", "words": ["yuxtrop", "blenwick", "grumsh"]}]})";

const char* const kOrdinary[] = {
    "river",  "stone",  "garden",  "window", "candle", "market", "forest",
    "bridge", "letter", "castle",  "meadow", "harbor", "violin", "lantern",
    "pepper", "silver", "thunder", "valley", "copper", "feather"};

// Block-design prompts as planted_e2e_test makes them: two condition words
// among ordinary ones.
std::vector<std::string> Prompts(const std::vector<std::string>& markers, int n,
                                 uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto ordinary = [&] { return std::string(kOrdinary[rng() % 20]); };
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> words = {"the", ordinary(), ordinary()};
    for (int k = 0; k < 2; ++k) {
      if (!markers.empty()) words.push_back(markers[rng() % markers.size()]);
      words.push_back(ordinary());
    }
    words.push_back(absl::StrCat("n", i));
    words.push_back(".");
    out.push_back(absl::StrJoin(words, " "));
  }
  return out;
}

Json GlmSpec(const PlantSpec& plant) {
  Json spec = {
      {"name", "planted"},
      {"model", "planted"},
      {"generation",
       {{"tokensPerPrompt", 12}, {"temperature", 1}, {"seed", 1}}},
      {"capture", {{"hooks", {"standard"}}}},
      {"baseline", {{"name", "rest"}, {"prompts", Prompts({}, 30, 99)}}},
      {"design",
       {{"pattern", {"baseline", "task", "baseline"}},
        {"promptsPerBlock", 4},
        {"repeats", 3}}}};
  for (size_t c = 0; c < plant.conditions.size(); ++c) {
    spec["conditions"].push_back(
        {{"name", plant.conditions[c].name},
         {"prompts", Prompts(plant.conditions[c].words, 12, c + 1)}});
  }
  return spec;
}

// Evaluation texts: 24 words of one condition each.
std::vector<std::string> Texts(const std::vector<std::string>& words, int n,
                               uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> text;
    for (int w = 0; w < 24; ++w) text.push_back(words[rng() % words.size()]);
    out.push_back(absl::StrJoin(text, " "));
  }
  return out;
}

class MaskingE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::string(MakeTempDir("masking_e2e"));
    absl::StatusOr<PlantSpec> plant = ParsePlantSpec(kPlantJson, "test");
    ASSERT_OK(plant);
    plant_ = new PlantSpec(*plant);
    MakeModelOptions make;
    make.shape = "tiny";
    make.out_dir = *root_ + "/planted";
    make.planted = *plant_;
    ASSERT_OK(MakeModel(make));
    WorkerClusterOptions o;
    o.dir = *root_ + "/cluster";
    std::filesystem::create_directories(o.dir);
    o.model_dir = make.out_dir;
    o.tokens = {absl::StrCat(kToken, " tester"),
                absl::StrCat(kOtherToken, " other")};
    auto cluster = WorkerCluster::Start(o);
    ASSERT_OK(cluster);
    cluster_ = cluster->release();
  }

  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  CommandResult Cli(std::vector<std::string> args, const char* token = kToken) {
    args.insert(args.begin(),
                {"--server", cluster_->worker_address(), "--token", token});
    return RunCommand(FNPROBE_CLI_BINARY, args,
                      {{"HOME", *root_}, {"PATH", "/usr/bin:/bin"}}, *root_);
  }

  // Submits `spec` through the CLI and waits; returns the id.
  int64_t Submit(const Json& spec, const std::string& name) {
    const std::string path = *root_ + "/" + name + ".json";
    std::ofstream(path) << spec.dump(2);
    const CommandResult r = Cli({"submit", path, "--watch"});
    EXPECT_EQ(r.exit_code, 0) << r;
    std::smatch m;
    if (!std::regex_search(r.out, m,
                           std::regex("submitted experiment ([0-9]+) "))) {
      ADD_FAILURE() << r;
      return 0;
    }
    return std::stoll(m[1]);
  }

  // The block-design experiment, submitted once for the suite.
  int64_t GlmId() {
    if (glm_id_ == 0) glm_id_ = Submit(GlmSpec(*plant_), "glm");
    return glm_id_;
  }

  // Submits a masking spec through the service as `token`; the status.
  grpc::Status SubmitRpc(const std::string& json, const char* token = kToken) {
    auto stub = cluster_->Stub();
    v1::SubmitExperimentRequest request;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                    json, request.mutable_spec())
                    .ok())
        << json;
    v1::Experiment e;
    return stub->SubmitExperiment(CallContext(token).get(), request, &e);
  }

  // `fnprobe masking ID --json`, parsed.
  Json Results(int64_t id) {
    const CommandResult r = Cli({"masking", absl::StrCat(id), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r;
    return Json::parse(r.out, nullptr, false);
  }

  static std::string* root_;
  static PlantSpec* plant_;
  static WorkerCluster* cluster_;
  static int64_t glm_id_;
};

std::string* MaskingE2eTest::root_ = nullptr;
PlantSpec* MaskingE2eTest::plant_ = nullptr;
WorkerCluster* MaskingE2eTest::cluster_ = nullptr;
int64_t MaskingE2eTest::glm_id_ = 0;

const Json* Find(const Json& results, const std::string& network,
                 const std::string& op, const std::string& evaluation,
                 const std::string& metric) {
  for (const Json& r : results) {
    if (r["network"] == network && r["operation"] == op &&
        r["evaluation"] == evaluation && r["metric"] == metric) {
      return &r;
    }
  }
  return nullptr;
}

const Json* FindDissociation(const Json& all, const std::string& network,
                             const std::string& op, const std::string& metric,
                             const std::string& other) {
  for (const Json& d : all) {
    if (d["network"] == network && d["operation"] == op &&
        d["metric"] == metric && d["other"] == other) {
      return &d;
    }
  }
  return nullptr;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

TEST_F(MaskingE2eTest, PlantedNetworkMattersAndRandomUnitsDoNot) {
  ASSERT_NE(cluster_, nullptr);
  const int64_t glm = GlmId();
  ASSERT_GT(glm, 0);
  const Json masking = {
      {"name", "mask-alpha"},
      {"model", "planted"},
      {"masking",
       {{"networks",
         {{{"experiment", glm}, {"condition", "alpha"}},
          {{"name", "alpha-attn"},
           {"experiment", glm},
           {"condition", "alpha"},
           {"hooks", {"blocks.0.attn_out"}}}}},
        {"operations", {"ZERO", "KEEP_ONLY", "MEAN"}},
        {"controls", 10},
        {"seed", 1},
        {"evaluation",
         {{{"name", "alpha"},
           {"texts", Texts(plant_->conditions[0].words, 8, 1)}},
          {{"name", "beta"},
           {"texts", Texts(plant_->conditions[1].words, 8, 2)}}}}}}};
  const int64_t id = Submit(masking, "masking");
  ASSERT_GT(id, 0);
  const std::string csv = *root_ + "/masking.csv";
  const CommandResult r =
      Cli({"masking", absl::StrCat(id), "--json", "--csv", csv});
  ASSERT_EQ(r.exit_code, 0) << r;
  const Json out = Json::parse(r.out);
  const Json& results = out["results"];
  // 2 networks x 3 operations x 2 evaluation sets x 2 metrics.
  ASSERT_EQ(results.size(), 24u) << r.out;
  for (const Json& e : results) {
    for (const char* key :
         {"network", "operation", "evaluation", "metric", "unmasked", "masked",
          "controls", "percentile", "p"}) {
      EXPECT_TRUE(e.contains(key)) << key;
    }
    EXPECT_EQ(e["controls"].size(), 10u);
  }

  // Zeroing alpha's network: alpha's NLL.
  const Json* a = Find(results, "alpha", "ZERO", "alpha", "nll");
  ASSERT_NE(a, nullptr);
  const double change =
      a->at("masked").get<double>() - a->at("unmasked").get<double>();
  std::vector<double> control_changes;
  for (const Json& c : a->at("controls")) {
    control_changes.push_back(c.get<double>() -
                              a->at("unmasked").get<double>());
  }
  std::vector<double> abs_changes;
  for (double c : control_changes) abs_changes.push_back(std::abs(c));
  const double median = Median(abs_changes);
  std::cout << "ZERO alpha, alpha texts: NLL " << a->at("unmasked") << " -> "
            << a->at("masked") << " (change " << change
            << "); controls' changes " << absl::StrJoin(control_changes, ", ")
            << " (median |change| " << median << "); percentile "
            << a->at("percentile") << ", p " << a->at("p") << std::endl;
  EXPECT_GT(change,
            *std::max_element(control_changes.begin(), control_changes.end()));
  EXPECT_DOUBLE_EQ(a->at("percentile").get<double>(), 1.0);
  EXPECT_NEAR(a->at("p").get<double>(), 1.0 / 11, 1e-9);
  EXPECT_GE(change, 5 * median);
  EXPECT_GT(change, 1.0);

  // MEAN (each unit at its mean over the block-design experiment's time
  // points, where alpha's words are rare) removes alpha's context as well.
  const Json* mean = Find(results, "alpha", "MEAN", "alpha", "nll");
  ASSERT_NE(mean, nullptr);
  std::cout << "MEAN alpha, alpha texts: NLL " << mean->at("unmasked") << " -> "
            << mean->at("masked") << "; percentile " << mean->at("percentile")
            << std::endl;
  EXPECT_GT(
      mean->at("masked").get<double>() - mean->at("unmasked").get<double>(),
      1.0);
  EXPECT_DOUBLE_EQ(mean->at("percentile").get<double>(), 1.0);

  // Beta's loss moves no more than the controls move it.
  const Json* b = Find(results, "alpha", "ZERO", "beta", "nll");
  ASSERT_NE(b, nullptr);
  const double b_change =
      std::abs(b->at("masked").get<double>() - b->at("unmasked").get<double>());
  double b_max = 0;
  for (const Json& c : b->at("controls")) {
    b_max = std::max(
        b_max, std::abs(c.get<double>() - b->at("unmasked").get<double>()));
  }
  std::cout << "ZERO alpha, beta texts: |NLL change| " << b_change
            << ", controls' largest " << b_max << std::endl;
  EXPECT_LE(b_change, b_max);

  // Keep-only alpha's attention units: alpha's top-1 within 10%.
  const Json* k = Find(results, "alpha-attn", "KEEP_ONLY", "alpha", "top1");
  ASSERT_NE(k, nullptr);
  const double top1 = k->at("unmasked").get<double>();
  std::cout << "KEEP_ONLY alpha-attn, alpha texts: top-1 " << top1 << " -> "
            << k->at("masked") << std::endl;
  EXPECT_GT(top1, 0.1);
  EXPECT_NEAR(k->at("masked").get<double>(), top1, 0.1 * top1);

  // The table and the CSV; uniform controls, as the spec asked.
  EXPECT_EQ(out.value("matchedVariance", true), false) << r.out;
  const CommandResult table = Cli({"masking", absl::StrCat(id)});
  EXPECT_EQ(table.exit_code, 0) << table;
  EXPECT_NE(table.out.find("alpha-attn"), std::string::npos) << table;
  EXPECT_NE(table.out.find("controls: 10 random\n"), std::string::npos)
      << table;
  std::ifstream in(csv);
  std::string header;
  std::getline(in, header);
  EXPECT_EQ(header.rfind("network,operation,evaluation,metric,unmasked", 0), 0u)
      << header;
  // Alpha's two networks against beta's texts: the dissociation table, in
  // the text, the JSON and a CSV beside the results'.
  EXPECT_NE(table.out.find("Double dissociation"), std::string::npos) << table;
  ASSERT_TRUE(out.contains("dissociations")) << r.out;
  // 2 networks x 3 operations x 2 metrics x one other condition.
  EXPECT_EQ(out["dissociations"].size(), 12u);
  const Json* d =
      FindDissociation(out["dissociations"], "alpha", "ZERO", "nll", "beta");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->at("condition"), "alpha");
  EXPECT_DOUBLE_EQ(d->at("percentile").get<double>(), 1.0);
  std::ifstream dissociation_csv(*root_ + "/masking_dissociation.csv");
  std::getline(dissociation_csv, header);
  EXPECT_EQ(header.rfind("network,operation,metric,condition,other", 0), 0u)
      << header;

  // Export: masking.csv, masking.json and the dissociation.
  const std::string dir = *root_ + "/export";
  const CommandResult exported =
      Cli({"export", absl::StrCat(id), "--out", dir});
  ASSERT_EQ(exported.exit_code, 0) << exported;
  std::ifstream exported_csv(dir + "/masking.csv");
  std::string line;
  int rows = 0;
  while (std::getline(exported_csv, line)) ++rows;
  EXPECT_EQ(rows, 25);  // header + 24
  std::ifstream exported_json(dir + "/masking.json");
  const Json exported_results = Json::parse(exported_json, nullptr, false);
  ASSERT_TRUE(exported_results.contains("results"));
  EXPECT_EQ(exported_results["results"].size(), 24u);
  EXPECT_EQ(exported_results["dissociations"].size(), 12u);
  EXPECT_TRUE(std::filesystem::exists(dir + "/masking_dissociation.csv"));

  // The HTML report's masking section: the chart and both tables.
  const std::string html_path = *root_ + "/masking.html";
  const CommandResult report =
      Cli({"report", absl::StrCat(id), "--html", html_path});
  ASSERT_EQ(report.exit_code, 0) << report;
  std::ifstream html_in(html_path);
  const std::string html((std::istreambuf_iterator<char>(html_in)),
                         std::istreambuf_iterator<char>());
  EXPECT_EQ(html.find("No masking results"), std::string::npos);
  EXPECT_NE(html.find("masking-effects"), std::string::npos);
  EXPECT_NE(html.find("<td>alpha ZERO on alpha</td>"), std::string::npos);
  EXPECT_NE(html.find("Double dissociation"), std::string::npos);

  // Not a masking experiment; another user's masking experiment.
  const CommandResult not_masking = Cli({"masking", absl::StrCat(glm)});
  EXPECT_EQ(not_masking.exit_code, 7) << not_masking;
  const CommandResult foreign = Cli({"masking", absl::StrCat(id)}, kOtherToken);
  EXPECT_NE(foreign.exit_code, 0) << foreign;
}

// Variance-matched controls (matchVariance; the variances from the GLM
// experiment's stored activations, the network's own): zeroing alpha's
// network still raises alpha's NLL above every one of its 10 controls
// (above their 95th percentile), so the planted network matters beyond
// being loud. The table and --json say the controls were matched.
TEST_F(MaskingE2eTest, PlantedNetworkBeatsVarianceMatchedControls) {
  ASSERT_NE(cluster_, nullptr);
  const int64_t glm = GlmId();
  ASSERT_GT(glm, 0);
  const Json spec = {
      {"name", "matched"},
      {"model", "planted"},
      {"masking",
       {{"networks", {{{"experiment", glm}, {"condition", "alpha"}}}},
        {"operations", {"ZERO"}},
        {"controls", 10},
        {"seed", 1},
        {"matchVariance", true},
        {"evaluation",
         {{{"name", "alpha"},
           {"texts", Texts(plant_->conditions[0].words, 8, 1)}}}}}}};
  const int64_t id = Submit(spec, "matched");
  ASSERT_GT(id, 0);
  const Json out = Results(id);
  EXPECT_EQ(out.value("matchedVariance", false), true) << out.dump();
  const Json* a = Find(out["results"], "alpha", "ZERO", "alpha", "nll");
  ASSERT_NE(a, nullptr) << out.dump();
  const double unmasked = a->at("unmasked").get<double>();
  const double change = a->at("masked").get<double>() - unmasked;
  std::vector<double> control_changes;
  for (const Json& c : a->at("controls")) {
    control_changes.push_back(c.get<double>() - unmasked);
  }
  ASSERT_EQ(control_changes.size(), 10u);
  std::cout << "ZERO alpha vs variance-matched controls, alpha texts: NLL "
            << unmasked << " -> " << a->at("masked") << " (change " << change
            << "); controls' changes " << absl::StrJoin(control_changes, ", ")
            << "; percentile " << a->at("percentile") << ", p " << a->at("p")
            << std::endl;
  EXPECT_GT(change,
            *std::max_element(control_changes.begin(), control_changes.end()));
  EXPECT_DOUBLE_EQ(a->at("percentile").get<double>(), 1.0);
  EXPECT_GT(change, 1.0);
  const CommandResult table = Cli({"masking", absl::StrCat(id)});
  EXPECT_EQ(table.exit_code, 0) << table;
  EXPECT_NE(table.out.find("controls: 10 random, variance-matched"),
            std::string::npos)
      << table;
}

// Liu's double dissociation on the planted model: alpha's network harms
// alpha's texts more than beta's, beta's network the reverse, each beyond
// all of its 10 controls' paired contrasts. Alpha's texts come in two sets
// that name their condition (pooled); beta's set is named after it.
TEST_F(MaskingE2eTest, DoubleDissociationOfAlphaAndBetaNetworks) {
  ASSERT_NE(cluster_, nullptr);
  const int64_t glm = GlmId();
  ASSERT_GT(glm, 0);
  const Json spec = {
      {"name", "dissociation"},
      {"model", "planted"},
      {"masking",
       {{"networks",
         {{{"experiment", glm}, {"condition", "alpha"}},
          {{"experiment", glm}, {"condition", "beta"}}}},
        {"operations", {"ZERO"}},
        {"controls", 10},
        {"seed", 4},
        {"evaluation",
         {{{"name", "alpha-1"},
           {"condition", "alpha"},
           {"texts", Texts(plant_->conditions[0].words, 4, 11)}},
          {{"name", "alpha-2"},
           {"condition", "alpha"},
           {"texts", Texts(plant_->conditions[0].words, 4, 12)}},
          {{"name", "beta"},
           {"texts", Texts(plant_->conditions[1].words, 8, 13)}}}}}}};
  const int64_t id = Submit(spec, "dissociation");
  ASSERT_GT(id, 0);
  const Json out = Results(id);
  ASSERT_TRUE(out.contains("dissociations")) << out.dump();
  // 2 networks x 2 metrics x one other condition.
  ASSERT_EQ(out["dissociations"].size(), 4u) << out.dump();
  for (const auto& [network, other] :
       std::vector<std::pair<std::string, std::string>>{{"alpha", "beta"},
                                                        {"beta", "alpha"}}) {
    const Json* d =
        FindDissociation(out["dissociations"], network, "ZERO", "nll", other);
    ASSERT_NE(d, nullptr) << network;
    std::vector<double> controls = d->at("controlContrasts");
    ASSERT_EQ(controls.size(), 10u);
    std::cout << "ZERO " << network << ": change on " << network << "'s texts "
              << d->at("change") << ", on " << other << "'s "
              << d->value("otherChange", 0.0) << "; contrast "
              << d->at("contrast") << ", controls' "
              << absl::StrJoin(controls, ", ") << "; p " << d->at("p")
              << std::endl;
    EXPECT_EQ(d->at("condition"), network);
    EXPECT_GT(d->at("contrast").get<double>(),
              *std::max_element(controls.begin(), controls.end()));
    EXPECT_GT(d->at("contrast").get<double>(), 1.0);
    EXPECT_DOUBLE_EQ(d->at("percentile").get<double>(), 1.0);
    EXPECT_NEAR(d->at("p").get<double>(), 1.0 / 11, 1e-9);
  }
  // The per-set results carry their condition.
  const Json* a = Find(out["results"], "beta", "ZERO", "alpha-2", "nll");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->at("condition"), "alpha");
}

// A network from an ICA result: a text corpus of the planted conditions'
// words, decomposed at blocks.0.attn_out (where each condition's planted
// q dims carry its causal signal); the component that holds alpha's
// planted attn_out units, masked by reference, harms alpha's texts beyond
// its controls. References that do not pick exactly one stored component
// are refused naming the field.
TEST_F(MaskingE2eTest, IcaComponentByReference) {
  ASSERT_NE(cluster_, nullptr);
  std::mt19937 rng(5);
  auto corpus_texts = [&](const std::vector<std::string>& words) {
    std::vector<std::string> out;
    for (int i = 0; i < 60; ++i) {
      std::vector<std::string> w = {"the"};
      for (int k = 0; k < 12; ++k) {
        w.push_back(!words.empty() && rng() % 2 ? words[rng() % words.size()]
                                                : kOrdinary[rng() % 20]);
      }
      w.push_back(absl::StrCat("t", i));
      out.push_back(absl::StrJoin(w, " ") + " .");
    }
    return out;
  };
  Json pools = Json::array();
  for (const PlantedCondition& c : plant_->conditions) {
    pools.push_back({{"name", c.name}, {"prompts", corpus_texts(c.words)}});
  }
  pools.push_back({{"name", "plain"}, {"prompts", corpus_texts({})}});
  const Json corpus = {
      {"name", "corpus"},
      {"model", "planted"},
      {"generation", {{"seed", 1}}},
      {"texts",
       {{"pools", pools},
        {"textsPerGroup", 40},
        {"groups", 2},
        {"maxTokens", 32}}},
      {"ica",
       {{"components", 10}, {"z", 3.6}, {"hooks", {"blocks.0.attn_out"}}}}};
  const int64_t cid = Submit(corpus, "corpus");
  ASSERT_GT(cid, 0);
  const CommandResult list =
      Cli({"ica", absl::StrCat(cid), "--hook", "blocks.0.attn_out", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list;
  const Json components = Json::parse(list.out)["components"];
  // Alpha's planted attn_out units (planted.json).
  std::ifstream in(*root_ + "/planted/planted.json");
  const Json planted = Json::parse(in);
  std::set<std::string> alpha_units;
  for (const Json& u : planted["conditions"][0]["units"]) {
    if (u.get<std::string>().rfind("blocks.0.attn_out[", 0) == 0) {
      alpha_units.insert(u.get<std::string>());
    }
  }
  ASSERT_FALSE(alpha_units.empty());
  int component = -1, group = -1;
  int64_t size = 0;
  for (const Json& c : components) {
    int hits = 0;
    for (const Json& u : c["topUnits"]) hits += alpha_units.count(u);
    if (component < 0 && hits == static_cast<int>(alpha_units.size())) {
      component = c.value("component", 0);
      group = c.value("group", 0);
      size = std::stoll(c.value("size", std::string("0")));
    }
  }
  std::cout << "alpha's attn_out units: group " << group << ", component "
            << component << " (" << size << " units)" << std::endl;
  ASSERT_GE(component, 0) << list.out;

  const std::string head = absl::StrCat(
      R"({"name": "m", "model": "planted", "masking": {"networks": [)");
  const std::string tail = absl::StrCat(
      R"(], "operations": ["ZERO"], "seed": 2, "evaluation": [)",
      R"({"name": "alpha", "texts": )",
      Json(Texts(plant_->conditions[0].words, 8, 21)).dump(),
      R"(}, {"name": "beta", "texts": )",
      Json(Texts(plant_->conditions[1].words, 8, 22)).dump(), "}]}}");
  auto ref = [&](const std::string& fields) {
    return absl::StrCat(head, R"({"experiment": )", cid, ", ", fields, "}",
                        tail);
  };
  // Refused, naming the field: no such component; two groups hold
  // component K; no such group; a hook point not decomposed; another
  // user's experiment.
  struct Bad {
    std::string fields;
    grpc::StatusCode code;
    std::string field;
  };
  for (const Bad& bad : std::vector<Bad>{
           {absl::StrCat(R"("component": 99, "group": )", group),
            grpc::StatusCode::INVALID_ARGUMENT, ".component"},
           {absl::StrCat(R"("component": )", component),
            grpc::StatusCode::INVALID_ARGUMENT, ".group"},
           {absl::StrCat(R"("component": )", component, R"(, "group": 7)"),
            grpc::StatusCode::INVALID_ARGUMENT, ".group"},
           {absl::StrCat(R"("component": )", component, R"(, "group": )", group,
                         R"(, "hooks": ["blocks.0.mlp_post"])"),
            grpc::StatusCode::INVALID_ARGUMENT, ".hooks"}}) {
    const grpc::Status s = SubmitRpc(ref(bad.fields));
    EXPECT_EQ(s.error_code(), bad.code)
        << bad.fields << ": " << s.error_message();
    EXPECT_NE(s.error_message().find("masking.networks[0]" + bad.field),
              std::string::npos)
        << bad.fields << ": " << s.error_message();
  }
  const std::string good =
      ref(absl::StrCat(R"("component": )", component, R"(, "group": )", group,
                       R"(, "hooks": ["blocks.0.attn_out"])"));
  const grpc::Status foreign = SubmitRpc(good, kOtherToken);
  EXPECT_EQ(foreign.error_code(), grpc::StatusCode::NOT_FOUND)
      << foreign.error_message();
  EXPECT_NE(foreign.error_message().find("masking.networks[0].experiment"),
            std::string::npos)
      << foreign.error_message();

  const Json spec = Json::parse(good);
  const int64_t id = Submit(spec, "ica-masking");
  ASSERT_GT(id, 0);
  const Json out = Results(id);
  const std::string name = absl::StrCat("component-", component);
  const Json* a = Find(out["results"], name, "ZERO", "alpha", "nll");
  ASSERT_NE(a, nullptr) << out.dump();
  EXPECT_EQ(std::stoll(a->at("networkUnits").get<std::string>()), size);
  std::cout << "ZERO " << name << ", alpha texts: NLL " << a->at("unmasked")
            << " -> " << a->at("masked") << "; controls "
            << a->at("controls").dump() << "; percentile "
            << a->at("percentile") << std::endl;
  EXPECT_DOUBLE_EQ(a->at("percentile").get<double>(), 1.0);
  const Json* d =
      FindDissociation(out["dissociations"], name, "ZERO", "nll", "beta");
  // A component is no condition's network: no dissociation row.
  EXPECT_EQ(d, nullptr);
}

TEST_F(MaskingE2eTest, RefusesBadReferencesNamingTheField) {
  ASSERT_NE(cluster_, nullptr);
  auto stub = cluster_->Stub();
  auto submit = [&](const std::string& json) {
    v1::SubmitExperimentRequest request;
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                    json, request.mutable_spec())
                    .ok());
    v1::Experiment e;
    return stub->SubmitExperiment(CallContext(kToken).get(), request, &e);
  };
  const std::string tail =
      R"(], "operations": ["ZERO"], "evaluation": [{"name": "a", "texts":
      ["zorblat quixel"]}]}})";
  const std::string head =
      R"({"name": "m", "model": "planted", "masking": {"networks": [)";
  grpc::Status s =
      submit(head + R"({"experiment": 999, "condition": "alpha"})" + tail);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  s = submit(head + R"({"units": ["blocks.9.mlp_post[1]"]})" + tail);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("masking.networks[0].units[0]"),
            std::string::npos)
      << s.error_message();
  s = submit(head + R"({"units": ["blocks.0.mlp_post[100000]"]})" + tail);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("outside"), std::string::npos)
      << s.error_message();

  // matchVariance: an explicit list beside a stored network has no
  // experiment to take its variances from without meanFrom; meanFrom's
  // experiment must have captured the list's hook point (the GLM
  // experiment captured the "standard" hook points, not embed).
  const int64_t glm = GlmId();
  ASSERT_GT(glm, 0);
  const std::string matched_tail =
      R"(], "operations": ["ZERO"], "matchVariance": true)";
  const std::string evaluation =
      R"(, "evaluation": [{"name": "a", "texts": ["zorblat quixel"]}]}})";
  s = submit(head +
             absl::StrCat(R"({"experiment": )", glm,
                          R"(, "condition": "alpha"}, )",
                          R"({"units": ["blocks.0.mlp_post[1]"]})") +
             matched_tail + evaluation);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_NE(s.error_message().find("masking.meanFrom: masking.networks[1] "
                                   "lists units of no experiment: "
                                   "matchVariance needs meanFrom"),
            std::string::npos)
      << s.error_message();
  s = submit(head + R"({"units": ["embed[1]"]})" + matched_tail +
             absl::StrCat(R"(, "meanFrom": )", glm) + evaluation);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_NE(s.error_message().find(absl::StrCat("masking.meanFrom: experiment ",
                                                glm, " did not capture embed")),
            std::string::npos)
      << s.error_message();
}

}  // namespace
}  // namespace fnprobe
