// The analysis end to end on a model with a known answer: fnprobe-make-model
// plants units that respond to known words (planted_model.h); an experiment
// through real fnprobe-inference and fnprobe-worker processes must recover
// each condition's planted units (precision >= 0.95, recall >= 0.9 at FDR
// 0.05) and identify every held-out run. A random model of the same shape,
// given the same prompts with the condition labels shuffled, must identify
// held-out runs only about as well as chance.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/grpc_status.h"
#include "common/layout.h"
#include "common/layout_proto.h"
#include "common/status_util.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/inference/tools/model_maker.h"
#include "server/inference/tools/planted_spec.h"
#include "tests/e2e/worker_cluster.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::CallContext;
using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::WaitForExperiment;
using ::fnprobe::testing::WorkerCluster;
using ::fnprobe::testing::WorkerClusterOptions;

constexpr char kToken[] = "planted-token-0123456789abcdef";
constexpr int kConditions = 3;
constexpr int kRepeats = 3;
constexpr int kPromptsPerBlock = 4;

const char* const kPlantJson = R"({"conditions": [
  {"name": "alpha", "words": ["zorblat", "quixel", "vornak"]},
  {"name": "beta", "words": ["plimbus", "dravex", "snorfel"]},
  {"name": "gamma", "words": ["yuxtrop", "blenwick", "grumsh"]}]})";

const char* const kOrdinary[] = {
    "river",  "stone",  "garden",  "window", "candle", "market", "forest",
    "bridge", "letter", "castle",  "meadow", "harbor", "violin", "lantern",
    "pepper", "silver", "thunder", "valley", "copper", "feather"};

std::string Ordinary(std::mt19937_64& rng) {
  return kOrdinary[rng() % (sizeof(kOrdinary) / sizeof(kOrdinary[0]))];
}

// "the <w> <w> <marker> <w> <marker> <w> ." — every prompt ends with the
// same token.
std::vector<std::string> Prompts(const std::vector<std::string>& markers, int n,
                                 uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> words = {"the", Ordinary(rng), Ordinary(rng)};
    for (int k = 0; k < 2; ++k) {
      if (!markers.empty()) words.push_back(markers[rng() % markers.size()]);
      words.push_back(Ordinary(rng));
    }
    words.push_back(absl::StrCat("n", i));
    words.push_back(".");
    out.push_back(absl::StrJoin(words, " "));
  }
  return out;
}

v1::ExperimentSpec PlantedSpec(const std::string& model, const PlantSpec& plant,
                               uint64_t seed) {
  v1::ExperimentSpec spec;
  spec.set_name("planted");
  spec.set_model(model);
  spec.mutable_generation()->set_tokens_per_prompt(12);
  spec.mutable_generation()->set_temperature(1.0f);
  spec.mutable_generation()->set_seed(seed);
  spec.mutable_capture()->add_hooks("standard");
  spec.mutable_baseline()->set_name("rest");
  for (const std::string& p : Prompts({}, 30, 99)) {
    spec.mutable_baseline()->add_prompts(p);
  }
  for (size_t c = 0; c < plant.conditions.size(); ++c) {
    v1::PromptPool* pool = spec.add_conditions();
    pool->set_name(plant.conditions[c].name);
    for (const std::string& p : Prompts(plant.conditions[c].words,
                                        kPromptsPerBlock * kRepeats, c + 1)) {
      pool->add_prompts(p);
    }
  }
  v1::BlockDesign* d = spec.mutable_design();
  for (const char* b : {"baseline", "task", "baseline"}) d->add_pattern(b);
  d->set_prompts_per_block(kPromptsPerBlock);
  d->set_repeats(kRepeats);
  spec.mutable_analysis()->set_classify(true);
  return spec;
}

