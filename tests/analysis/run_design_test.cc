// BuildRunDesign: the task regressor against hand-computed boxcars in token
// time (at several tokens_per_second), the drift and HRF options, the
// contrast, and refusals (no task block, collinear design, too few frames).
#include "server/analysis/run_design.h"

#include <armadillo>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/run_planner.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::analysis {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

void AddPrompts(v1::PromptPool* pool, const std::string& stem, int n) {
  for (int i = 0; i < n; ++i) pool->add_prompts(stem + std::to_string(i));
}

// Condition "A" against baseline "rest", pattern baseline/task/baseline,
// 2 prompts per block of 3 tokens: 18 frames, task frames 6..11.
v1::ExperimentSpec SmallSpec() {
  v1::ExperimentSpec spec;
  spec.set_name("small");
  spec.set_model("m");
  spec.mutable_generation()->set_tokens_per_prompt(3);
  spec.mutable_baseline()->set_name("rest");
  AddPrompts(spec.mutable_baseline(), "base ", 8);
  v1::PromptPool* a = spec.add_conditions();
  a->set_name("A");
  AddPrompts(a, "task ", 8);
  v1::BlockDesign* d = spec.mutable_design();
  for (const char* b : {"baseline", "task", "baseline"}) d->add_pattern(b);
  d->set_prompts_per_block(2);
  d->set_repeats(2);
  spec.mutable_analysis()->set_hrf(v1::HrfModel::NONE);
  spec.mutable_analysis()->set_drift(v1::DriftModel::NONE);
  return spec;
}

v1::ExperimentSpec Ready(v1::ExperimentSpec spec) {
  EXPECT_OK(ValidateSpec(spec));
  return WithDefaults(std::move(spec));
}

// 1 on frames [first, last], 0 elsewhere.
arma::vec Boxcar(arma::uword frames, arma::uword first, arma::uword last) {
  arma::vec v(frames, arma::fill::zeros);
  v.subvec(first, last).ones();
  return v;
}

TEST(RunDesignTest, BoxcarWithoutDriftIsTaskIndicatorAndConstant) {
  const v1::ExperimentSpec spec = Ready(SmallSpec());
  const RunPlan plan = PlanRuns(spec)[0];
  ASSERT_EQ(plan.time_points, 18);
  auto design = BuildRunDesign(spec, plan);
  ASSERT_THAT(design, IsOk());
  EXPECT_THAT(design->design.column_names,
              ElementsAre("A_delay_0", "constant"));
  ASSERT_EQ(design->design.x.n_rows, 18u);
  EXPECT_TRUE(arma::approx_equal(design->design.x.col(0), Boxcar(18, 6, 11),
                                 "absdiff", 0.0));
  EXPECT_TRUE(arma::all(design->design.x.col(1) == 1.0));
  EXPECT_TRUE(arma::approx_equal(design->contrast, arma::vec{1.0, 0.0},
                                 "absdiff", 0.0));
  EXPECT_EQ(design->contrast_name, "A > rest");
  EXPECT_THAT(
      arma::conv_to<std::vector<arma::uword>>::from(design->condition_columns),
      ElementsAre(0u));
  EXPECT_EQ(design->block_length, 6u);
}

// The regressor is 1 exactly on the frames TrialTypeAt calls "A", whatever
// the time scale (events are in seconds, frames at t / tokens_per_second).
// nipy's own sampling gets the edges wrong at 3, 7 and 10 tokens per second,
// and at 1 token per second for 78 frames (13 tokens per prompt; see
// run_design.cc); the indicator does not.
TEST(RunDesignTest, BoxcarFollowsTaskFramesAtAnyTimeScale) {
  for (double tps : {0.5, 1.0, 2.0, 3.0, 7.0, 10.0}) {
    for (int tokens : {3, 4, 5, 13}) {
      v1::ExperimentSpec raw = SmallSpec();
      raw.mutable_analysis()->set_tokens_per_second(tps);
      raw.mutable_generation()->set_tokens_per_prompt(tokens);
      const v1::ExperimentSpec spec = Ready(raw);
      const RunPlan plan = PlanRuns(spec)[1];
      auto design = BuildRunDesign(spec, plan);
      ASSERT_THAT(design, IsOk());
      arma::vec expected(plan.time_points, arma::fill::zeros);
      for (int64_t t = 0; t < plan.time_points; ++t) {
        expected[t] = TrialTypeAt(spec, plan, t) == "A" ? 1.0 : 0.0;
      }
      EXPECT_TRUE(arma::approx_equal(design->design.x.col(0), expected,
                                     "absdiff", 1e-12))
          << "tokens_per_second " << tps << ", tokens " << tokens;
    }
  }
}

