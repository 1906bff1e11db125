// Level one of prompt-level inference: per-prompt means streamed frame by
// frame (exact), per-prompt first-level betas with an HRF (recovering the
// levels the data were made from), chunks equal to frames, and the errors
// of a stream that breaks its plan.
#include "server/analysis/prompt_accumulator.h"

#include <armadillo>
#include <numeric>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/design_matrix.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/run_planner.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::analysis {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::StatusIs;

v1::ExperimentSpec Spec(v1::HrfModel::Kind hrf, int tokens) {
  v1::ExperimentSpec spec;
  spec.set_name("s");
  spec.set_model("m");
  spec.mutable_generation()->set_tokens_per_prompt(tokens);
  spec.mutable_baseline()->set_name("rest");
  for (int i = 0; i < 12; ++i) {
    spec.mutable_baseline()->add_prompts("rest " + std::to_string(i));
  }
  v1::PromptPool* pool = spec.add_conditions();
  pool->set_name("a");
  for (int i = 0; i < 6; ++i) pool->add_prompts("a " + std::to_string(i));
  v1::BlockDesign* d = spec.mutable_design();
  for (const char* b : {"baseline", "task", "baseline"}) d->add_pattern(b);
  d->set_prompts_per_block(2);
  d->set_repeats(2);
  spec.mutable_analysis()->set_hrf(hrf);
  spec.mutable_analysis()->set_drift(v1::DriftModel::NONE);
  EXPECT_OK(ValidateSpec(spec));
  return WithDefaults(spec);
}

TEST(PromptAccumulatorTest, MeansOverEachPromptsTokensExactly) {
  const v1::ExperimentSpec spec = Spec(v1::HrfModel::NONE, 5);
  const RunPlan plan = PlanRuns(spec)[0];
  ASSERT_EQ(plan.time_points, 30);
  constexpr int kUnits = 7;
  auto acc = PromptAccumulator::Create(spec, plan, kUnits);
  ASSERT_THAT(acc, IsOk());
  arma::fmat y = arma::randu<arma::fmat>(30, kUnits);
  // Frames arrive interleaved across prompts, as batched generation sends.
  std::vector<int64_t> order(30);
  std::iota(order.begin(), order.end(), 0);
  std::reverse(order.begin(), order.end());
  for (int64_t t : order) {
    const arma::frowvec row = y.row(t);
    ASSERT_THAT(acc->Add(t, row.memptr(), kUnits), IsOk());
  }
  auto values = acc->Values();
  ASSERT_THAT(values, IsOk());
  ASSERT_EQ(values->n_rows, 6u);
  for (int p = 0; p < 6; ++p) {
    const arma::rowvec want = arma::conv_to<arma::rowvec>::from(arma::mean(
        arma::conv_to<arma::mat>::from(y.rows(5 * p, 5 * p + 4)), 0));
    EXPECT_LT(arma::max(arma::abs(values->row(p) - want)), 1e-12) << p;
  }
}

TEST(PromptAccumulatorTest, ChunksEqualFramesAndErrorsChangeNothing) {
  const v1::ExperimentSpec spec = Spec(v1::HrfModel::NONE, 4);
  const RunPlan plan = PlanRuns(spec)[1];
  auto by_frame = PromptAccumulator::Create(spec, plan, 3);
  auto by_chunk = PromptAccumulator::Create(spec, plan, 3);
  ASSERT_THAT(by_frame, IsOk());
  ASSERT_THAT(by_chunk, IsOk());
  arma::fmat y = arma::randn<arma::fmat>(3, 24);  // column t = frame t
  EXPECT_THAT(by_frame->Values(),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  for (int64_t t = 0; t < 24; ++t) {
    ASSERT_THAT(by_frame->Add(t, y.colptr(t), 3), IsOk());
  }
  std::vector<int64_t> ts(24);
  std::iota(ts.begin(), ts.end(), 0);
  EXPECT_THAT(by_chunk->AddRows(ts.data(), y.memptr(), 12, 2),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ts[5] = 3;  // repeated within the block: nothing is added
  EXPECT_THAT(by_chunk->AddRows(ts.data(), y.memptr(), 12, 3),
              StatusIs(absl::StatusCode::kAlreadyExists));
  ts[5] = 5;
  ASSERT_THAT(by_chunk->AddRows(ts.data(), y.memptr(), 12, 3), IsOk());
  ASSERT_THAT(by_chunk->AddRows(ts.data() + 12, y.colptr(12), 12, 3), IsOk());
  EXPECT_THAT(by_chunk->Add(24, y.colptr(0), 3),
              StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(by_chunk->Add(0, y.colptr(0), 3),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_TRUE(arma::approx_equal(by_frame->Values().value(),
                                 by_chunk->Values().value(), "absdiff", 0.0));
}

// With an HRF, data made from the per-prompt design (one level per prompt,
// convolved) give those levels back as the prompts' betas.
TEST(PromptAccumulatorTest, HrfBetasRecoverPromptLevels) {
  const v1::ExperimentSpec spec = Spec(v1::HrfModel::SPM, 8);
  const RunPlan plan = PlanRuns(spec)[0];
  // The same design the accumulator builds: per-prompt SPM regressors.
  DesignOptions options;
  options.num_frames = static_cast<int>(plan.time_points);
  options.hrf = HrfModel::kSpm;
  options.drift = DriftModel::kNone;
  std::vector<Event> events;
  for (int p = 0; p < 6; ++p) {
    events.push_back({8.0 * p, 8.0, "prompt00000" + std::to_string(p), 1.0});
  }
  auto design = DesignMatrixBuilder(options).Build(events);
  ASSERT_THAT(design, IsOk());
  const arma::mat x = design->x.cols(0, 5);
  const arma::mat levels = {{1, -2}, {3, 0.5}, {-1, 4},
                            {2, 2},  {0, 1},   {5, -3}};
  const arma::fmat y = arma::conv_to<arma::fmat>::from(x * levels);  // T x 2
  auto acc = PromptAccumulator::Create(spec, plan, 2);
  ASSERT_THAT(acc, IsOk());
  for (int64_t t = 0; t < plan.time_points; ++t) {
    const arma::frowvec row = y.row(t);
    ASSERT_THAT(acc->Add(t, row.memptr(), 2), IsOk());
  }
  auto values = acc->Values();
  ASSERT_THAT(values, IsOk());
  EXPECT_LT(arma::max(arma::max(arma::abs(*values - levels))), 1e-4);
}

TEST(PromptAccumulatorTest, MakeRunPromptsLabelsFromThePlan) {
  const v1::ExperimentSpec spec = Spec(v1::HrfModel::NONE, 4);
  const RunPlan plan = PlanRuns(spec)[0];
  auto prompts = MakeRunPrompts(plan, arma::mat(6, 2, arma::fill::zeros));
  ASSERT_THAT(prompts, IsOk());
  EXPECT_EQ(prompts->task, (std::vector<uint8_t>{0, 0, 1, 1, 0, 0}));
  EXPECT_EQ(prompts->text, plan.prompts);
  EXPECT_THAT(MakeRunPrompts(plan, arma::mat(5, 2)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fnprobe::analysis