// The spec with every task prompt moved to a random condition (labels
// shuffled), each condition keeping its number of prompts.
v1::ExperimentSpec ShuffledLabels(v1::ExperimentSpec spec, uint64_t seed) {
  std::vector<std::string> all;
  for (const v1::PromptPool& pool : spec.conditions()) {
    all.insert(all.end(), pool.prompts().begin(), pool.prompts().end());
  }
  std::shuffle(all.begin(), all.end(), std::mt19937_64(seed));
  size_t next = 0;
  for (v1::PromptPool& pool : *spec.mutable_conditions()) {
    for (std::string& p : *pool.mutable_prompts()) p = all[next++];
  }
  return spec;
}

struct Outcome {
  v1::Experiment experiment;
  std::map<std::string, std::set<int64_t>> networks;  // condition networks
  v1::GetClassificationResponse classification;
};

absl::StatusOr<Outcome> RunExperiment(const std::string& model_dir,
                                      const v1::ExperimentSpec& spec) {
  WorkerClusterOptions o;
  o.dir = MakeTempDir("planted_e2e");
  o.model_dir = model_dir;
  o.tokens = {absl::StrCat(kToken, " tester")};
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<WorkerCluster> cluster,
                           WorkerCluster::Start(o));
  auto stub = cluster->Stub();
  v1::SubmitExperimentRequest submit;
  *submit.mutable_spec() = spec;
  Outcome out;
  grpc::Status s = stub->SubmitExperiment(CallContext(kToken).get(), submit,
                                          &out.experiment);
  if (!s.ok()) return ToAbslStatus(s);
  FNPROBE_ASSIGN_OR_RETURN(
      out.experiment, WaitForExperiment(stub.get(), kToken, out.experiment.id(),
                                        absl::Minutes(5)));
  if (out.experiment.phase() != v1::PHASE_DONE) {
    return absl::InternalError("experiment failed: " + out.experiment.error());
  }
  v1::ListNetworksRequest list;
  list.set_experiment_id(out.experiment.id());
  v1::ListNetworksResponse networks;
  s = stub->ListNetworks(CallContext(kToken).get(), list, &networks);
  if (!s.ok()) return ToAbslStatus(s);
  for (const v1::NetworkSummary& n : networks.networks()) {
    std::set<int64_t>& units = out.networks[n.condition()];
    std::string page_token;
    do {
      v1::GetNetworkRequest get;
      get.set_network_id(n.id());
      get.set_page_size(10000);
      get.set_page_token(page_token);
      v1::GetNetworkResponse page;
      s = stub->GetNetwork(CallContext(kToken).get(), get, &page);
      if (!s.ok()) return ToAbslStatus(s);
      for (const v1::NetworkUnit& u : page.units()) units.insert(u.unit());
      page_token = page.next_page_token();
    } while (!page_token.empty());
  }
  v1::GetClassificationRequest classify;
  classify.set_experiment_id(out.experiment.id());
  s = stub->GetClassification(CallContext(kToken).get(), classify,
                              &out.classification);
  if (!s.ok()) return ToAbslStatus(s);
  return out;
}

// Each condition's planted units (planted.json) present in `layout`.
std::map<std::string, std::set<int64_t>> GroundTruth(
    const std::string& model_dir, const Layout& layout) {
  std::ifstream in(model_dir + "/planted.json");
  const nlohmann::json planted = nlohmann::json::parse(in);
  std::map<std::string, std::set<int64_t>> truth;
  for (const auto& c : planted.at("conditions")) {
    std::set<int64_t>& units = truth[c.at("name").get<std::string>()];
    for (const auto& name : c.at("units")) {
      absl::StatusOr<int64_t> unit = layout.ParseUnit(name.get<std::string>());
      if (unit.ok()) units.insert(*unit);  // hook not captured otherwise
    }
  }
  return truth;
}

class PlantedE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = MakeTempDir("planted_models");
    absl::StatusOr<PlantSpec> plant = ParsePlantSpec(kPlantJson, "test");
    ASSERT_OK(plant);
    plant_ = *plant;
    MakeModelOptions make;
    make.shape = "tiny";
    make.out_dir = root_ + "/planted";
    make.planted = plant_;
    ASSERT_OK(MakeModel(make));
    make.planted.reset();
    make.out_dir = root_ + "/random";
    ASSERT_OK(MakeModel(make));
  }

  static std::string root_;
  static PlantSpec plant_;
};