// Where nipy's sampling grid is exact (here 48 frames at 1 and 2 tokens per
// second), the design is exactly what nipy (the builder) makes of the run's
// exported events.tsv: parity holds.
TEST(RunDesignTest, MatchesBuilderOnExportedEventsWhereNipyGridIsExact) {
  for (double tps : {1.0, 2.0}) {
    v1::ExperimentSpec raw = SmallSpec();
    raw.mutable_generation()->set_tokens_per_prompt(8);
    raw.mutable_analysis()->set_tokens_per_second(tps);
    raw.mutable_analysis()->set_drift(v1::DriftModel::COSINE);
    raw.mutable_analysis()->set_drift_cutoff_s(20);
    const v1::ExperimentSpec spec = Ready(raw);
    const RunPlan plan = PlanRuns(spec)[0];
    auto design = BuildRunDesign(spec, plan);
    ASSERT_THAT(design, IsOk());
    auto events = ParseEventsTsv(EventsTsv(plan));
    ASSERT_THAT(events, IsOk());
    std::vector<Event> task;
    for (const Event& e : *events) {
      if (e.trial_type == "A") task.push_back(e);
    }
    DesignOptions options;
    options.num_frames = static_cast<int>(plan.time_points);
    options.tr = 1.0 / tps;
    options.hrf = HrfModel::kNone;
    options.drift = DriftModel::kCosine;
    options.cosine_cutoff_s = 20;
    auto nipy = DesignMatrixBuilder(options).Build(task);
    ASSERT_THAT(nipy, IsOk());
    EXPECT_EQ(design->design.column_names, nipy->column_names);
    EXPECT_TRUE(arma::approx_equal(design->design.x, nipy->x, "absdiff", 1e-12))
        << "tokens_per_second " << tps;
  }
}

TEST(RunDesignTest, CosineAndPolynomialDriftFollowTheSpec) {
  v1::ExperimentSpec raw = SmallSpec();
  raw.mutable_generation()->set_tokens_per_prompt(10);  // 60 frames
  raw.mutable_analysis()->set_drift(v1::DriftModel::COSINE);
  raw.mutable_analysis()->set_drift_cutoff_s(40);
  v1::ExperimentSpec spec = Ready(raw);
  auto cosine = BuildRunDesign(spec, PlanRuns(spec)[0]);
  ASSERT_THAT(cosine, IsOk());
  // nipy: floor(2 * 60 frames / 40 s) = 3 columns, the last the constant.
  EXPECT_THAT(cosine->design.column_names,
              ElementsAre("A_delay_0", "drift_1", "drift_2", "constant"));
  EXPECT_EQ(cosine->contrast.n_elem, 4u);
  EXPECT_EQ(arma::accu(cosine->contrast), 1.0);
  EXPECT_EQ(cosine->contrast[0], 1.0);

  raw.mutable_analysis()->set_drift(v1::DriftModel::POLYNOMIAL);
  spec = Ready(raw);  // default order 3
  auto poly = BuildRunDesign(spec, PlanRuns(spec)[0]);
  ASSERT_THAT(poly, IsOk());
  EXPECT_THAT(
      poly->design.column_names,
      ElementsAre("A_delay_0", "drift_1", "drift_2", "drift_3", "constant"));
}

// With an HRF the column takes the condition's bare name and the response
// peaks several seconds after the task block starts (frame 20 at 1 token/s).
TEST(RunDesignTest, GloverAndSpmRegressorsLagTheBlock) {
  for (auto hrf : {v1::HrfModel::GLOVER, v1::HrfModel::SPM}) {
    v1::ExperimentSpec raw = SmallSpec();
    raw.mutable_generation()->set_tokens_per_prompt(10);
    raw.mutable_analysis()->set_hrf(hrf);
    const v1::ExperimentSpec spec = Ready(raw);
    auto design = BuildRunDesign(spec, PlanRuns(spec)[0]);
    ASSERT_THAT(design, IsOk());
    EXPECT_THAT(design->design.column_names, ElementsAre("A", "constant"));
    const arma::vec reg = design->design.x.col(0);
    EXPECT_NEAR(reg[10], 0.0, 1e-9);  // before the block
    EXPECT_GT(reg.index_max(), 24u);
    EXPECT_LT(reg.index_max(), 46u);
  }
}

TEST(RunDesignTest, RefusesPlanWithoutTaskBlock) {
  const v1::ExperimentSpec spec = Ready(SmallSpec());
  RunPlan plan = PlanRuns(spec)[0];
  plan.condition_name = "B";
  EXPECT_THAT(BuildRunDesign(spec, plan),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no \"B\" task block")));
}

// A 1 s cosine cut-off gives more drift columns than frames.
TEST(RunDesignTest, RefusesCollinearDesign) {
  v1::ExperimentSpec raw = SmallSpec();
  raw.mutable_analysis()->set_drift(v1::DriftModel::COSINE);
  raw.mutable_analysis()->set_drift_cutoff_s(1.0);
  const v1::ExperimentSpec spec = Ready(raw);
  EXPECT_THAT(
      BuildRunDesign(spec, PlanRuns(spec)[0]),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("run design")));
}

TEST(RunDesignTest, RefusesTooFewFramesAndMissingTimeScale) {
  v1::ExperimentSpec spec = Ready(SmallSpec());
  RunPlan plan = PlanRuns(spec)[0];
  plan.time_points = 1;
  EXPECT_THAT(BuildRunDesign(spec, plan),
              StatusIs(absl::StatusCode::kInvalidArgument));
  spec.mutable_analysis()->set_tokens_per_second(0);
  EXPECT_THAT(BuildRunDesign(spec, PlanRuns(spec)[0]),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tokens_per_second")));
}

}  // namespace
}  // namespace fnprobe::analysis
