// Text corpora (issue 14): a spec's `texts` and `ica` are validated naming
// each field, and PlanRuns plans one run per group, drawing its texts from
// the pools in turn, without replacement within a group, the same on every
// call.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/run_planner.h"

namespace fnprobe {
namespace {

using ::testing::HasSubstr;

v1::ExperimentSpec CorpusSpec(int pools = 2, int texts_per_pool = 20) {
  v1::ExperimentSpec spec;
  spec.set_name("corpus");
  spec.set_model("tiny");
  spec.mutable_generation()->set_seed(9);
  v1::TextCorpus* t = spec.mutable_texts();
  for (int p = 0; p < pools; ++p) {
    v1::PromptPool* pool = t->add_pools();
    pool->set_name(absl::StrCat("pool", p));
    for (int i = 0; i < texts_per_pool; ++i) {
      pool->add_prompts(absl::StrCat("text ", i, " of pool ", p));
    }
  }
  t->set_texts_per_group(10);
  t->set_groups(4);
  return spec;
}

std::string Problems(const v1::ExperimentSpec& spec) {
  return std::string(ValidateSpec(spec).message());
}

TEST(TextCorpusSpecTest, ACorpusAloneIsValidAndTakesDefaults) {
  const v1::ExperimentSpec spec = CorpusSpec();
  ASSERT_TRUE(ValidateSpec(spec).ok()) << ValidateSpec(spec);
  const v1::ExperimentSpec d = WithDefaults(spec);
  EXPECT_EQ(d.texts().max_tokens(), kDefaultTextMaxTokens);
  EXPECT_EQ(d.ica().components(), kDefaultIcaComponents);
  EXPECT_DOUBLE_EQ(d.ica().z(), 3.6);
  EXPECT_EQ(d.ica().seed(), 9u);
  EXPECT_EQ(d.ica().restarts(), 1);
  EXPECT_TRUE(IsTextCorpus(d));
}

TEST(TextCorpusSpecTest, EveryProblemIsNamedByItsField) {
  v1::ExperimentSpec spec = CorpusSpec();
  spec.mutable_texts()->set_groups(0);
  spec.mutable_texts()->set_texts_per_group(-1);
  spec.mutable_texts()->set_max_tokens(100000);
  spec.mutable_texts()->mutable_pools(1)->set_name("pool0");
  spec.mutable_ica()->set_components(-2);
  spec.mutable_ica()->set_z(-1);
  spec.mutable_ica()->add_hooks("");
  const std::string p = Problems(spec);
  EXPECT_THAT(p, HasSubstr("texts.groups: must be in [1, 1000], got 0"));
  EXPECT_THAT(p, HasSubstr("texts.textsPerGroup: must be in [1, 10000]"));
  EXPECT_THAT(p, HasSubstr("texts.maxTokens: must be in [1, 4096]"));
  EXPECT_THAT(p, HasSubstr("texts.pools[1].name: 'pool0' is used"));
  EXPECT_THAT(p, HasSubstr("ica.components: must be in [1, 500]"));
  EXPECT_THAT(p, HasSubstr("ica.z: must be a finite number >= 0"));
  EXPECT_THAT(p, HasSubstr("ica.hooks[0]: is empty"));
}

TEST(TextCorpusSpecTest, APoolTooSmallForItsShareSaysHowManyItNeeds) {
  v1::ExperimentSpec spec = CorpusSpec(2, 4);  // a group draws 5 per pool
  EXPECT_THAT(Problems(spec),
              HasSubstr("texts.pools[0].prompts: has 4 texts; a group of 10 "
                        "texts over 2 pool(s) draws 5 from it"));
}

TEST(TextCorpusSpecTest, ACorpusBesideABlockDesignIsRefused) {
  v1::ExperimentSpec spec = CorpusSpec();
  spec.add_conditions()->set_name("a");
  EXPECT_THAT(Problems(spec),
              HasSubstr("texts: a text corpus replaces conditions, baseline "
                        "and design"));
}

TEST(TextCorpusSpecTest, IcaBesideABlockDesignIsValidated) {
  v1::ExperimentSpec spec;
  spec.set_name("block");
  spec.set_model("tiny");
  spec.mutable_ica()->set_components(1000);
  EXPECT_THAT(Problems(spec), HasSubstr("ica.components: must be in [1, 500]"));
}

TEST(TextCorpusPlannerTest, OneRunPerGroupDrawnFromThePoolsInTurn) {
  const v1::ExperimentSpec spec = WithDefaults(CorpusSpec());
  const std::vector<RunPlan> plans = PlanRuns(spec);
  ASSERT_EQ(plans.size(), 4u);
  std::set<std::vector<std::string>> distinct;
  for (int g = 0; g < 4; ++g) {
    const RunPlan& plan = plans[g];
    EXPECT_TRUE(IsTextGroup(plan));
    EXPECT_EQ(plan.condition_name, kTextGroupCondition);
    EXPECT_EQ(plan.repeat, g);
    EXPECT_EQ(plan.time_points, 10 * kDefaultTextMaxTokens);
    EXPECT_TRUE(plan.events.empty());
    ASSERT_EQ(plan.prompts.size(), 10u);
    ASSERT_EQ(plan.blocks.size(), 10u);
    std::map<std::string, int> per_pool;
    std::set<std::string> texts;
    for (size_t i = 0; i < plan.prompts.size(); ++i) {
      EXPECT_EQ(plan.blocks[i].first_prompt, static_cast<int>(i));
      EXPECT_EQ(plan.blocks[i].num_prompts, 1);
      texts.insert(plan.prompts[i]);
      ++per_pool[plan.prompts[i].substr(plan.prompts[i].rfind(' ') + 1)];
    }
    EXPECT_EQ(texts.size(), 10u) << "drawn without replacement in a group";
    EXPECT_EQ(per_pool["0"], 5);
    EXPECT_EQ(per_pool["1"], 5);
    distinct.insert(plan.prompts);
  }
  EXPECT_EQ(distinct.size(), 4u) << "groups draw independently";
  // Pure function of the spec.
  const std::vector<RunPlan> again = PlanRuns(spec);
  for (size_t g = 0; g < plans.size(); ++g) {
    EXPECT_EQ(again[g].prompts, plans[g].prompts);
  }
  v1::ExperimentSpec reseeded = spec;
  reseeded.mutable_generation()->set_seed(10);
  EXPECT_NE(PlanRuns(reseeded)[0].prompts, plans[0].prompts);
}

}  // namespace
}  // namespace fnprobe
