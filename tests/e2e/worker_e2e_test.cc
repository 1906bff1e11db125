// End-to-end tests of fnprobe-worker with a real fnprobe-inference process
// on loopback: an experiment from submission to queries, ownership and
// error paths, re-analysis from the activation store without the inference
// server, and crash recovery (SIGKILL of the worker and of the inference
// server mid-run) ending with the same networks as an uninterrupted run.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/file_digest.h"
#include "common/grpc_status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/storage/activation_store.h"
#include "server/inference/tools/model_maker.h"
#include "tests/e2e/worker_cluster.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::CallContext;
using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::StatusIs;
using ::fnprobe::testing::WaitForExperiment;
using ::fnprobe::testing::WorkerCluster;
using ::fnprobe::testing::WorkerClusterOptions;
using ::testing::HasSubstr;

constexpr char kAlice[] = "alice-token-0123456789abcdef";
constexpr char kBob[] = "bob-token-0123456789abcdefgh";

const char* const kWords[] = {
    "river",  "stone",  "garden",  "window", "candle", "market", "forest",
    "bridge", "letter", "castle",  "meadow", "harbor", "violin", "lantern",
    "pepper", "silver", "thunder", "valley", "copper", "feather"};

// Prompts of 6 words drawn deterministically from kWords.
std::vector<std::string> Prompts(int n, int salt) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string p = "Tell me about";
    for (int w = 0; w < 4; ++w) {
      p += " ";
      p += kWords[(i * 7 + w * 3 + salt * 5) % 20];
    }
    out.push_back(absl::StrCat(p, " number ", salt, "-", i, "."));
  }
  return out;
}

v1::ExperimentSpec SmallSpec(int conditions, int repeats, int tokens) {
  v1::ExperimentSpec spec;
  spec.set_name("e2e");
  spec.set_model("tiny");
  spec.mutable_generation()->set_tokens_per_prompt(tokens);
  spec.mutable_generation()->set_temperature(0.8f);
  spec.mutable_generation()->set_seed(11);
  spec.mutable_capture()->add_hooks("standard");
  spec.mutable_baseline()->set_name("rest");
  for (const std::string& p : Prompts(24, 0)) {
    spec.mutable_baseline()->add_prompts(p);
  }
  for (int c = 0; c < conditions; ++c) {
    v1::PromptPool* pool = spec.add_conditions();
    pool->set_name(absl::StrCat("topic", c));
    for (const std::string& p : Prompts(4 * repeats, c + 1)) {
      pool->add_prompts(p);
    }
  }
  v1::BlockDesign* d = spec.mutable_design();
  d->add_pattern("baseline");
  d->add_pattern("task");
  d->add_pattern("baseline");
  d->set_prompts_per_block(4);
  d->set_repeats(repeats);
  spec.mutable_analysis()->set_classify(true);
  return spec;
}

// Condition maps' t by condition.
std::map<std::string, std::vector<double>> ConditionT(
    v1::ExperimentService::Stub* stub, const v1::Experiment& e) {
  std::map<std::string, std::vector<double>> out;
  for (const v1::PromptPool& c : e.spec().conditions()) {
    v1::GetStatMapRequest request;
    request.set_experiment_id(e.id());
    request.set_condition(c.name());
    v1::StatMap map;
    EXPECT_TRUE(
        stub->GetStatMap(CallContext(kAlice).get(), request, &map).ok());
    out[c.name()].assign(map.t().begin(), map.t().end());
  }
  return out;
}

// Condition networks' units by condition.
std::map<std::string, std::vector<int64_t>> ConditionUnits(
    v1::ExperimentService::Stub* stub, int64_t id) {
  v1::ListNetworksRequest list;
  list.set_experiment_id(id);
  v1::ListNetworksResponse networks;
  EXPECT_TRUE(
      stub->ListNetworks(CallContext(kAlice).get(), list, &networks).ok());
  std::map<std::string, std::vector<int64_t>> out;
  for (const v1::NetworkSummary& n : networks.networks()) {
    std::string token;
    while (true) {
      v1::GetNetworkRequest get;
      get.set_network_id(n.id());
      get.set_page_size(10000);
      get.set_page_token(token);
      v1::GetNetworkResponse page;
      EXPECT_TRUE(stub->GetNetwork(CallContext(kAlice).get(), get, &page).ok());
      for (const v1::NetworkUnit& u : page.units()) {
        out[n.condition()].push_back(u.unit());
      }
      token = page.next_page_token();
      if (token.empty()) break;
    }
    std::sort(out[n.condition()].begin(), out[n.condition()].end());
  }
  return out;
}

