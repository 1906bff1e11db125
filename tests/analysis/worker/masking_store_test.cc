// MaskingStore (server/analysis/worker/masking_store.h) on a real SQLite
// file: the plan stored with the experiment in CreateExperiment's
// transaction and read back, runs' plans readable by LoadPlans, scores
// stored with the run marked done (once), read back in plan order, and
// ownership: another user's experiment is NOT_FOUND.
#include "server/analysis/worker/masking_store.h"

#include <google/protobuf/util/json_util.h>

#include "tests/analysis/worker/store_test_fixture.h"

namespace fnprobe::worker::store_test {
namespace {

v1::ExperimentSpec MaskingSpec() {
  v1::ExperimentSpec spec;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"name": "mask", "model": "tiny-model", "masking": {
    "networks": [{"units": ["blocks.0.mlp_post[1]"]}],
    "operations": ["ZERO"], "controls": 5,
    "evaluation": [{"name": "a", "texts": ["x y", "z w"]}]}})",
                  &spec)
                  .ok());
  EXPECT_OK(ValidateSpec(spec));
  return WithDefaults(spec);
}

class MaskingStoreTest : public StoreTest {
 protected:
  int64_t Create(const v1::ExperimentSpec& spec, MaskingPlan* plan) {
    plan->networks.resize(1);
    plan->networks[0].name = "network-0";
    plan->networks[0].units = {{"blocks.0.mlp_post", {1}}};
    plan->networks[0].controls = DrawControls(
        plan->networks[0].units, {{"blocks.0.mlp_post", 6}}, 5, 1, 0);
    plan->runs = PlanMaskingRuns(spec, 1, 5);
    auto id = store_->experiments().CreateExperiment(
        kAlice, spec, MaskingRunPlans(spec, *plan), "",
        [&](SQLite::Database& db, int64_t id) {
          MaskingStore::InsertPlan(db, id, *plan);
        });
    EXPECT_OK(id);
    return id.ok() ? *id : 0;
  }
};

TEST_F(MaskingStoreTest, PlanAndScoresRoundTrip) {
  const v1::ExperimentSpec spec = MaskingSpec();
  MaskingPlan plan;
  const int64_t id = Create(spec, &plan);
  ASSERT_OK_AND_ASSIGN(MaskingPlan back, store_->masking().LoadPlan(id));
  EXPECT_EQ(back.networks[0].controls, plan.networks[0].controls);
  ASSERT_EQ(back.runs.size(), 2u);  // unmasked, ZERO
  ASSERT_OK_AND_ASSIGN(std::vector<RunPlan> plans,
                       store_->experiments().LoadPlans(id));
  ASSERT_EQ(plans.size(), 2u);
  EXPECT_EQ(plans[1].condition_name, "ZERO/network-0/a");
  EXPECT_EQ(plans[1].prompts, (std::vector<std::string>{"x y", "z w"}));
  EXPECT_EQ(plans[1].time_points, 2 * 6);  // texts x members

  ASSERT_OK_AND_ASSIGN(std::vector<RunRow> runs,
                       store_->experiments().ListRuns(id));
  ASSERT_OK(store_->experiments().StartRun(id, runs[1].id));
  ScoredRun scored;
  scored.path = "/data/activations/experiment-1/run-2.scores.csv";
  scored.checksum = "crc32c:0";
  for (int member = 0; member < 6; ++member) {
    for (int text = 0; text < 2; ++text) {
      scored.scores.push_back({0, member, text, 3, 1.5 * member, 1});
    }
  }
  ASSERT_OK(store_->masking().MarkRunScored(runs[1].id, scored));
  EXPECT_THAT(store_->masking().MarkRunScored(runs[1].id, scored),
              StatusIs(absl::StatusCode::kAlreadyExists));
  // A pending run cannot finish.
  EXPECT_THAT(store_->masking().MarkRunScored(runs[0].id, scored),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(std::vector<MaskingScore> back_scores,
                       store_->masking().LoadScores(id, kAlice));
  ASSERT_EQ(back_scores.size(), 12u);
  EXPECT_EQ(back_scores[0].run, 1);  // the run's index in the plan
  EXPECT_EQ(back_scores[11].member, 5);
  EXPECT_DOUBLE_EQ(back_scores[11].nll_sum, 7.5);
  ASSERT_OK_AND_ASSIGN(ExperimentRow e,
                       store_->experiments().GetExperiment(id, kAlice));
  EXPECT_EQ(e.runs[1].state, RunState::kDone);
  EXPECT_EQ(e.runs[1].tokens_generated, 12);

  EXPECT_THAT(store_->masking().LoadScores(id, kBob),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->masking().LoadPlan(id, kBob),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(MaskingStoreTest, ABlockDesignExperimentHasNoMaskingPlan) {
  ASSERT_OK_AND_ASSIGN(int64_t id,
                       store_->experiments().CreateExperiment(
                           kAlice, SmallSpec(), PlanRuns(SmallSpec())));
  EXPECT_THAT(store_->masking().LoadPlan(id),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not a masking experiment")));
}

}  // namespace
}  // namespace fnprobe::worker::store_test