std::string PlantedE2eTest::root_;
PlantSpec PlantedE2eTest::plant_;

// Benjamini-Hochberg at 0.05 bounds the EXPECTED share of false units in a
// network by 0.05; any one network of 8 true units fails "precision >= 0.95"
// with a single false unit, which BH allows about a third of the time (and
// units of one model are correlated, so false units come in bursts). So the
// precision is measured as BH promises it: over the networks of four
// experiments (generation seeds 1-4, 12 condition networks). Recall and
// held-out identification are required of every experiment.
TEST_F(PlantedE2eTest, RecoversPlantedUnitsAndIdentifiesHeldOutRuns) {
  const std::string model_dir = root_ + "/planted";
  int64_t hits = 0, found_total = 0, truth_total = 0;
  for (uint64_t seed : {1, 2, 3, 4}) {
    ASSERT_OK_AND_ASSIGN(
        Outcome out,
        RunExperiment(model_dir, PlantedSpec("planted", plant_, seed)));
    ASSERT_OK_AND_ASSIGN(Layout layout,
                         LayoutFromProto(out.experiment.layout()));
    const auto truth = GroundTruth(model_dir, layout);
    ASSERT_EQ(truth.size(), static_cast<size_t>(kConditions));
    for (const auto& [condition, planted] : truth) {
      ASSERT_FALSE(planted.empty()) << condition;
      const std::set<int64_t>& found = out.networks[condition];
      int64_t h = 0;
      std::string false_units;
      for (int64_t u : found) {
        if (planted.count(u)) {
          ++h;
        } else {
          absl::StrAppend(&false_units, " ", *layout.UnitName(u));
        }
      }
      std::cout << "seed " << seed << ", " << condition << ": planted "
                << planted.size() << ", found " << found.size() << ", true "
                << h << (false_units.empty() ? "" : "; false:") << false_units
                << std::endl;
      EXPECT_GE(static_cast<double>(h) / planted.size(), 0.9)
          << "recall, seed " << seed << ", " << condition;
      hits += h;
      found_total += static_cast<int64_t>(found.size());
      truth_total += static_cast<int64_t>(planted.size());
    }
    EXPECT_EQ(out.classification.predictions_size(), kConditions * kRepeats);
    EXPECT_DOUBLE_EQ(out.classification.accuracy(), 1.0) << "seed " << seed;
  }
  const double precision = static_cast<double>(hits) / found_total;
  const double recall = static_cast<double>(hits) / truth_total;
  std::cout << "planted units over 12 condition networks: precision "
            << precision << ", recall " << recall << std::endl;
  EXPECT_GE(precision, 0.95);
  EXPECT_GE(recall, 0.9);
}

TEST_F(PlantedE2eTest, RandomModelWithShuffledLabelsIsNearChance) {
  // Four shufflings (and generation seeds), so that "near chance" is a rate
  // over 36 held-out runs rather than 9.
  int correct = 0, total = 0;
  for (uint64_t seed : {1, 2, 3, 4}) {
    ASSERT_OK_AND_ASSIGN(
        Outcome out,
        RunExperiment(
            root_ + "/random",
            ShuffledLabels(PlantedSpec("random", plant_, seed), seed)));
    for (const v1::HeldOutPrediction& p : out.classification.predictions()) {
      correct += p.predicted_condition() == p.true_condition();
      ++total;
    }
  }
  const double accuracy = static_cast<double>(correct) / total;
  std::cout << "random model, shuffled labels: accuracy " << accuracy
            << " over " << total << " held-out runs (chance "
            << 1.0 / kConditions << ")" << std::endl;
  EXPECT_EQ(total, 4 * kConditions * kRepeats);
  // Chance is 1/3; 0.6 is more than 3 binomial standard deviations above.
  EXPECT_LE(accuracy, 0.6);
}

}  // namespace
}  // namespace fnprobe