class WorkerE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_root_ = MakeTempDir("worker_e2e_model");
    MakeModelOptions make;
    make.shape = "tiny";
    make.out_dir = model_root_ + "/tiny";
    ASSERT_OK(MakeModel(make));
  }

  std::unique_ptr<WorkerCluster> StartCluster(
      std::vector<std::string> worker_flags = {}) {
    WorkerClusterOptions o;
    o.dir = MakeTempDir("worker_e2e");
    o.model_dir = model_root_ + "/tiny";
    o.tokens = {absl::StrCat(kAlice, " alice"), absl::StrCat(kBob, " bob")};
    o.worker_flags = std::move(worker_flags);
    auto cluster = WorkerCluster::Start(o);
    EXPECT_OK(cluster);
    return cluster.ok() ? std::move(*cluster) : nullptr;
  }

  static absl::StatusOr<v1::Experiment> Submit(
      v1::ExperimentService::Stub* stub, const v1::ExperimentSpec& spec,
      const std::string& token = kAlice) {
    v1::SubmitExperimentRequest request;
    *request.mutable_spec() = spec;
    v1::Experiment e;
    grpc::Status s =
        stub->SubmitExperiment(CallContext(token).get(), request, &e);
    if (!s.ok()) return ToAbslStatus(s);
    return e;
  }

  static std::string model_root_;
};

std::string WorkerE2eTest::model_root_;

