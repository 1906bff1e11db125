#include "server/analysis/worker/experiment_store.h"

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
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::worker {
namespace {

using ::fnprobe::testing::ScopedTempDir;
using ::fnprobe::testing::StatusIs;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pointwise;

constexpr char kAlice[] = "alice";
constexpr char kBob[] = "bob";

std::vector<std::string> Pool(const std::string& stem, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(absl::StrCat(stem, " ", i));
  return out;
}

// Two conditions x three repeats of baseline/task/baseline, two prompts per
// block, four tokens per prompt: six runs of 24 time points.
v1::ExperimentSpec SmallSpec(const std::string& name = "topics") {
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
Layout SmallLayout() {
  return Layout({{"embed", 4},
                 {"blocks.0.mlp_post", 6},
                 {"blocks.1.mlp_post", 6},
                 {"final_norm", 4}});
}

// A synthetic map: variance 1, so t = effect; p falls with |t|.
analysis::StatMap MakeMap(int64_t units, double seed,
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

void ExpectSameMap(const analysis::StatMap& a, const analysis::StatMap& b) {
  EXPECT_EQ(a.contrast, b.contrast);
  EXPECT_EQ(a.noise_model, b.noise_model);
  EXPECT_DOUBLE_EQ(a.dof, b.dof);
  EXPECT_TRUE(arma::approx_equal(a.effect, b.effect, "absdiff", 0));
  EXPECT_TRUE(arma::approx_equal(a.variance, b.variance, "absdiff", 0));
  EXPECT_TRUE(arma::approx_equal(a.t, b.t, "absdiff", 0));
  EXPECT_TRUE(arma::approx_equal(a.p, b.p, "absdiff", 0));
}

std::vector<double> Vec(const arma::vec& v) {
  return std::vector<double>(v.begin(), v.end());
}

class ExperimentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }

  std::string DbPath() const { return dir_.path() + "/worker.db"; }

  void Reopen() {
    store_.reset();
    auto store = ExperimentStore::Open(DbPath());
    ASSERT_OK(store);
    store_ = *std::move(store);
  }

  // Creates the small experiment for `user`; fills run_ids_ (plan order).
  int64_t Create(const std::string& user = kAlice,
                 const std::string& name = "topics") {
    spec_ = SmallSpec(name);
    plans_ = PlanRuns(spec_);
    auto id = store_->CreateExperiment(user, spec_, plans_);
    EXPECT_OK(id);
    auto runs = store_->ListRuns(*id);
    EXPECT_OK(runs);
    run_ids_.clear();
    for (const v1::Run& run : *runs) run_ids_.push_back(run.id());
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
    absl::Status s = store_->MarkRunStarted(run_ids_[index]);
    if (!s.ok()) return s;
    return store_->MarkRunDone(run_ids_[index], Finished(index, layout));
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
    EXPECT_OK(store_->SaveAnalysis(id, HandResult(), SmallLayout()));
    return id;
  }

  int64_t Count(const std::string& sql) {
    SQLite::Database db(DbPath());
    return db.execAndGet(sql).getInt64();
  }

  ScopedTempDir dir_;
  std::unique_ptr<ExperimentStore> store_;
  v1::ExperimentSpec spec_;
  std::vector<RunPlan> plans_;
  std::vector<int64_t> run_ids_;
};

// --- experiments ---

TEST_F(ExperimentStoreTest, CreateStoresSpecRunsAndEvents) {
  const int64_t id = Create();
  auto e = store_->GetExperiment(id, kAlice);
  ASSERT_OK(e);
  EXPECT_EQ(e->id(), id);
  EXPECT_EQ(e->name(), "topics");
  EXPECT_EQ(e->owner(), kAlice);
  EXPECT_EQ(e->model(), "tiny-model");
  EXPECT_EQ(e->phase(), v1::PHASE_QUEUED);
  EXPECT_TRUE(MessageDifferencer::Equals(e->spec(), spec_))
      << e->spec().DebugString();
  EXPECT_THAT(e->created_at(), HasSubstr("T"));
  EXPECT_EQ(e->started_at(), "");
  EXPECT_FALSE(e->has_layout());
  ASSERT_EQ(e->runs_size(), 6);
  for (int i = 0; i < 6; ++i) {
    const v1::Run& run = e->runs(i);
    EXPECT_EQ(run.index(), i);
    EXPECT_EQ(run.condition(), plans_[i].condition_name);
    EXPECT_EQ(run.repeat(), plans_[i].repeat);
    EXPECT_EQ(run.state(), v1::RUN_PENDING);
    EXPECT_EQ(run.time_points(), 24);
    EXPECT_EQ(run.attempts(), 0);
  }
  EXPECT_EQ(e->progress().experiment_id(), id);
  EXPECT_EQ(e->progress().phase(), v1::PHASE_QUEUED);
  EXPECT_EQ(e->progress().runs_total(), 6);
  EXPECT_EQ(e->progress().runs_done(), 0);
  EXPECT_EQ(e->progress().tokens_total(), 6 * 24);
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 6 * 3);
  EXPECT_EQ(Count("SELECT count(*) FROM events WHERE prompt_index = 2 AND "
                  "trial_type <> 'rest'"),
            6);
}

TEST_F(ExperimentStoreTest, CreateRefusesNoPlansAndWritesNothing) {
  EXPECT_THAT(store_->CreateExperiment(kAlice, SmallSpec(), {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Count("SELECT count(*) FROM experiments"), 0);
}

TEST_F(ExperimentStoreTest, EmptyUserIsAnonymousAndEmptyReaderIsAnyone) {
  const int64_t id = Create("");
  auto e = store_->GetExperiment(id, "");
  ASSERT_OK(e);
  EXPECT_EQ(e->owner(), kAnonymousUser);
  EXPECT_OK(store_->GetExperiment(id, kAnonymousUser));
  EXPECT_THAT(store_->GetExperiment(id, kAlice),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ExperimentStoreTest, GetWithoutRunsStillHasProgress) {
  const int64_t id = Create();
  ASSERT_OK(RunToDone(0, SmallLayout()));
  ASSERT_OK(store_->MarkRunStarted(run_ids_[1]));
  ASSERT_OK(store_->SetRunTokens(run_ids_[1], 10));
  for (bool include_runs : {true, false}) {
    auto e = store_->GetExperiment(id, kAlice, include_runs);
    ASSERT_OK(e);
    EXPECT_EQ(e->runs_size(), include_runs ? 6 : 0);
    EXPECT_EQ(e->progress().runs_done(), 1);
    EXPECT_EQ(e->progress().tokens_done(), 24 + 10);
    EXPECT_EQ(e->progress().tokens_total(), 144);
    // The layout is known once a run is done.
    EXPECT_EQ(e->layout().hooks_size(), 4);
    EXPECT_EQ(e->layout().hash(), SmallLayout().hash());
    EXPECT_EQ(e->layout().width(), 20);
  }
}

TEST_F(ExperimentStoreTest, MissingExperimentIsNotFoundNamingIt) {
  EXPECT_THAT(store_->GetExperiment(42, kAlice),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("experiment 42 not found")));
  EXPECT_THAT(store_->ListRuns(42), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->SetPhase(42, v1::PHASE_DONE),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->ExperimentLayout(42),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ExperimentStoreTest, ListExperimentsPagesNewestFirstPerUser) {
  std::vector<int64_t> mine;
  for (int i = 0; i < 5; ++i) {
    mine.push_back(Create(kAlice, absl::StrCat("exp", i)));
    if (i == 2) Create(kBob, "bobs");
  }
  std::vector<int64_t> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = store_->ListExperiments(kAlice, 2, token);
    ASSERT_OK(page);
    ++pages;
    EXPECT_LE(page->experiments_size(), 2);
    for (const v1::Experiment& e : page->experiments()) {
      seen.push_back(e.id());
      EXPECT_EQ(e.owner(), kAlice);
      EXPECT_EQ(e.runs_size(), 0);
      EXPECT_EQ(e.progress().runs_total(), 6);
      // Prompts are left out; the pools keep their names.
      EXPECT_EQ(e.spec().baseline().prompts_size(), 0);
      EXPECT_EQ(e.spec().baseline().name(), "rest");
      ASSERT_EQ(e.spec().conditions_size(), 2);
      EXPECT_EQ(e.spec().conditions(1).name(), "beta");
      EXPECT_EQ(e.spec().conditions(1).prompts_size(), 0);
    }
    token = page->next_page_token();
  } while (!token.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAre(mine[4], mine[3], mine[2], mine[1], mine[0]));

  auto all = store_->ListExperiments("", 0, "");
  ASSERT_OK(all);
  EXPECT_EQ(all->experiments_size(), 6);
  EXPECT_EQ(all->next_page_token(), "");
  auto bobs = store_->ListExperiments(kBob, 0, "");
  ASSERT_OK(bobs);
  ASSERT_EQ(bobs->experiments_size(), 1);
  EXPECT_EQ(bobs->experiments(0).name(), "bobs");

  EXPECT_THAT(store_->ListExperiments(kAlice, 2, "bogus"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bogus")));
  EXPECT_THAT(store_->ListExperiments(kAlice, 2, "-3"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->ListExperiments(kAlice, -1, ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Oversized pages are capped, not refused.
  EXPECT_OK(store_->ListExperiments(kAlice, 100000, ""));
}

TEST_F(ExperimentStoreTest, PhasesSetTimestampsAndErrors) {
  const int64_t id = Create();
  const int64_t other = Create(kBob, "other");
  auto unfinished = store_->UnfinishedExperiments();
  ASSERT_OK(unfinished);
  EXPECT_THAT(*unfinished, ElementsAre(id, other));

  ASSERT_OK(store_->SetPhase(id, v1::PHASE_GENERATING));
  auto e = store_->GetExperiment(id, kAlice, false);
  ASSERT_OK(e);
  EXPECT_EQ(e->phase(), v1::PHASE_GENERATING);
  const std::string started = e->started_at();
  EXPECT_NE(started, "");
  EXPECT_EQ(e->finished_at(), "");
  // started_at is set once.
  ASSERT_OK(store_->SetPhase(id, v1::PHASE_GENERATING));
  EXPECT_EQ(store_->GetExperiment(id, kAlice, false)->started_at(), started);

  EXPECT_THAT(store_->SetPhase(id, v1::PHASE_FAILED),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->SetPhase(id, v1::PHASE_UNSPECIFIED),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(store_->SetPhase(id, v1::PHASE_FAILED, "inference unreachable"));
  e = store_->GetExperiment(id, kAlice, false);
  EXPECT_EQ(e->phase(), v1::PHASE_FAILED);
  EXPECT_EQ(e->error(), "inference unreachable");
  EXPECT_EQ(e->progress().error(), "inference unreachable");
  EXPECT_NE(e->finished_at(), "");

  ASSERT_OK(store_->SetPhase(other, v1::PHASE_ANALYZING));
  unfinished = store_->UnfinishedExperiments();
  EXPECT_THAT(*unfinished, ElementsAre(other));
  ASSERT_OK(store_->SetPhase(other, v1::PHASE_DONE));
  e = store_->GetExperiment(other, "", false);
  EXPECT_EQ(e->phase(), v1::PHASE_DONE);
  EXPECT_EQ(e->error(), "");
  EXPECT_TRUE(store_->UnfinishedExperiments()->empty());
  // Terminal phases are final (a cancellation used to overwrite done).
  EXPECT_THAT(store_->SetPhase(other, v1::PHASE_CANCELLED),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("cannot become PHASE_CANCELLED")));
  EXPECT_EQ(store_->GetExperiment(other, "", false)->phase(), v1::PHASE_DONE);
  for (v1::ExperimentPhase phase : {v1::PHASE_GENERATING, v1::PHASE_ANALYZING,
                                    v1::PHASE_DONE, v1::PHASE_CANCELLED}) {
    EXPECT_THAT(store_->SetPhase(id, phase),
                StatusIs(absl::StatusCode::kFailedPrecondition));
  }
  e = store_->GetExperiment(id, kAlice, false);
  EXPECT_EQ(e->phase(), v1::PHASE_FAILED);
  EXPECT_EQ(e->error(), "inference unreachable");
}

TEST_F(ExperimentStoreTest, EndExperimentEndsItsRunsTogether) {
  const int64_t id = Create();
  ASSERT_OK(RunToDone(0, SmallLayout()));
  ASSERT_OK(store_->StartRun(id, run_ids_[1]));
  EXPECT_THAT(store_->EndExperiment(id, v1::PHASE_DONE),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->EndExperiment(id, v1::PHASE_FAILED, ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(
      store_->EndExperiment(id, v1::PHASE_FAILED, "server gone", run_ids_[1]));
  auto e = store_->GetExperiment(id, kAlice);
  ASSERT_OK(e);
  EXPECT_EQ(e->phase(), v1::PHASE_FAILED);
  EXPECT_EQ(e->error(), "server gone");
  EXPECT_EQ(e->runs(0).state(), v1::RUN_DONE);
  EXPECT_EQ(e->runs(1).state(), v1::RUN_FAILED);
  EXPECT_EQ(e->runs(1).error(), "server gone");
  for (int i = 2; i < e->runs_size(); ++i) {
    EXPECT_EQ(e->runs(i).state(), v1::RUN_CANCELLED);
  }
  // The first end stands.
  EXPECT_THAT(store_->EndExperiment(id, v1::PHASE_CANCELLED),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(store_->GetExperiment(id, kAlice, false)->phase(),
            v1::PHASE_FAILED);
}

// A run scheduled before a cancellation must not reopen the experiment
// (SetPhase(GENERATING) used to overwrite cancelled, then the run failed to
// start and the experiment ended failed, or stayed running).
TEST_F(ExperimentStoreTest, NoRunStartsOnceTheExperimentEnded) {
  const int64_t other = Create(kAlice, "other");
  const int64_t id = Create();  // run_ids_ are id's
  ASSERT_OK(store_->StartRun(id, run_ids_[0]));
  EXPECT_EQ(store_->GetExperiment(id, kAlice, false)->phase(),
            v1::PHASE_GENERATING);
  EXPECT_THAT(store_->StartRun(other, run_ids_[0]),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(store_->EndExperiment(id, v1::PHASE_CANCELLED));
  EXPECT_THAT(store_->StartRun(id, run_ids_[1]),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store_->MarkRunDone(run_ids_[0], Finished(0, SmallLayout())),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  auto e = store_->GetExperiment(id, kAlice);
  EXPECT_EQ(e->phase(), v1::PHASE_CANCELLED);
  for (const v1::Run& run : e->runs()) {
    EXPECT_EQ(run.state(), v1::RUN_CANCELLED);
  }
}

TEST_F(ExperimentStoreTest, FinishAnalysisOnlyForAnAnalyzingCompleteRun) {
  const int64_t id = Create();
  for (int i = 0; i + 1 < static_cast<int>(run_ids_.size()); ++i) {
    ASSERT_OK(RunToDone(i, SmallLayout()));
  }
  ASSERT_OK(store_->SetPhase(id, v1::PHASE_ANALYZING));
  EXPECT_THAT(store_->FinishAnalysis(id, HandResult(), SmallLayout()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("1 run(s) not done")));
  ASSERT_OK(RunToDone(static_cast<int>(run_ids_.size()) - 1, SmallLayout()));
  ASSERT_OK(store_->EndExperiment(id, v1::PHASE_CANCELLED));
  // Cancelled first: the analysis is not stored.
  EXPECT_THAT(store_->FinishAnalysis(id, HandResult(), SmallLayout()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("PHASE_CANCELLED")));
  EXPECT_EQ(Count("SELECT count(*) FROM networks"), 0);
  EXPECT_EQ(store_->GetExperiment(id, kAlice, false)->phase(),
            v1::PHASE_CANCELLED);

  const int64_t done = Create(kAlice, "done");
  FinishAll(SmallLayout());
  ASSERT_OK(store_->SetPhase(done, v1::PHASE_ANALYZING));
  ASSERT_OK(store_->FinishAnalysis(done, HandResult(), SmallLayout()));
  EXPECT_EQ(store_->GetExperiment(done, kAlice, false)->phase(),
            v1::PHASE_DONE);
  EXPECT_EQ(Count("SELECT count(*) FROM networks"), 7);
  // Analyzing again (a re-analysis) is the only way out of done.
  ASSERT_OK(store_->SetPhase(done, v1::PHASE_ANALYZING));
  ASSERT_OK(store_->FinishAnalysis(done, HandResult(), SmallLayout()));
  EXPECT_EQ(Count("SELECT count(*) FROM networks"), 7);
}

TEST_F(ExperimentStoreTest, SetAnalysisSpecReplacesAnalysisAndEvents) {
  const int64_t id = Create();
  v1::AnalysisSpec analysis = spec_.analysis();
  analysis.set_inference(v1::InferenceLevel::TOKEN);  // AR(1) is token-level
  analysis.set_noise(v1::NoiseModel::AR1);
  analysis.set_tokens_per_second(2);
  analysis.mutable_threshold()->set_alpha(0);  // Defaults are applied.
  ASSERT_OK(store_->SetAnalysisSpec(id, analysis));
  auto e = store_->GetExperiment(id, kAlice);
  ASSERT_OK(e);
  EXPECT_EQ(e->spec().analysis().noise(), v1::NoiseModel::AR1);
  EXPECT_DOUBLE_EQ(e->spec().analysis().threshold().alpha(), 0.05);
  EXPECT_EQ(e->spec().conditions(0).prompts_size(), 8);
  // Events are in seconds: twice the tokens per second halves them.
  v1::ExperimentSpec respec = e->spec();
  const std::vector<RunPlan> plans = PlanRuns(respec);
  v1::GetRunEventsRequest request;
  request.set_experiment_id(id);
  request.set_run_index(3);
  auto events = store_->GetRunEvents(request, kAlice);
  ASSERT_OK(events);
  ASSERT_EQ(events->events_size(), 3);
  EXPECT_DOUBLE_EQ(events->events(1).onset(), plans_[3].events[1].onset / 2);
  EXPECT_EQ(events->events_tsv(), EventsTsv(plans[3]));

  analysis.set_drift_order(99);  // Invalid: refused, nothing changes.
  EXPECT_THAT(
      store_->SetAnalysisSpec(id, analysis),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("driftOrder")));
  EXPECT_EQ(store_->GetExperiment(id, kAlice)->spec().analysis().drift_order(),
            3);
  EXPECT_THAT(store_->SetAnalysisSpec(99, analysis),
              StatusIs(absl::StatusCode::kNotFound));
}

// --- runs ---

TEST_F(ExperimentStoreTest, RunLifecycle) {
  Create();
  const int64_t run = run_ids_[0];
  EXPECT_THAT(
      store_->SetRunTokens(run, 3),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("pending")));
  EXPECT_THAT(store_->MarkRunDone(run, Finished(0, SmallLayout())),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK(store_->MarkRunStarted(run));
  ASSERT_OK(store_->SetRunTokens(run, 7));
  // A retried stream starts again from zero and counts another attempt.
  ASSERT_OK(store_->MarkRunStarted(run));
  auto runs = store_->ListRuns(store_->UnfinishedExperiments()->at(0));
  ASSERT_OK(runs);
  EXPECT_EQ((*runs)[0].state(), v1::RUN_RUNNING);
  EXPECT_EQ((*runs)[0].attempts(), 2);
  EXPECT_EQ((*runs)[0].tokens_generated(), 0);
  EXPECT_THAT(store_->SetRunTokens(run, -1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->MarkRunStarted(12345),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("run 12345")));

  ASSERT_OK(store_->MarkRunDone(run, Finished(0, SmallLayout())));
  runs = store_->ListRuns(store_->UnfinishedExperiments()->at(0));
  const v1::Run& done = (*runs)[0];
  EXPECT_EQ(done.state(), v1::RUN_DONE);
  EXPECT_EQ(done.tokens_generated(), 24);
  EXPECT_EQ(done.overflow_count(), 0);
  EXPECT_EQ(done.activation_path(), Finished(0, SmallLayout()).file.path);
  EXPECT_EQ(done.activation_checksum(), "crc32c:00000000");
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM generations WHERE "
                               "run_id = ",
                               run)),
            8);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM runs WHERE id = ", run,
                               " AND capture_dtype = 'F16' AND num_units = 20 "
                               "AND layout_hash = '",
                               SmallLayout().HashHex(), "'")),
            1);
  EXPECT_THAT(
      store_->MarkRunStarted(run),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("done")));
}

TEST_F(ExperimentStoreTest, MarkRunDoneTwiceIsAlreadyExistsAndWritesOnce) {
  Create();
  ASSERT_OK(RunToDone(0, SmallLayout()));
  FinishedRun again = Finished(0, SmallLayout());
  again.file.path += ".other";
  EXPECT_THAT(
      store_->MarkRunDone(run_ids_[0], again),
      StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already done")));
  EXPECT_EQ(Count("SELECT count(*) FROM generations"), 8);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE activation_path LIKE "
                  "'%.other'"),
            0);
}

TEST_F(ExperimentStoreTest, MarkRunDoneIsAtomic) {
  Create();
  ASSERT_OK(store_->MarkRunStarted(run_ids_[0]));
  FinishedRun run = Finished(0, SmallLayout());
  run.tokens.push_back(run.tokens.front());  // Duplicate key: insert fails.
  EXPECT_THAT(store_->MarkRunDone(run_ids_[0], run),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(Count("SELECT count(*) FROM generations"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE status = 'running'"), 1);
  // And it can still finish properly.
  EXPECT_OK(store_->MarkRunDone(run_ids_[0], Finished(0, SmallLayout())));
}

TEST_F(ExperimentStoreTest, MarkRunDoneValidatesItsInput) {
  Create();
  ASSERT_OK(store_->MarkRunStarted(run_ids_[0]));
  FinishedRun run = Finished(0, SmallLayout());
  run.map = MakeMap(19, 0);
  EXPECT_THAT(store_->MarkRunDone(run_ids_[0], run),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("19")));
  run = Finished(0, SmallLayout());
  run.capture_dtype = DType::kI8;
  EXPECT_THAT(store_->MarkRunDone(run_ids_[0], run),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("I8")));
  run = Finished(0, SmallLayout());
  run.file.checksum.clear();
  EXPECT_THAT(store_->MarkRunDone(run_ids_[0], run),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Another layout than the experiment's first run's is refused.
  ASSERT_OK(store_->MarkRunDone(run_ids_[0], Finished(0, SmallLayout())));
  ASSERT_OK(store_->MarkRunStarted(run_ids_[1]));
  const Layout other({{"embed", 20}});
  EXPECT_THAT(
      store_->MarkRunDone(run_ids_[1], Finished(1, other)),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("layout")));
}

TEST_F(ExperimentStoreTest, MarkRunFinishedAndCancel) {
  const int64_t id = Create();
  EXPECT_THAT(store_->MarkRunFinished(run_ids_[0], v1::RUN_FAILED, ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->MarkRunFinished(run_ids_[0], v1::RUN_DONE, ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(store_->MarkRunStarted(run_ids_[0]));
  ASSERT_OK(store_->MarkRunFinished(run_ids_[0], v1::RUN_FAILED, "boom"));
  ASSERT_OK(RunToDone(1, SmallLayout()));
  ASSERT_OK(store_->MarkRunStarted(run_ids_[2]));
  ASSERT_OK(store_->CancelPendingRuns(id));
  auto runs = store_->ListRuns(id);
  ASSERT_OK(runs);
  EXPECT_EQ((*runs)[0].state(), v1::RUN_FAILED);
  EXPECT_EQ((*runs)[0].error(), "boom");
  EXPECT_EQ((*runs)[1].state(), v1::RUN_DONE);
  for (int i = 2; i < 6; ++i) EXPECT_EQ((*runs)[i].state(), v1::RUN_CANCELLED);
  EXPECT_THAT(store_->MarkRunFinished(run_ids_[1], v1::RUN_CANCELLED, ""),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_OK(store_->CancelPendingRuns(id));  // Nothing left: still OK.
  EXPECT_THAT(store_->CancelPendingRuns(999),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ExperimentStoreTest, ResetInterruptedRuns) {
  const int64_t id = Create();
  ASSERT_OK(store_->MarkRunStarted(run_ids_[0]));
  ASSERT_OK(store_->SetRunTokens(run_ids_[0], 11));
  ASSERT_OK(store_->MarkRunStarted(run_ids_[3]));
  ASSERT_OK(RunToDone(1, SmallLayout()));
  // A restart: a new store on the same file.
  Reopen();
  auto reset = store_->ResetInterruptedRuns();
  ASSERT_OK(reset);
  EXPECT_EQ(*reset, 2);
  auto runs = store_->ListRuns(id);
  ASSERT_OK(runs);
  EXPECT_EQ((*runs)[0].state(), v1::RUN_PENDING);
  EXPECT_EQ((*runs)[0].tokens_generated(), 0);
  EXPECT_EQ((*runs)[0].attempts(), 1);  // Attempts survive.
  EXPECT_EQ((*runs)[3].state(), v1::RUN_PENDING);
  EXPECT_EQ((*runs)[1].state(), v1::RUN_DONE);
  EXPECT_EQ(*store_->ResetInterruptedRuns(), 0);
}

// --- analysis inputs ---

TEST_F(ExperimentStoreTest, LoadRunInputsInPlanOrder) {
  const int64_t id = Create();
  for (int i : {4, 1, 3}) ASSERT_OK(RunToDone(i, SmallLayout()));
  auto inputs = store_->LoadRunInputs(id);
  ASSERT_OK(inputs);
  ASSERT_EQ(inputs->size(), 3u);
  const int expected[] = {1, 3, 4};
  for (int k = 0; k < 3; ++k) {
    const analysis::RunInput& in = (*inputs)[k];
    const int i = expected[k];
    EXPECT_EQ(in.run_id, run_ids_[i]);
    EXPECT_EQ(in.index, i);
    EXPECT_EQ(in.condition, plans_[i].condition_name);
    EXPECT_EQ(in.repeat, plans_[i].repeat);
    EXPECT_DOUBLE_EQ(in.permutation_threshold, 3.5 + i);
    ExpectSameMap(in.map, Finished(i, SmallLayout()).map);
  }
  auto layout = store_->ExperimentLayout(id);
  ASSERT_OK(layout);
  EXPECT_EQ(*layout, SmallLayout());
  EXPECT_EQ(layout->hash(), SmallLayout().hash());
}

TEST_F(ExperimentStoreTest, ExperimentLayoutNotFoundBeforeAnyRunIsDone) {
  const int64_t id = Create();
  EXPECT_THAT(store_->ExperimentLayout(id),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("layout")));
}

TEST_F(ExperimentStoreTest, ReplaceRunMap) {
  const int64_t id = Create();
  ASSERT_OK(RunToDone(0, SmallLayout()));
  analysis::StatMap map = MakeMap(20, 77, "alpha > rest");
  map.noise_model = "AR1";
  ASSERT_OK(store_->ReplaceRunMap(run_ids_[0], map, 4.25));
  auto inputs = store_->LoadRunInputs(id);
  ASSERT_OK(inputs);
  ASSERT_EQ(inputs->size(), 1u);
  ExpectSameMap((*inputs)[0].map, map);
  EXPECT_DOUBLE_EQ((*inputs)[0].permutation_threshold, 4.25);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps"), 1);
  EXPECT_THAT(store_->ReplaceRunMap(run_ids_[0], MakeMap(21, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->ReplaceRunMap(run_ids_[1], map),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store_->ReplaceRunMap(999, map),
              StatusIs(absl::StatusCode::kNotFound));
}

// --- SaveAnalysis and the queries ---

TEST_F(ExperimentStoreTest, ListNetworksByKindAndCondition) {
  const int64_t id = Analyzed();
  v1::ListNetworksRequest request;
  request.set_experiment_id(id);
  auto list = store_->ListNetworks(request, kAlice);
  ASSERT_OK(list);
  ASSERT_EQ(list->networks_size(), 2);
  const v1::NetworkSummary& alpha = list->networks(0);
  EXPECT_EQ(alpha.kind(), v1::NETWORK_CONDITION);
  EXPECT_EQ(alpha.experiment_id(), id);
  EXPECT_EQ(alpha.condition(), "alpha");
  EXPECT_EQ(alpha.contrast(), "alpha > rest");
  EXPECT_EQ(alpha.threshold_method(), "fdr");
  EXPECT_DOUBLE_EQ(alpha.alpha(), 0.05);
  EXPECT_DOUBLE_EQ(alpha.threshold(), 2.5);
  EXPECT_EQ(alpha.size(), 4);
  EXPECT_EQ(alpha.layout_hash(), SmallLayout().hash());
  EXPECT_DOUBLE_EQ(alpha.dof(), 30);  // MakeMap(20, 10).dof
  ASSERT_EQ(alpha.size_by_hook_size(), 4);
  EXPECT_EQ(alpha.size_by_hook(0).hook(), "embed");
  EXPECT_EQ(alpha.size_by_hook(3).hook(), "final_norm");
  for (int h = 0; h < 4; ++h) EXPECT_EQ(alpha.size_by_hook(h).count(), 1);
  const v1::NetworkSummary& beta = list->networks(1);
  EXPECT_EQ(beta.condition(), "beta");
  ASSERT_EQ(beta.size_by_hook_size(), 4);
  EXPECT_EQ(beta.size_by_hook(0).count(), 0);
  EXPECT_EQ(beta.size_by_hook(1).count(), 2);
  EXPECT_EQ(beta.size_by_hook(2).count(), 1);
  EXPECT_EQ(beta.size_by_hook(3).count(), 0);

  request.set_kind(v1::NETWORK_RUN);
  request.set_condition("alpha");
  list = store_->ListNetworks(request, kAlice);
  ASSERT_OK(list);
  ASSERT_EQ(list->networks_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(list->networks(i).kind(), v1::NETWORK_RUN);
    EXPECT_EQ(list->networks(i).run_id(), run_ids_[2 * i]);
    EXPECT_EQ(list->networks(i).repeat(), i);
    EXPECT_DOUBLE_EQ(list->networks(i).dof(), 20 + 2 * i);
  }
  request.set_kind(v1::NETWORK_LEAVE_ONE_OUT);
  request.clear_condition();
  list = store_->ListNetworks(request, kAlice);
  ASSERT_OK(list);
  ASSERT_EQ(list->networks_size(), 1);
  EXPECT_EQ(list->networks(0).excluded_run_id(), run_ids_[0]);
  EXPECT_DOUBLE_EQ(list->networks(0).dof(), 32);
  request.set_condition("gamma");
  EXPECT_EQ(store_->ListNetworks(request, kAlice)->networks_size(), 0);
  request.set_kind(static_cast<v1::NetworkKind>(9));
  EXPECT_THAT(store_->ListNetworks(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

int64_t ConditionNetworkId(ExperimentStore& store, int64_t id,
                           const std::string& condition) {
  v1::ListNetworksRequest request;
  request.set_experiment_id(id);
  request.set_condition(condition);
  auto list = store.ListNetworks(request, kAlice);
  EXPECT_OK(list);
  EXPECT_EQ(list->networks_size(), 1);
  return list->networks(0).id();
}

std::vector<int64_t> Units(const v1::GetNetworkResponse& r) {
  std::vector<int64_t> out;
  for (const v1::NetworkUnit& u : r.units()) out.push_back(u.unit());
  return out;
}

TEST_F(ExperimentStoreTest, GetNetworkOrdersPagesAndFilters) {
  const int64_t id = Analyzed();
  v1::GetNetworkRequest request;
  request.set_network_id(ConditionNetworkId(*store_, id, "alpha"));
  auto all = store_->GetNetwork(request, kAlice);
  ASSERT_OK(all);
  EXPECT_EQ(all->network().condition(), "alpha");
  EXPECT_EQ(all->total_units(), 4);
  EXPECT_THAT(Units(*all), ElementsAre(5, 11, 0, 19));  // by |t|
  EXPECT_EQ(all->next_page_token(), "");
  const v1::NetworkUnit& top = all->units(0);
  EXPECT_EQ(top.name(), "blocks.0.mlp_post[1]");
  EXPECT_DOUBLE_EQ(top.t(), -5);
  EXPECT_DOUBLE_EQ(top.beta(), -2.5);
  EXPECT_DOUBLE_EQ(top.p(), 0.005);
  EXPECT_DOUBLE_EQ(top.q(), 0.01);
  EXPECT_EQ(all->units(3).name(), "final_norm[3]");

  request.set_page_size(3);
  auto first = store_->GetNetwork(request, kAlice);
  ASSERT_OK(first);
  EXPECT_THAT(Units(*first), ElementsAre(5, 11, 0));
  EXPECT_EQ(first->next_page_token(), "3");
  request.set_page_token(first->next_page_token());
  auto second = store_->GetNetwork(request, kAlice);
  ASSERT_OK(second);
  EXPECT_THAT(Units(*second), ElementsAre(19));
  EXPECT_EQ(second->next_page_token(), "");
  EXPECT_EQ(second->total_units(), 4);

  request.clear_page_token();
  request.clear_page_size();
  request.set_hook("blocks.*.mlp_post");
  auto glob = store_->GetNetwork(request, kAlice);
  ASSERT_OK(glob);
  EXPECT_THAT(Units(*glob), ElementsAre(5, 11));
  EXPECT_EQ(glob->total_units(), 2);
  request.set_layer(1);
  request.set_has_layer(true);
  EXPECT_THAT(Units(*store_->GetNetwork(request, kAlice)), ElementsAre(11));
  request.clear_hook();
  request.set_layer(0);
  EXPECT_THAT(Units(*store_->GetNetwork(request, kAlice)), ElementsAre(5));
  request.set_has_layer(false);
  request.set_hook("embed");
  EXPECT_THAT(Units(*store_->GetNetwork(request, kAlice)), ElementsAre(0));

  request.set_hook("blocks.9.*");
  EXPECT_THAT(
      store_->GetNetwork(request, kAlice),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("blocks.9.*")));
  request.clear_hook();
  request.set_page_token("x1");
  EXPECT_THAT(store_->GetNetwork(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument));
  request.clear_page_token();
  request.set_page_size(10001);
  EXPECT_THAT(store_->GetNetwork(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument));
  request.set_page_size(10000);
  EXPECT_OK(store_->GetNetwork(request, kAlice));
  request.set_network_id(987654);
  EXPECT_THAT(store_->GetNetwork(request, kAlice),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("network 987654 not found")));
}

TEST_F(ExperimentStoreTest, CompareNetworksFillsMatrices) {
  const int64_t id = Analyzed();
  v1::CompareNetworksRequest request;
  request.set_experiment_id(id);
  auto cmp = store_->CompareNetworks(request, kAlice);
  ASSERT_OK(cmp);
  ASSERT_EQ(cmp->networks_size(), 2);
  EXPECT_THAT(cmp->dice(),
              Pointwise(DoubleNear(1e-12),
                        std::vector<double>{1, 2.0 / 7, 2.0 / 7, 1}));
  EXPECT_THAT(cmp->jaccard(),
              Pointwise(DoubleNear(1e-12),
                        std::vector<double>{1, 1.0 / 6, 1.0 / 6, 1}));
  ASSERT_EQ(cmp->overlaps_size(), 1);
  EXPECT_EQ(cmp->overlaps(0).network_a_id(), cmp->networks(0).id());
  EXPECT_EQ(cmp->overlaps(0).network_b_id(), cmp->networks(1).id());
  EXPECT_EQ(cmp->overlaps(0).intersection(), 1);

  // Run networks: one pair stored, the others computed from the units.
  request.set_kind(v1::NETWORK_RUN);
  cmp = store_->CompareNetworks(request, kAlice);
  ASSERT_OK(cmp);
  ASSERT_EQ(cmp->networks_size(), 4);
  EXPECT_EQ(cmp->overlaps_size(), 6);
  const auto cell = [&](int i, int j) { return cmp->dice(i * 4 + j); };
  // Order by id: alpha run0 {0,5}, alpha run2 {5,11}, alpha run4 {0,5,11},
  // beta run1 {6} (networks were stored in that order).
  EXPECT_DOUBLE_EQ(cell(0, 1), 0.5);
  EXPECT_DOUBLE_EQ(cell(0, 2), 0.8);
  EXPECT_DOUBLE_EQ(cell(2, 1), 0.8);
  EXPECT_DOUBLE_EQ(cell(3, 0), 0.0);
  EXPECT_DOUBLE_EQ(cell(3, 3), 1.0);
  EXPECT_DOUBLE_EQ(cmp->jaccard(0 * 4 + 2), 2.0 / 3);
}

TEST_F(ExperimentStoreTest, EmptyNetworkHasZeroDiagonal) {
  const int64_t id = Create();
  FinishAll(SmallLayout());
  analysis::AnalysisResult r = HandResult();
  r.networks[1].units.clear();
  r.networks[1].beta.clear();
  r.networks[1].t.clear();
  r.networks[1].p.clear();
  r.networks[1].q.clear();
  r.overlaps.clear();
  ASSERT_OK(store_->SaveAnalysis(id, r, SmallLayout()));
  v1::CompareNetworksRequest request;
  request.set_experiment_id(id);
  auto cmp = store_->CompareNetworks(request, kAlice);
  ASSERT_OK(cmp);
  EXPECT_THAT(cmp->dice(), ElementsAre(1, 0, 0, 0));
}

TEST_F(ExperimentStoreTest, GetRepeatabilityPairsRunsOfACondition) {
  const int64_t id = Analyzed();
  v1::GetRepeatabilityRequest request;
  request.set_experiment_id(id);
  auto rep = store_->GetRepeatability(request, kAlice);
  ASSERT_OK(rep);
  ASSERT_EQ(rep->conditions_size(), 2);
  const v1::ConditionRepeatability& alpha = rep->conditions(0);
  EXPECT_EQ(alpha.condition(), "alpha");
  ASSERT_EQ(alpha.pairs_size(), 3);
  EXPECT_EQ(alpha.pairs(0).run_a_id(), run_ids_[0]);
  EXPECT_EQ(alpha.pairs(0).run_b_id(), run_ids_[2]);
  EXPECT_EQ(alpha.pairs(0).repeat_a(), 0);
  EXPECT_EQ(alpha.pairs(0).repeat_b(), 1);
  EXPECT_DOUBLE_EQ(alpha.pairs(0).dice(), 0.5);
  EXPECT_DOUBLE_EQ(alpha.pairs(1).dice(), 0.8);
  EXPECT_EQ(alpha.pairs(2).repeat_a(), 1);
  EXPECT_EQ(alpha.pairs(2).repeat_b(), 2);
  EXPECT_DOUBLE_EQ(alpha.pairs(2).dice(), 0.8);
  EXPECT_DOUBLE_EQ(alpha.mean_dice(), 2.1 / 3);
  EXPECT_EQ(rep->conditions(1).condition(), "beta");
  EXPECT_EQ(rep->conditions(1).pairs_size(), 0);
  EXPECT_DOUBLE_EQ(rep->conditions(1).mean_dice(), 0);
  EXPECT_DOUBLE_EQ(rep->mean_dice(), 2.1 / 3);
}

TEST_F(ExperimentStoreTest, GetClassification) {
  const int64_t id = Analyzed();
  v1::GetClassificationRequest request;
  request.set_experiment_id(id);
  auto c = store_->GetClassification(request, kAlice);
  ASSERT_OK(c);
  EXPECT_THAT(c->conditions(), ElementsAre("alpha", "beta"));
  EXPECT_DOUBLE_EQ(c->accuracy(), 1.0);
  EXPECT_DOUBLE_EQ(c->accuracy_by_correlation(), 0.0);
  EXPECT_DOUBLE_EQ(c->chance(), 0.5);
  EXPECT_THAT(c->confusion(), ElementsAre(1, 0, 0, 0));
  ASSERT_EQ(c->predictions_size(), 1);
  const v1::HeldOutPrediction& p = c->predictions(0);
  EXPECT_EQ(p.run_id(), run_ids_[0]);
  EXPECT_EQ(p.repeat(), 0);
  EXPECT_EQ(p.true_condition(), "alpha");
  EXPECT_EQ(p.predicted_condition(), "alpha");
  EXPECT_EQ(p.predicted_condition_by_correlation(), "beta");
  ASSERT_EQ(p.scores_size(), 2);
  EXPECT_EQ(p.scores(0).condition(), "alpha");
  EXPECT_DOUBLE_EQ(p.scores(0).mean_t(), 2.0);
  EXPECT_DOUBLE_EQ(p.scores(0).correlation(), 0.5);
  v1::ListNetworksRequest loo;
  loo.set_experiment_id(id);
  loo.set_kind(v1::NETWORK_LEAVE_ONE_OUT);
  EXPECT_EQ(p.scores(0).network_id(),
            store_->ListNetworks(loo, kAlice)->networks(0).id());
  EXPECT_EQ(p.scores(1).network_id(), ConditionNetworkId(*store_, id, "beta"));

  const int64_t fresh = Create(kAlice, "fresh");
  request.set_experiment_id(fresh);
  EXPECT_THAT(
      store_->GetClassification(request, kAlice),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("no classification")));
}

TEST_F(ExperimentStoreTest, GetRunEventsReplansPrompts) {
  const int64_t id = Create();
  for (int index = 0; index < 6; ++index) {
    v1::GetRunEventsRequest request;
    request.set_experiment_id(id);
    request.set_run_index(index);
    auto r = store_->GetRunEvents(request, kAlice);
    ASSERT_OK(r);
    EXPECT_EQ(r->run().id(), run_ids_[index]);
    EXPECT_EQ(r->run().index(), index);
    ASSERT_EQ(r->events_size(), static_cast<int>(plans_[index].events.size()));
    for (int e = 0; e < r->events_size(); ++e) {
      EXPECT_DOUBLE_EQ(r->events(e).onset(), plans_[index].events[e].onset);
      EXPECT_DOUBLE_EQ(r->events(e).duration(),
                       plans_[index].events[e].duration);
      EXPECT_EQ(r->events(e).trial_type(), plans_[index].events[e].trial_type);
    }
    EXPECT_EQ(r->events_tsv(), EventsTsv(plans_[index]));
    EXPECT_THAT(r->prompts(),
                ::testing::ElementsAreArray(plans_[index].prompts));
    EXPECT_EQ(r->generated_texts_size(), 0) << "no tokens stored yet";
  }
  v1::GetRunEventsRequest request;
  request.set_experiment_id(id);
  request.set_run_index(6);
  EXPECT_THAT(store_->GetRunEvents(request, kAlice),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("6")));
  request.set_run_index(-1);
  EXPECT_THAT(store_->GetRunEvents(request, kAlice),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("-1")));
}

// A done run serves what each prompt generated: its tokens' texts joined in
// step order (Finished stores 4 tokens "t0".."t3" for prompts 0 and 1).
TEST_F(ExperimentStoreTest, GetRunEventsServesGeneratedTexts) {
  const int64_t id = Create();
  ASSERT_OK(RunToDone(0, SmallLayout()));
  v1::GetRunEventsRequest request;
  request.set_experiment_id(id);
  request.set_run_index(0);
  auto r = store_->GetRunEvents(request, kAlice);
  ASSERT_OK(r);
  EXPECT_THAT(r->generated_texts(),
              ::testing::ElementsAre("t0t1t2t3", "t0t1t2t3"));
  request.set_run_index(1);
  EXPECT_EQ(store_->GetRunEvents(request, kAlice)->generated_texts_size(), 0);
}

TEST_F(ExperimentStoreTest, FindUnitListsEveryNetworkWithIt) {
  const int64_t id = Analyzed();
  v1::FindUnitRequest request;
  request.set_experiment_id(id);
  request.set_unit_name("blocks.0.mlp_post[1]");
  auto found = store_->FindUnit(request, kAlice);
  ASSERT_OK(found);
  EXPECT_EQ(found->unit(), 5);
  EXPECT_EQ(found->name(), "blocks.0.mlp_post[1]");
  // Unit 5 is in both condition networks, the three alpha run networks and
  // the leave-one-out network; not in beta's run network.
  ASSERT_EQ(found->networks_size(), 6);
  EXPECT_EQ(found->networks(0).network().condition(), "alpha");
  EXPECT_EQ(found->networks(0).network().kind(), v1::NETWORK_CONDITION);
  EXPECT_DOUBLE_EQ(found->networks(0).unit().t(), -5);
  EXPECT_EQ(found->networks(0).unit().name(), "blocks.0.mlp_post[1]");
  EXPECT_EQ(found->networks(1).network().condition(), "beta");
  EXPECT_EQ(found->networks(5).network().kind(), v1::NETWORK_LEAVE_ONE_OUT);
  EXPECT_DOUBLE_EQ(found->networks(5).unit().t(), 6);
  EXPECT_EQ(found->networks(0).network().size_by_hook_size(), 4);

  request.clear_unit_name();
  request.set_unit(19);
  found = store_->FindUnit(request, kAlice);
  ASSERT_OK(found);
  EXPECT_EQ(found->name(), "final_norm[3]");
  ASSERT_EQ(found->networks_size(), 1);
  request.set_unit(3);
  EXPECT_EQ(store_->FindUnit(request, kAlice)->networks_size(), 0);
  request.set_unit(20);
  EXPECT_THAT(store_->FindUnit(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("20")));
  request.set_unit_name("blocks.7.nope[3]");
  EXPECT_THAT(store_->FindUnit(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("blocks.7.nope[3]")));
}

TEST_F(ExperimentStoreTest, GetStatMapOfConditionOrRun) {
  const int64_t id = Analyzed();
  v1::GetStatMapRequest request;
  request.set_experiment_id(id);
  request.set_condition("alpha");
  auto map = store_->GetStatMap(request, kAlice);
  ASSERT_OK(map);
  // The condition's own map, not its leave-one-out map (also "alpha").
  const analysis::StatMap expected = HandResult().condition_maps[0];
  EXPECT_EQ(map->condition(), "alpha");
  EXPECT_EQ(map->run_id(), 0);
  EXPECT_EQ(map->contrast(), "alpha > rest");
  EXPECT_DOUBLE_EQ(map->dof(), expected.dof);
  EXPECT_THAT(map->t(), ::testing::ElementsAreArray(Vec(expected.t)));
  EXPECT_THAT(map->beta(), ::testing::ElementsAreArray(Vec(expected.effect)));
  EXPECT_THAT(map->p(), ::testing::ElementsAreArray(Vec(expected.p)));
  EXPECT_EQ(map->layout().width(), 20);

  request.clear_condition();
  request.set_run_id(run_ids_[3]);
  map = store_->GetStatMap(request, kAlice);
  ASSERT_OK(map);
  EXPECT_EQ(map->run_id(), run_ids_[3]);
  EXPECT_EQ(map->condition(), "beta");
  EXPECT_THAT(map->t(), ::testing::ElementsAreArray(
                            Vec(Finished(3, SmallLayout()).map.t)));

  request.set_condition("alpha");
  EXPECT_THAT(store_->GetStatMap(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument));
  request.clear_run_id();
  request.clear_condition();
  EXPECT_THAT(store_->GetStatMap(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument));
  request.set_condition("gamma");
  EXPECT_THAT(store_->GetStatMap(request, kAlice),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("gamma")));
}

TEST_F(ExperimentStoreTest, AnotherUserSeesNothing) {
  const int64_t id = Analyzed();
  const auto not_found = StatusIs(absl::StatusCode::kNotFound,
                                  HasSubstr(absl::StrCat("experiment ", id)));
  EXPECT_THAT(store_->GetExperiment(id, kBob), not_found);
  EXPECT_EQ(store_->ListExperiments(kBob, 0, "")->experiments_size(), 0);
  v1::ListNetworksRequest list;
  list.set_experiment_id(id);
  EXPECT_THAT(store_->ListNetworks(list, kBob), not_found);
  v1::GetNetworkRequest get;
  get.set_network_id(ConditionNetworkId(*store_, id, "alpha"));
  EXPECT_THAT(store_->GetNetwork(get, kBob),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("network")));
  v1::CompareNetworksRequest compare;
  compare.set_experiment_id(id);
  EXPECT_THAT(store_->CompareNetworks(compare, kBob), not_found);
  v1::GetRepeatabilityRequest repeat;
  repeat.set_experiment_id(id);
  EXPECT_THAT(store_->GetRepeatability(repeat, kBob), not_found);
  v1::GetClassificationRequest classify;
  classify.set_experiment_id(id);
  EXPECT_THAT(store_->GetClassification(classify, kBob), not_found);
  v1::GetRunEventsRequest events;
  events.set_experiment_id(id);
  EXPECT_THAT(store_->GetRunEvents(events, kBob), not_found);
  v1::FindUnitRequest find;
  find.set_experiment_id(id);
  find.set_unit(5);
  EXPECT_THAT(store_->FindUnit(find, kBob), not_found);
  v1::GetStatMapRequest stat;
  stat.set_experiment_id(id);
  stat.set_condition("alpha");
  EXPECT_THAT(store_->GetStatMap(stat, kBob), not_found);
  // The owner and the worker (empty user) do see it.
  EXPECT_OK(store_->GetStatMap(stat, kAlice));
  EXPECT_OK(store_->GetStatMap(stat, ""));
}

TEST_F(ExperimentStoreTest, SaveAnalysisReplacesThePreviousOne) {
  const int64_t id = Analyzed();
  EXPECT_EQ(Count("SELECT count(*) FROM networks"), 7);
  EXPECT_EQ(Count("SELECT count(*) FROM network_units"),
            4 + 3 + 2 + 2 + 3 + 1 + 2);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps WHERE run_id IS NULL"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps WHERE excluded_run_id IS "
                  "NOT NULL"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM overlaps"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM classifications"), 1);

  analysis::AnalysisResult smaller;
  smaller.condition_maps = {MakeMap(20, 20, "alpha > rest"),
                            MakeMap(20, 21, "beta > rest")};
  analysis::Network n;
  n.condition = "beta";
  n.contrast = "beta > rest";
  n.threshold_method = "bonferroni";
  n.units = {1, 2};
  n.t = {9, 8};
  n.map_index = 1;
  smaller.networks.push_back(n);
  ASSERT_OK(store_->SaveAnalysis(id, smaller, SmallLayout()));
  EXPECT_EQ(Count("SELECT count(*) FROM networks"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM network_units"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM network_units WHERE beta IS NULL"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps WHERE run_id IS NULL"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps WHERE run_id IS NOT NULL"),
            6);  // The run maps stay.
  EXPECT_EQ(Count("SELECT count(*) FROM overlaps"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM classifications"), 0);
  // The map no network uses is condition 0 of the spec.
  v1::GetStatMapRequest stat;
  stat.set_experiment_id(id);
  stat.set_condition("alpha");
  auto alpha = store_->GetStatMap(stat, kAlice);
  ASSERT_OK(alpha);
  EXPECT_DOUBLE_EQ(alpha->dof(), 40);
  v1::ListNetworksRequest list;
  list.set_experiment_id(id);
  auto networks = store_->ListNetworks(list, kAlice);
  ASSERT_OK(networks);
  ASSERT_EQ(networks->networks_size(), 1);
  EXPECT_EQ(networks->networks(0).threshold_method(), "bonferroni");
  EXPECT_DOUBLE_EQ(networks->networks(0).alpha(), 0.05);
}

TEST_F(ExperimentStoreTest, InvalidAnalysisWritesNothing) {
  const int64_t id = Analyzed();
  const auto refused = [&](analysis::AnalysisResult r, const char* why) {
    EXPECT_THAT(store_->SaveAnalysis(id, r, SmallLayout()),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(why)));
  };
  analysis::AnalysisResult r = HandResult();
  r.networks[0].map_index = 7;
  refused(r, "map_index");
  r = HandResult();
  r.networks[2].run_id = 99999;
  refused(r, "99999");
  r = HandResult();
  r.networks[1].units = {6, 5, 12};
  refused(r, "ascend");
  r = HandResult();
  r.networks[1].units = {5, 6, 20};
  refused(r, "ascend");
  r = HandResult();
  r.condition_maps[1] = MakeMap(19, 1);
  refused(r, "19");
  r = HandResult();
  r.overlaps.push_back({0, 9, 0, 0, 0});
  refused(r, "overlap");
  r = HandResult();
  r.held_out[0].scores[0].network = 12;
  refused(r, "network 12");
  r = HandResult();
  r.networks[0].map_index = 2;  // Disagrees with the leave-one-out network.
  refused(r, "disagree");
  EXPECT_THAT(store_->SaveAnalysis(id, HandResult(), Layout({{"embed", 20}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not the runs' layout")));
  EXPECT_EQ(Count("SELECT count(*) FROM networks"), 7);
  EXPECT_EQ(Count("SELECT count(*) FROM classifications"), 1);
  EXPECT_THAT(store_->SaveAnalysis(4242, HandResult(), SmallLayout()),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ExperimentStoreTest, ReopeningKeepsEverything) {
  const int64_t id = Analyzed();
  ASSERT_OK(store_->SetPhase(id, v1::PHASE_ANALYZING));
  ASSERT_OK(store_->SetPhase(id, v1::PHASE_DONE));
  auto before = store_->GetExperiment(id, kAlice);
  ASSERT_OK(before);
  v1::FindUnitRequest find;
  find.set_experiment_id(id);
  find.set_unit(5);
  auto found_before = store_->FindUnit(find, kAlice);
  ASSERT_OK(found_before);
  Reopen();
  auto after = store_->GetExperiment(id, kAlice);
  ASSERT_OK(after);
  EXPECT_TRUE(MessageDifferencer::Equals(*before, *after))
      << after->DebugString();
  auto found_after = store_->FindUnit(find, kAlice);
  ASSERT_OK(found_after);
  EXPECT_TRUE(MessageDifferencer::Equals(*found_before, *found_after));
  EXPECT_EQ(Count("SELECT max(version) FROM schema_migrations"),
            static_cast<int64_t>(EmbeddedMigrations().size()));
}

// One store shared by threads that write progress and read experiments, as
// the worker's runs and RPCs do.
TEST_F(ExperimentStoreTest, ConcurrentCallsAreSafe) {
  const int64_t id = Create();
  for (int i = 0; i < 4; ++i) ASSERT_OK(store_->MarkRunStarted(run_ids_[i]));
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 1; k <= 100; ++k) {
        EXPECT_OK(store_->SetRunTokens(run_ids_[i], k));
        EXPECT_OK(store_->GetExperiment(id, kAlice, k % 2 == 0));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  auto e = store_->GetExperiment(id, kAlice, false);
  ASSERT_OK(e);
  EXPECT_EQ(e->progress().tokens_done(), 400);
}

// The real analysis on stored run maps, saved and read back.
TEST_F(ExperimentStoreTest, RoundTripsARealAnalysis) {
  const int64_t id = Create();
  const Layout layout = SmallLayout();
  std::vector<arma::mat> stored;
  std::mt19937_64 rng(42);
  std::normal_distribution<double> wobble;
  for (int i = 0; i < 6; ++i) {
    FinishedRun run = Finished(i, layout);
    // Planted: alpha drives units 0-4, beta units 10-14, plus a small
    // run-dependent wobble.
    const int64_t first = plans_[i].condition_name == "alpha" ? 0 : 10;
    for (int64_t u = 0; u < 20; ++u) {
      const bool on = u >= first && u < first + 5;
      run.map.effect[u] = (on ? 9.0 : 0.0) + 0.3 * std::sin(i * 3.1 + u);
    }
    run.map.t = run.map.effect;
    run.map.dof = 20;
    run.map.p =
        analysis::TPValues(run.map.t, run.map.dof, analysis::Tail::kTwoSided);
    // Level one (prompt-level inference, the default): task prompts respond
    // on the planted units, every prompt wobbles.
    const RunPlan& plan = plans_[i];
    run.prompt_values.set_size(plan.prompts.size(), 20);
    for (const RunBlock& b : plan.blocks) {
      for (int p = b.first_prompt; p < b.first_prompt + b.num_prompts; ++p) {
        for (int64_t u = 0; u < 20; ++u) {
          const bool on = b.task && u >= first && u < first + 5;
          run.prompt_values(p, u) = (on ? 9.0 : 0.0) + 0.3 * wobble(rng);
        }
      }
    }
    ASSERT_OK(store_->MarkRunStarted(run_ids_[i]));
    ASSERT_OK(store_->MarkRunDone(run_ids_[i], run));
    stored.push_back(run.prompt_values);
  }
  auto inputs = store_->LoadRunInputs(id);
  ASSERT_OK(inputs);
  ASSERT_EQ(inputs->size(), 6u);
  for (analysis::RunInput& input : *inputs) {
    // The values come back bit for bit; labels and texts from the plan.
    EXPECT_TRUE(arma::approx_equal(input.prompts.values, stored[input.index],
                                   "absdiff", 0.0));
    auto prompts = analysis::MakeRunPrompts(plans_[input.index],
                                            std::move(input.prompts.values));
    ASSERT_OK(prompts);
    input.prompts = *std::move(prompts);
  }
  auto result = analysis::AnalyzeExperiment(spec_, *inputs);
  ASSERT_OK(result);
  auto stored_layout = store_->ExperimentLayout(id);
  ASSERT_OK(stored_layout);
  ASSERT_OK(store_->SaveAnalysis(id, *result, *stored_layout));

  v1::ListNetworksRequest list;
  list.set_experiment_id(id);
  auto networks = store_->ListNetworks(list, kAlice);
  ASSERT_OK(networks);
  ASSERT_EQ(networks->networks_size(), 2);
  v1::GetNetworkRequest get;
  get.set_network_id(networks->networks(0).id());
  auto alpha = store_->GetNetwork(get, kAlice);
  ASSERT_OK(alpha);
  EXPECT_EQ(networks->networks(0).condition(), "alpha");
  // Stored as analysed: the planted units, and whatever FDR let through
  // among the 15 null units of this small random sample.
  std::set<int64_t> units;
  for (const v1::NetworkUnit& u : alpha->units()) units.insert(u.unit());
  const std::vector<int64_t>& analysed = result->networks[0].units;
  EXPECT_EQ(units, std::set<int64_t>(analysed.begin(), analysed.end()));
  for (int64_t u = 0; u < 5; ++u) EXPECT_EQ(units.count(u), 1u) << u;
  EXPECT_EQ(alpha->total_units(), static_cast<int64_t>(analysed.size()));
  EXPECT_EQ(networks->networks(0).inference(), "prompt");
  v1::GetClassificationRequest classify;
  classify.set_experiment_id(id);
  auto c = store_->GetClassification(classify, kAlice);
  ASSERT_OK(c);
  EXPECT_EQ(c->predictions_size(), static_cast<int>(result->held_out.size()));
  EXPECT_DOUBLE_EQ(c->accuracy(), 1.0);
  v1::GetRepeatabilityRequest repeat;
  repeat.set_experiment_id(id);
  auto rep = store_->GetRepeatability(repeat, kAlice);
  ASSERT_OK(rep);
  EXPECT_EQ(rep->conditions(0).pairs_size(), 3);
  EXPECT_DOUBLE_EQ(rep->mean_dice(), 1.0);
  // Every leave-one-out network is stored with its own map.
  EXPECT_EQ(Count("SELECT count(*) FROM networks n JOIN glm_maps g ON "
                  "g.id = n.glm_map_id WHERE n.excluded_run_id = "
                  "g.excluded_run_id"),
            Count("SELECT count(*) FROM networks WHERE excluded_run_id IS "
                  "NOT NULL"));
  EXPECT_EQ(Count("SELECT count(*) FROM networks WHERE glm_map_id IS NULL"), 0);
}

// Wall and thread CPU time of one call, in milliseconds, for the timing
// report (CPU time is what a busy shared machine distorts least).
struct Timing {
  double wall_ms = 0, cpu_ms = 0;
};

double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

template <typename F>
Timing Time(F&& f) {
  const auto wall = std::chrono::steady_clock::now();
  const double cpu = ThreadCpuMs();
  f();
  return {std::chrono::duration<double, std::milli>(
              std::chrono::steady_clock::now() - wall)
              .count(),
          ThreadCpuMs() - cpu};
}

std::ostream& operator<<(std::ostream& os, const Timing& t) {
  return os << t.wall_ms << " ms wall, " << t.cpu_ms << " ms CPU";
}

// 160k units (10 hooks of 16000), six runs, and an analysis with 6
// condition maps and 30 networks of 5000 units each.
analysis::AnalysisResult LargeResult(const Layout& layout,
                                     const std::vector<int64_t>& run_ids,
                                     const std::vector<RunPlan>& plans) {
  analysis::AnalysisResult r;
  for (int m = 0; m < 6; ++m) {
    r.condition_maps.push_back(
        MakeMap(layout.width(), m, m % 2 ? "beta > rest" : "alpha > rest"));
  }
  for (int k = 0; k < 30; ++k) {
    analysis::Network n;
    n.threshold_method = "fdr";
    if (k < 2) {
      n.kind = analysis::NetworkKind::kCondition;
      n.map_index = k;
      n.condition = k ? "beta" : "alpha";
    } else if (k < 8) {
      n.kind = analysis::NetworkKind::kRun;
      n.run_id = run_ids[k - 2];
      n.condition = plans[k - 2].condition_name;
    } else {
      n.kind = analysis::NetworkKind::kLeaveOneOut;
      n.map_index = 2 + k % 4;
      n.condition = n.map_index % 2 ? "beta" : "alpha";
      n.excluded_run_id = run_ids[n.map_index - 2];
    }
    for (int64_t u = k; n.units.size() < 5000; u += 31) {
      n.units.push_back(u);
      n.t.push_back(std::sin(0.1 * u) * 6);
      n.beta.push_back(0.5);
      n.p.push_back(0.001);
      n.q.push_back(0.01);
    }
    r.networks.push_back(std::move(n));
  }
  for (int a = 0; a < 2; ++a) {
    for (int b = a + 1; b < 8; ++b) r.overlaps.push_back({a, b, 10, 0.1, 0.05});
  }
  return r;
}

// The paper's scale. Prints the times (the figures the worker's latency
// budget rests on); asserts only generous bounds so that a slow machine does
// not fail it.
TEST_F(ExperimentStoreTest, LargeAnalysisIsFast) {
  std::vector<HookSpec> hooks;
  for (int l = 0; l < 10; ++l) {
    hooks.push_back({absl::StrCat("blocks.", l, ".mlp_post"), 16000});
  }
  const Layout layout(hooks);
  const int64_t id = Create();
  FinishAll(layout);
  const analysis::AnalysisResult r = LargeResult(layout, run_ids_, plans_);

  const Timing save =
      Time([&] { ASSERT_OK(store_->SaveAnalysis(id, r, layout)); });
  const Timing resave =
      Time([&] { ASSERT_OK(store_->SaveAnalysis(id, r, layout)); });
  EXPECT_EQ(Count("SELECT count(*) FROM network_units"), 30 * 5000);

  v1::ListNetworksRequest list;
  list.set_experiment_id(id);
  absl::StatusOr<v1::ListNetworksResponse> networks;
  const Timing list_time =
      Time([&] { networks = store_->ListNetworks(list, kAlice); });
  ASSERT_OK(networks);
  v1::GetNetworkRequest get;
  get.set_network_id(networks->networks(0).id());
  absl::StatusOr<v1::GetNetworkResponse> page;
  const Timing get_time = Time([&] { page = store_->GetNetwork(get, kAlice); });
  ASSERT_OK(page);
  EXPECT_EQ(page->total_units(), 5000);
  get.set_page_size(10000);
  const Timing get_all = Time([&] { page = store_->GetNetwork(get, kAlice); });
  EXPECT_EQ(page->units_size(), 5000);
  get.set_hook("blocks.3.*");
  const Timing get_filtered =
      Time([&] { page = store_->GetNetwork(get, kAlice); });
  ASSERT_OK(page);
  EXPECT_EQ(page->total_units(), page->units_size());

  v1::FindUnitRequest find;
  find.set_experiment_id(id);
  find.set_unit(31 * 7);
  absl::StatusOr<v1::FindUnitResponse> found;
  const Timing find_time =
      Time([&] { found = store_->FindUnit(find, kAlice); });
  ASSERT_OK(found);
  EXPECT_GE(found->networks_size(), 1);
  v1::CompareNetworksRequest compare;
  compare.set_experiment_id(id);
  compare.set_kind(v1::NETWORK_LEAVE_ONE_OUT);
  absl::StatusOr<v1::CompareNetworksResponse> cmp;
  const Timing compare_time =
      Time([&] { cmp = store_->CompareNetworks(compare, kAlice); });
  ASSERT_OK(cmp);
  EXPECT_EQ(cmp->overlaps_size(), 22 * 21 / 2);
  v1::GetStatMapRequest stat;
  stat.set_experiment_id(id);
  stat.set_condition("alpha");
  absl::StatusOr<v1::StatMap> map;
  const Timing stat_time =
      Time([&] { map = store_->GetStatMap(stat, kAlice); });
  ASSERT_OK(map);
  EXPECT_EQ(map->t_size(), 160000);
  absl::StatusOr<std::vector<analysis::RunInput>> inputs;
  const Timing inputs_time = Time([&] { inputs = store_->LoadRunInputs(id); });
  ASSERT_OK(inputs);

  std::cout << "SaveAnalysis (6 maps x 160k units, 30 networks x 5k): " << save
            << "\n  again, replacing it: " << resave
            << "\nListNetworks (2): " << list_time
            << "\nGetNetwork, first 100 of 5k: " << get_time
            << "\nGetNetwork, all 5k: " << get_all
            << "\nGetNetwork, hook-filtered: " << get_filtered
            << "\nFindUnit: " << find_time
            << "\nCompareNetworks, 22 leave-one-out (computed): "
            << compare_time << "\nGetStatMap, 160k units: " << stat_time
            << "\nLoadRunInputs, 6 x 160k units: " << inputs_time << "\n";
  EXPECT_LT(save.cpu_ms, 20000);
  EXPECT_LT(get_time.cpu_ms, 2000);
}

}  // namespace
}  // namespace fnprobe::worker
