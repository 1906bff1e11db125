// The fixture shared by the tests of the worker's stores (ExperimentStore,
// ResultStore, ResultQueries): a WorkerStore on a real SQLite file in a
// temporary directory, the small two-condition experiment, and a hand-made
// analysis whose numbers the tests check.
#ifndef FNPROBE_TESTS_ANALYSIS_WORKER_STORE_TEST_FIXTURE_H_
#define FNPROBE_TESTS_ANALYSIS_WORKER_STORE_TEST_FIXTURE_H_

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <google/protobuf/util/message_differencer.h>
#include <time.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/experiment_analysis.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/p_values.h"
#include "server/analysis/run_planner.h"
#include "server/analysis/storage/embedded_migrations.h"
#include "server/analysis/worker/worker_store.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::worker::store_test {

using ::fnprobe::testing::ScopedTempDir;
using ::fnprobe::testing::StatusIs;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointwise;

inline constexpr char kAlice[] = "alice";

inline constexpr char kBob[] = "bob";

inline std::vector<std::string> Pool(const std::string& stem, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(absl::StrCat(stem, " ", i));
  return out;
}

// Two conditions x three repeats of baseline/task/baseline, two prompts per
// block, four tokens per prompt: six runs of 24 time points.
inline v1::ExperimentSpec SmallSpec(const std::string& name = "topics") {
  v1::ExperimentSpec spec;
  spec.set_name(name);
  spec.set_model("tiny-model");
  spec.mutable_generation()->set_tokens_per_prompt(4);
  spec.mutable_generation()->set_seed(7);
  spec.mutable_baseline()->set_name("rest");
  for (const std::string& p : Pool("Tell me about sailing", 12)) {
    spec.mutable_baseline()->add_prompts(p);
  }
  for (const char* condition : {"alpha", "beta"}) {
    v1::PromptPool* pool = spec.add_conditions();
    pool->set_name(condition);
    for (const std::string& p : Pool(absl::StrCat(condition, " prompt"), 8)) {
      pool->add_prompts(p);
    }
  }
  v1::BlockDesign* d = spec.mutable_design();
  for (const char* b : {"baseline", "task", "baseline"}) d->add_pattern(b);
  d->set_prompts_per_block(2);
  d->set_repeats(3);
  spec.mutable_analysis()->set_classify(true);
  EXPECT_OK(ValidateSpec(spec));
  return WithDefaults(spec);
}

// 20 units: embed 0-3, blocks.0.mlp_post 4-9, blocks.1.mlp_post 10-15,
// final_norm 16-19.
inline Layout SmallLayout() {
  return Layout({{"embed", 4},
                 {"blocks.0.mlp_post", 6},
                 {"blocks.1.mlp_post", 6},
                 {"final_norm", 4}});
}

// A synthetic map: variance 1, so t = effect; p falls with |t|.
inline analysis::StatMap MakeMap(int64_t units, double seed,
                                 const std::string& contrast = "alpha > rest") {
  analysis::StatMap map;
  map.contrast = contrast;
  map.effect.set_size(units);
  for (int64_t i = 0; i < units; ++i) {
    map.effect[i] = std::sin(seed * 1.7 + 0.37 * static_cast<double>(i)) * 3;
  }
  map.variance = arma::ones<arma::vec>(units);
  map.t = map.effect;
  map.dof = 20 + seed;
  // Cheap and in [0, 1]: exact p-values would dominate the large test.
  map.p = arma::exp(-arma::abs(map.t));
  return map;
}

inline void ExpectSameMap(const analysis::StatMap& a,
                          const analysis::StatMap& b) {
  EXPECT_EQ(a.contrast, b.contrast);
  EXPECT_EQ(a.noise_model, b.noise_model);
  EXPECT_DOUBLE_EQ(a.dof, b.dof);
  EXPECT_TRUE(arma::approx_equal(a.effect, b.effect, "absdiff", 0));
  EXPECT_TRUE(arma::approx_equal(a.variance, b.variance, "absdiff", 0));
  EXPECT_TRUE(arma::approx_equal(a.t, b.t, "absdiff", 0));
  EXPECT_TRUE(arma::approx_equal(a.p, b.p, "absdiff", 0));
}

