// What prompt-level inference asks of a spec and of its plan: baseline
// prompts of their own per repeat (held-out runs meet no prompt their
// networks saw), no prompt in two roles, level-two models the design can
// support, permutation thresholds the design can reach.
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/run_planner.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;

void AddPrompts(v1::PromptPool* pool, const std::string& stem, int n) {
  for (int i = 0; i < n; ++i) pool->add_prompts(stem + std::to_string(i));
}

// 3 conditions, baseline/task/baseline blocks of `ppb` prompts, 3 repeats.
v1::ExperimentSpec Spec(int ppb = 3, int baseline_prompts = 18) {
  v1::ExperimentSpec spec;
  spec.set_name("s");
  spec.set_model("m");
  spec.mutable_generation()->set_tokens_per_prompt(4);
  spec.mutable_generation()->set_seed(3);
  spec.mutable_baseline()->set_name("rest");
  AddPrompts(spec.mutable_baseline(), "rest ", baseline_prompts);
  for (const char* name : {"a", "b", "c"}) {
    v1::PromptPool* pool = spec.add_conditions();
    pool->set_name(name);
    AddPrompts(pool, std::string(name) + " ", 3 * ppb);
  }
  v1::BlockDesign* d = spec.mutable_design();
  for (const char* b : {"baseline", "task", "baseline"}) d->add_pattern(b);
  d->set_prompts_per_block(ppb);
  d->set_repeats(3);
  spec.mutable_analysis()->set_classify(true);
  return spec;
}

TEST(PromptInferenceSpecTest, DefaultIsPromptLevelAndValid) {
  const v1::ExperimentSpec spec = Spec();
  EXPECT_EQ(spec.analysis().inference(), v1::InferenceLevel::PROMPT);
  EXPECT_EQ(spec.analysis().level_two(), v1::LevelTwoModel::RUN_OLS);
  EXPECT_THAT(ValidateSpec(spec), IsOk());
}

// Repeat r takes its own share of the pool; every condition's repeat-r run
// presents that share, in an order of its own.
TEST(PromptInferenceSpecTest, BaselinePromptsAreDisjointAcrossRepeats) {
  const v1::ExperimentSpec spec = WithDefaults(Spec());
  const std::vector<RunPlan> runs = PlanRuns(spec);
  ASSERT_EQ(runs.size(), 9u);
  std::vector<std::set<std::string>> by_repeat(3);
  std::vector<std::vector<std::string>> orders(3);
  for (const RunPlan& run : runs) {
    std::set<std::string> baseline;
    std::vector<std::string> order;
    for (const RunBlock& b : run.blocks) {
      if (b.task) continue;
      for (int i = b.first_prompt; i < b.first_prompt + b.num_prompts; ++i) {
        baseline.insert(run.prompts[i]);
        order.push_back(run.prompts[i]);
      }
    }
    ASSERT_EQ(baseline.size(), 6u);
    if (by_repeat[run.repeat].empty()) {
      by_repeat[run.repeat] = baseline;
      orders[run.repeat] = order;
    } else {
      EXPECT_EQ(baseline, by_repeat[run.repeat]) << "run " << run.index;
    }
  }
  std::set<std::string> all;
  for (const auto& s : by_repeat) all.insert(s.begin(), s.end());
  EXPECT_EQ(all.size(), 18u) << "a baseline prompt is in two repeats";
  // Orders differ between the conditions of one repeat (seeded per run).
  EXPECT_NE(runs[0].prompts, runs[1].prompts);
}

TEST(PromptInferenceSpecTest, BaselinePoolMustCoverEveryRepeat) {
  EXPECT_THAT(ValidateSpec(Spec(3, 17)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("baseline.prompts: has 17 prompts; 2 baseline "
                                 "block(s) x 3 prompts x 3 repeats need 18")));
}

TEST(PromptInferenceSpecTest, APromptHasOneRole) {
  v1::ExperimentSpec spec = Spec();
  spec.mutable_conditions(1)->set_prompts(2, "rest 4");
  EXPECT_THAT(ValidateSpec(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("conditions[1].prompts[2]: is also "
                                 "baseline.prompts[4]; a prompt cannot be "
                                 "both task and baseline")));
  spec = Spec();
  spec.mutable_conditions(2)->set_prompts(0, "a 5");
  EXPECT_THAT(ValidateSpec(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("conditions[2].prompts[0]: is also "
                                 "conditions[0].prompts[5]; held-out "
                                 "identification (classify)")));
  spec.mutable_analysis()->set_classify(false);
  EXPECT_THAT(ValidateSpec(spec), IsOk());
}

TEST(PromptInferenceSpecTest, ModelsTheDesignCannotSupportAreRefused) {
  v1::ExperimentSpec spec = Spec();
  spec.mutable_analysis()->set_noise(v1::NoiseModel::AR1);
  EXPECT_THAT(ValidateSpec(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("analysis.noise: AR1 whitens a token time "
                                 "series")));
  spec.mutable_analysis()->set_inference(v1::InferenceLevel::TOKEN);
  EXPECT_THAT(ValidateSpec(spec), IsOk());
  spec.mutable_analysis()->set_level_two(v1::LevelTwoModel::WELCH);
  EXPECT_THAT(ValidateSpec(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("analysis.levelTwo: applies to PROMPT")));

  spec = Spec(1, 6);  // one task prompt per run: Welch has no variance
  spec.mutable_analysis()->set_level_two(v1::LevelTwoModel::WELCH);
  EXPECT_THAT(ValidateSpec(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("WELCH needs at least 2 task and 2 baseline "
                                 "prompts per run; the design has 1 and 2")));
  spec = Spec();
  spec.mutable_generation()->set_tokens_per_prompt(1);
  spec.mutable_analysis()->set_hrf(v1::HrfModel::SPM);
  EXPECT_THAT(ValidateSpec(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("analysis.hrf: a first-level GLM per prompt "
                                 "needs at least 2 tokens")));
}

// A run of 1 task and 2 baseline prompts has 3 labellings: no permutation
// p-value can fall below 1/3. 3 + 6 prompts: C(9, 3) = 84 labellings.
TEST(PromptInferenceSpecTest, UnreachablePermutationThresholdIsRefused) {
  v1::ExperimentSpec spec = Spec(1, 6);
  spec.mutable_analysis()->mutable_threshold()->set_method(
      v1::ThresholdSpec::PERMUTATION);
  EXPECT_THAT(
      ValidateSpec(spec),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("analysis.threshold: PERMUTATION cannot reach alpha "
                         "0.05: a run of 1 task and 2 baseline prompts allows "
                         "3 labellings")));
  spec = Spec(3);
  spec.mutable_analysis()->mutable_threshold()->set_method(
      v1::ThresholdSpec::PERMUTATION);
  EXPECT_THAT(ValidateSpec(spec), IsOk());
  spec.mutable_analysis()->mutable_threshold()->set_alpha(0.01);
  EXPECT_THAT(ValidateSpec(spec), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("allows 84 labellings")));
  spec.mutable_analysis()->mutable_threshold()->set_alpha(0.05);
  spec.mutable_analysis()->mutable_threshold()->set_permutations(10);
  EXPECT_THAT(ValidateSpec(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("(with 10 permutations)")));
}

}  // namespace
}  // namespace fnprobe