TEST_F(WorkerE2eTest, ExperimentFromSubmissionToQueries) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  auto stub = cluster->Stub();
  const v1::ExperimentSpec spec = SmallSpec(2, 2, 8);
  ASSERT_OK_AND_ASSIGN(v1::Experiment submitted, Submit(stub.get(), spec));
  EXPECT_EQ(submitted.owner(), "alice");
  // The experiment names the exact weights it ran on.
  std::vector<std::string> checkpoint = {model_root_ + "/tiny/config.json"};
  for (const auto& f :
       std::filesystem::directory_iterator(model_root_ + "/tiny")) {
    if (f.path().extension() == ".safetensors") {
      checkpoint.push_back(f.path().string());
    }
  }
  std::sort(checkpoint.begin() + 1, checkpoint.end());
  ASSERT_OK_AND_ASSIGN(const std::string sha256, Sha256OfFiles(checkpoint));
  EXPECT_EQ(submitted.model_checksum(), sha256);
  EXPECT_EQ(submitted.runs_size(), 4);
  ASSERT_OK_AND_ASSIGN(
      v1::Experiment e,
      WaitForExperiment(stub.get(), kAlice, submitted.id(), absl::Minutes(3)));
  ASSERT_EQ(e.phase(), v1::PHASE_DONE) << e.error();
  EXPECT_EQ(e.progress().runs_done(), 4);
  EXPECT_EQ(e.progress().tokens_done(), 4 * 12 * 8);
  EXPECT_EQ(e.progress().tokens_total(), 4 * 12 * 8);
  ASSERT_GT(e.layout().width(), 0);
  for (const v1::Run& run : e.runs()) {
    EXPECT_EQ(run.state(), v1::RUN_DONE);
    EXPECT_EQ(run.time_points(), 96);
    ASSERT_OK_AND_ASSIGN(auto reader,
                         ActivationReader::Open(run.activation_path()));
    EXPECT_EQ(reader->rows(), 96);
    EXPECT_EQ(reader->width(), e.layout().width());
    EXPECT_EQ(reader->checksum(), run.activation_checksum());
    EXPECT_OK(reader->VerifyFileChecksum());
  }

  // Networks, comparison, repeatability, classification.
  v1::ListNetworksRequest list;
  list.set_experiment_id(e.id());
  v1::ListNetworksResponse networks;
  ASSERT_TRUE(
      stub->ListNetworks(CallContext(kAlice).get(), list, &networks).ok());
  ASSERT_EQ(networks.networks_size(), 2);
  EXPECT_EQ(networks.networks(0).condition(), "topic0");
  EXPECT_EQ(networks.networks(0).threshold_method(), "fdr");

  v1::CompareNetworksRequest compare;
  compare.set_experiment_id(e.id());
  v1::CompareNetworksResponse overlap;
  ASSERT_TRUE(
      stub->CompareNetworks(CallContext(kAlice).get(), compare, &overlap).ok());
  ASSERT_EQ(overlap.dice_size(), 4);
  for (double d : overlap.dice()) {
    EXPECT_GE(d, 0.0);
    EXPECT_LE(d, 1.0);
  }
  EXPECT_EQ(overlap.dice(1), overlap.dice(2));

  v1::GetClassificationRequest classify;
  classify.set_experiment_id(e.id());
  v1::GetClassificationResponse classes;
  ASSERT_TRUE(
      stub->GetClassification(CallContext(kAlice).get(), classify, &classes)
          .ok());
  EXPECT_EQ(classes.predictions_size(), 4);
  EXPECT_EQ(classes.confusion_size(), 4);
  EXPECT_DOUBLE_EQ(classes.chance(), 0.5);

  v1::GetRepeatabilityRequest repeat;
  repeat.set_experiment_id(e.id());
  v1::GetRepeatabilityResponse repeatability;
  ASSERT_TRUE(
      stub->GetRepeatability(CallContext(kAlice).get(), repeat, &repeatability)
          .ok());
  ASSERT_EQ(repeatability.conditions_size(), 2);
  EXPECT_EQ(repeatability.conditions(0).pairs_size(), 1);

  // Events of run 1: baseline, task, baseline blocks of 4 prompts x 8 tokens.
  v1::GetRunEventsRequest events_request;
  events_request.set_experiment_id(e.id());
  events_request.set_run_index(1);
  v1::GetRunEventsResponse events;
  ASSERT_TRUE(
      stub->GetRunEvents(CallContext(kAlice).get(), events_request, &events)
          .ok());
  ASSERT_EQ(events.events_size(), 3);
  EXPECT_EQ(events.events(1).onset(), 32);
  EXPECT_EQ(events.events(1).duration(), 32);
  EXPECT_EQ(events.events(1).trial_type(), events.run().condition());
  EXPECT_THAT(events.events_tsv(), HasSubstr("onset\tduration\ttrial_type"));
  EXPECT_EQ(events.prompts_size(), 12);

  // The whole t-map of a condition.
  v1::GetStatMapRequest map_request;
  map_request.set_experiment_id(e.id());
  map_request.set_condition("topic1");
  v1::StatMap map;
  ASSERT_TRUE(
      stub->GetStatMap(CallContext(kAlice).get(), map_request, &map).ok());
  EXPECT_EQ(map.t_size(), e.layout().width());
  EXPECT_GT(map.dof(), 0);

  // FindUnit for the strongest unit of the first non-empty network.
  for (const v1::NetworkSummary& n : networks.networks()) {
    if (n.size() == 0) continue;
    v1::GetNetworkRequest get;
    get.set_network_id(n.id());
    get.set_page_size(1);
    v1::GetNetworkResponse page;
    ASSERT_TRUE(stub->GetNetwork(CallContext(kAlice).get(), get, &page).ok());
    ASSERT_EQ(page.units_size(), 1);
    EXPECT_EQ(page.total_units(), n.size());
    v1::FindUnitRequest find;
    find.set_experiment_id(e.id());
    find.set_unit_name(page.units(0).name());
    v1::FindUnitResponse found;
    ASSERT_TRUE(stub->FindUnit(CallContext(kAlice).get(), find, &found).ok());
    EXPECT_EQ(found.unit(), page.units(0).unit());
    bool listed = false;
    for (const auto& m : found.networks()) listed |= m.network().id() == n.id();
    EXPECT_TRUE(listed);
    break;
  }

  // Units' time courses are the stored activations, in design order.
  {
    const v1::Run& run = e.runs(1);
    ASSERT_OK_AND_ASSIGN(auto reader,
                         ActivationReader::Open(run.activation_path()));
    std::vector<float> rows(reader->rows() * reader->width());
    std::vector<int64_t> time_points(reader->rows());
    ASSERT_OK(
        reader->ReadRows(0, reader->rows(), rows.data(), time_points.data()));
    v1::GetUnitTimeCourseRequest request;
    request.set_experiment_id(e.id());
    request.set_run_index(1);
    const int64_t last = reader->width() - 1;
    for (int64_t unit : {int64_t{0}, int64_t{5}, last}) request.add_units(unit);
    v1::UnitTimeCourse courses;
    ASSERT_TRUE(
        stub->GetUnitTimeCourse(CallContext(kAlice).get(), request, &courses)
            .ok());
    EXPECT_EQ(courses.run_id(), run.id());
    ASSERT_EQ(courses.units_size(), 3);
    for (const auto& unit : courses.units()) {
      ASSERT_EQ(unit.values_size(), run.time_points());
      for (int64_t r = 0; r < reader->rows(); ++r) {
        EXPECT_EQ(unit.values(static_cast<int>(time_points[r])),
                  rows[r * reader->width() + unit.unit()])
            << "unit " << unit.unit() << " row " << r;
      }
    }
    v1::UnitTimeCourse refused;
    request.set_run_index(4);
    EXPECT_EQ(
        stub->GetUnitTimeCourse(CallContext(kAlice).get(), request, &refused)
            .error_code(),
        grpc::StatusCode::OUT_OF_RANGE);
    request.set_run_index(1);
    request.add_units(reader->width());
    EXPECT_EQ(
        stub->GetUnitTimeCourse(CallContext(kAlice).get(), request, &refused)
            .error_code(),
        grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(
        stub->GetUnitTimeCourse(CallContext(kBob).get(), request, &refused)
            .error_code(),
        grpc::StatusCode::NOT_FOUND);
  }

  // Another user sees nothing of it.
  v1::GetExperimentRequest get;
  get.set_experiment_id(e.id());
  v1::Experiment other;
  grpc::Status s = stub->GetExperiment(CallContext(kBob).get(), get, &other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  s = stub->ListNetworks(CallContext(kBob).get(), list, &networks);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  v1::CancelExperimentRequest cancel;
  cancel.set_experiment_id(e.id());
  s = stub->CancelExperiment(CallContext(kBob).get(), cancel, &other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  v1::ListExperimentsResponse bobs;
  ASSERT_TRUE(stub->ListExperiments(CallContext(kBob).get(),
                                    v1::ListExperimentsRequest(), &bobs)
                  .ok());
  EXPECT_EQ(bobs.experiments_size(), 0);
  // Unauthenticated callers are refused.
  s = stub->GetExperiment(CallContext("").get(), get, &other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // A finished experiment cannot be cancelled.
  s = stub->CancelExperiment(CallContext(kAlice).get(), cancel, &other);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST_F(WorkerE2eTest, RefusedSpecsNameEveryFieldAndStoreNothing) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  auto stub = cluster->Stub();
  v1::ExperimentSpec bad = SmallSpec(2, 2, 8);
  bad.mutable_conditions(1)->set_name("");
  bad.mutable_design()->set_repeats(0);
  absl::StatusOr<v1::Experiment> refused = Submit(stub.get(), bad);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("conditions[1].name"));
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("design.repeats"));

  v1::ExperimentSpec unknown_model = SmallSpec(2, 2, 8);
  unknown_model.set_model("galactica-125m");
  refused = Submit(stub.get(), unknown_model);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(std::string(refused.status().message()),
              HasSubstr("model: model 'galactica-125m' is not served"));

  v1::ListExperimentsResponse all;
  ASSERT_TRUE(stub->ListExperiments(CallContext(kAlice).get(),
                                    v1::ListExperimentsRequest(), &all)
                  .ok());
  EXPECT_EQ(all.experiments_size(), 0);
}

TEST_F(WorkerE2eTest, ReanalysisRunsFromTheStoreWithoutInference) {
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  auto stub = cluster->Stub();
  ASSERT_OK_AND_ASSIGN(v1::Experiment e,
                       Submit(stub.get(), SmallSpec(2, 2, 8)));
  ASSERT_OK_AND_ASSIGN(
      e, WaitForExperiment(stub.get(), kAlice, e.id(), absl::Minutes(3)));
  ASSERT_EQ(e.phase(), v1::PHASE_DONE) << e.error();
  cluster->KillInference();

  v1::ReanalyzeExperimentRequest request;
  request.set_experiment_id(e.id());
  // Token-level AR(1) (prompt-level inference has no time series to whiten).
  request.mutable_analysis()->set_inference(v1::InferenceLevel::TOKEN);
  request.mutable_analysis()->set_noise(v1::NoiseModel::AR1);
  request.mutable_analysis()->mutable_threshold()->set_method(
      v1::ThresholdSpec::BONFERRONI);
  request.mutable_analysis()->set_classify(true);
  v1::Experiment reanalyzing;
  grpc::Status s = stub->ReanalyzeExperiment(CallContext(kAlice).get(), request,
                                             &reanalyzing);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_OK_AND_ASSIGN(
      e, WaitForExperiment(stub.get(), kAlice, e.id(), absl::Minutes(3)));
  ASSERT_EQ(e.phase(), v1::PHASE_DONE) << e.error();
  EXPECT_EQ(e.spec().analysis().noise(), v1::NoiseModel::AR1);
  v1::ListNetworksRequest list;
  list.set_experiment_id(e.id());
  v1::ListNetworksResponse networks;
  ASSERT_TRUE(
      stub->ListNetworks(CallContext(kAlice).get(), list, &networks).ok());
  ASSERT_EQ(networks.networks_size(), 2);
  EXPECT_EQ(networks.networks(0).threshold_method(), "bonferroni");
  v1::GetStatMapRequest map_request;
  map_request.set_experiment_id(e.id());
  map_request.set_run_id(e.runs(0).id());
  v1::StatMap map;
  ASSERT_TRUE(
      stub->GetStatMap(CallContext(kAlice).get(), map_request, &map).ok());
  EXPECT_EQ(map.t_size(), e.layout().width());

  // Again at prompt level (level one streamed from the store) with a
  // permutation test over prompt labels.
  request.mutable_analysis()->set_inference(v1::InferenceLevel::PROMPT);
  request.mutable_analysis()->set_noise(v1::NoiseModel::OLS);
  request.mutable_analysis()->mutable_threshold()->set_method(
      v1::ThresholdSpec::PERMUTATION);
  request.mutable_analysis()->mutable_threshold()->set_permutations(200);
  s = stub->ReanalyzeExperiment(CallContext(kAlice).get(), request,
                                &reanalyzing);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_OK_AND_ASSIGN(
      e, WaitForExperiment(stub.get(), kAlice, e.id(), absl::Minutes(3)));
  ASSERT_EQ(e.phase(), v1::PHASE_DONE) << e.error();
  list.set_kind(v1::NETWORK_RUN);
  ASSERT_TRUE(
      stub->ListNetworks(CallContext(kAlice).get(), list, &networks).ok());
  ASSERT_EQ(networks.networks_size(), 4);
  for (const v1::NetworkSummary& n : networks.networks()) {
    EXPECT_EQ(n.threshold_method(), "permutation");
  }
  v1::StatMap ols_map;
  ASSERT_TRUE(
      stub->GetStatMap(CallContext(kAlice).get(), map_request, &ols_map).ok());
  ASSERT_EQ(ols_map.t_size(), map.t_size());
  EXPECT_NE(ols_map.t(0), map.t(0));  // prompt level, not the AR(1) map
  EXPECT_EQ(ols_map.dof(), 12 - 2);   // 4 task + 8 baseline prompts, 1 run
}

// Runs one experiment uninterrupted and the same spec again with `crash`
// applied mid-run; both must end with identical networks.
void ExpectSameNetworksAfterCrash(
    WorkerCluster* cluster, const std::function<void(WorkerCluster*)>& crash) {
  auto stub = cluster->Stub();
  const v1::ExperimentSpec spec = SmallSpec(3, 2, 24);
  v1::SubmitExperimentRequest request;
  *request.mutable_spec() = spec;
  v1::Experiment first;
  ASSERT_TRUE(
      stub->SubmitExperiment(CallContext(kAlice).get(), request, &first).ok());
  ASSERT_OK_AND_ASSIGN(first, WaitForExperiment(stub.get(), kAlice, first.id(),
                                                absl::Minutes(5)));
  ASSERT_EQ(first.phase(), v1::PHASE_DONE) << first.error();

  v1::Experiment second;
  ASSERT_TRUE(
      stub->SubmitExperiment(CallContext(kAlice).get(), request, &second).ok());
  // Crash once a run is done and the next one is streaming.
  const absl::Time deadline = absl::Now() + absl::Minutes(2);
  bool crashed = false;
  while (absl::Now() < deadline) {
    v1::GetExperimentRequest get;
    get.set_experiment_id(second.id());
    v1::Experiment now;
    ASSERT_TRUE(stub->GetExperiment(CallContext(kAlice).get(), get, &now).ok());
    bool streaming = false;
    for (const v1::Run& r : now.runs()) {
      streaming |= r.state() == v1::RUN_RUNNING && r.tokens_generated() > 0;
    }
    ASSERT_NE(now.phase(), v1::PHASE_DONE) << "finished before the crash";
    if (now.progress().runs_done() >= 1 && streaming) {
      crash(cluster);
      crashed = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(crashed);
  stub = cluster->Stub();
  ASSERT_OK_AND_ASSIGN(
      second,
      WaitForExperiment(stub.get(), kAlice, second.id(), absl::Minutes(5)));
  ASSERT_EQ(second.phase(), v1::PHASE_DONE) << second.error();
  EXPECT_EQ(second.progress().runs_done(), 6);
  EXPECT_EQ(second.progress().tokens_done(), second.progress().tokens_total());
  // Nothing duplicated: one activation file per run, every file complete.
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(
           cluster->data_dir() + "/activations/experiment-" +
           std::to_string(second.id()))) {
    EXPECT_EQ(entry.path().extension(), ".fnpact") << entry.path();
    ++files;
  }
  EXPECT_EQ(files, 6);
  EXPECT_EQ(ConditionUnits(stub.get(), second.id()),
            ConditionUnits(stub.get(), first.id()));
  // On a random model prompt-level networks are (rightly) empty, so the
  // maps behind them are compared too, value for value.
  const auto expected = ConditionT(stub.get(), first);
  EXPECT_EQ(ConditionT(stub.get(), second), expected);
  double largest = 0;
  for (const auto& [condition, t] : expected) {
    for (double v : t) largest = std::max(largest, std::abs(v));
  }
  EXPECT_GT(largest, 1.0) << "maps are flat: the comparison proves little";
}

TEST_F(WorkerE2eTest, WorkerKilledMidRunCompletesWithTheSameNetworks) {
  // One run at a time, so that batches (and so every value) are the same in
  // both experiments.
  auto cluster = StartCluster({"--max-concurrent-runs", "1"});
  ASSERT_NE(cluster, nullptr);
  ExpectSameNetworksAfterCrash(cluster.get(), [](WorkerCluster* c) {
    c->KillWorker();
    ASSERT_OK(c->StartWorker());
  });
  std::ifstream log(cluster->worker_log());
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("1 interrupted run(s) will be redone"));
}

TEST_F(WorkerE2eTest, InferenceKilledMidRunIsRetriedWithTheSameNetworks) {
  auto cluster = StartCluster({"--max-concurrent-runs", "1"});
  ASSERT_NE(cluster, nullptr);
  ExpectSameNetworksAfterCrash(cluster.get(), [](WorkerCluster* c) {
    c->KillInference();
    // The worker retries with backoff while the server is down.
    std::this_thread::sleep_for(std::chrono::seconds(2));
    ASSERT_OK(c->StartInference());
  });
  std::ifstream log(cluster->worker_log());
  std::stringstream text;
  text << log.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("retrying in"));
}

}  // namespace
}  // namespace fnprobe