inline std::vector<double> Vec(const arma::vec& v) {
  return std::vector<double>(v.begin(), v.end());
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  std::string DbPath() const { return dir_.path() + "/worker.db"; }

  void Reopen() {
    store_.reset();
    auto store = WorkerStore::Open(DbPath());
    ASSERT_OK(store);
    store_ = *std::move(store);
  }

  // Creates the small experiment for `user`; fills run_ids_ (plan order).
  int64_t Create(const std::string& user = kAlice,
                 const std::string& name = "topics") {
    spec_ = SmallSpec(name);
    plans_ = PlanRuns(spec_);
    auto id = store_->experiments().CreateExperiment(user, spec_, plans_);
    EXPECT_OK(id);
    auto runs = store_->experiments().ListRuns(*id);
    EXPECT_OK(runs);
    run_ids_.clear();
    for (const RunRow& run : *runs) run_ids_.push_back(run.id);
    return *id;
  }

  FinishedRun Finished(int index, const Layout& layout) {
    FinishedRun run;
    run.file.path = absl::StrCat(dir_.path(), "/run", run_ids_[index], ".act");
    run.file.checksum = absl::StrCat("crc32c:0000000", index);
    run.file.rows = plans_[index].time_points;
    run.file.overflow_count = index;
    run.layout = layout;
    run.capture_dtype = DType::kF16;
    run.time_points = plans_[index].time_points;
    for (int p = 0; p < 2; ++p) {
      for (int s = 0; s < 4; ++s) {
        run.tokens.push_back({p, s, 100 + p * 10 + s, absl::StrCat("t", s)});
      }
    }
    run.map = MakeMap(layout.width(), index,
                      absl::StrCat(plans_[index].condition_name, " > rest"));
    run.permutation_threshold = 3.5 + index;
    return run;
  }

  absl::Status RunToDone(int index, const Layout& layout) {
    absl::Status s = store_->experiments().MarkRunStarted(run_ids_[index]);
    if (!s.ok()) return s;
    return store_->experiments().MarkRunDone(run_ids_[index],
                                             Finished(index, layout));
  }

  void FinishAll(const Layout& layout) {
    for (size_t i = 0; i < run_ids_.size(); ++i) {
      ASSERT_OK(RunToDone(static_cast<int>(i), layout));
    }
  }

  // The result of a hand-made analysis over SmallLayout (see the tests for
  // the numbers it implies). Plan order: runs 0, 2, 4 are alpha; 1, 3, 5 beta.
  analysis::AnalysisResult HandResult() const {
    analysis::AnalysisResult r;
    r.condition_maps = {MakeMap(20, 10, "alpha > rest"),
                        MakeMap(20, 11, "beta > rest"),
                        MakeMap(20, 12, "alpha > rest")};
    const auto net = [](analysis::NetworkKind kind, const std::string& c,
                        std::vector<int64_t> units, std::vector<double> t,
                        int map_index) {
      analysis::Network n;
      n.kind = kind;
      n.condition = c;
      n.contrast = c + " > rest";
      n.threshold_method = "fdr";
      n.alpha = 0.05;
      n.threshold = 2.5;
      n.dof = 30;
      n.units = std::move(units);
      n.t = std::move(t);
      for (double x : n.t) {
        n.beta.push_back(x / 2);
        n.p.push_back(0.001 * std::fabs(x));
        n.q.push_back(0.002 * std::fabs(x));
      }
      n.map_index = map_index;
      return n;
    };
    using K = analysis::NetworkKind;
    r.networks.push_back(
        net(K::kCondition, "alpha", {0, 5, 11, 19}, {3, -5, 4, 2.5}, 0));
    r.networks.push_back(net(K::kCondition, "beta", {5, 6, 12}, {3, 3, 3}, 1));
    r.networks.push_back(net(K::kRun, "alpha", {0, 5}, {3, 4}, 0));
    r.networks.push_back(net(K::kRun, "alpha", {5, 11}, {3, 4}, 2));
    r.networks.push_back(net(K::kRun, "alpha", {0, 5, 11}, {3, 4, 5}, 4));
    r.networks.push_back(net(K::kRun, "beta", {6}, {3}, 1));
    r.networks.push_back(net(K::kLeaveOneOut, "alpha", {5, 11}, {6, 7}, 2));
    r.networks[2].run_id = run_ids_[0];
    r.networks[3].run_id = run_ids_[2];
    r.networks[4].run_id = run_ids_[4];
    r.networks[5].run_id = run_ids_[1];
    r.networks[6].excluded_run_id = run_ids_[0];
    r.overlaps.push_back({0, 1, 1, 2.0 / 7, 1.0 / 6});
    r.overlaps.push_back({2, 3, 1, 0.5, 1.0 / 3});
    analysis::HeldOutResult h;
    h.run_id = run_ids_[0];
    h.true_condition = "alpha";
    h.predicted = "alpha";
    h.predicted_by_correlation = "beta";
    h.scores = {{"alpha", 6, 2.0, 0.5}, {"beta", 1, 0.1, 0.7}};
    r.held_out.push_back(h);
    return r;
  }

  // An experiment of alice with every run done and HandResult saved.
  int64_t Analyzed() {
    const int64_t id = Create();
    FinishAll(SmallLayout());
    EXPECT_OK(store_->results().SaveAnalysis(id, HandResult(), SmallLayout()));
    return id;
  }

  int64_t Count(const std::string& sql) {
    SQLite::Database db(DbPath());
    return db.execAndGet(sql).getInt64();
  }

  ScopedTempDir dir_;
  std::unique_ptr<WorkerStore> store_;
  v1::ExperimentSpec spec_;
  std::vector<RunPlan> plans_;
  std::vector<int64_t> run_ids_;
};

}  // namespace fnprobe::worker::store_test

#endif  // FNPROBE_TESTS_ANALYSIS_WORKER_STORE_TEST_FIXTURE_H_
