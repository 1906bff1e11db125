#include "server/analysis/worker/proto_conversion.h"

#include <vector>

#include "absl/status/statusor.h"
#include "common/layout_proto.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::worker {
namespace {

using ::fnprobe::testing::StatusIs;

RunRow SomeRun(int index) {
  RunRow run;
  run.id = 100 + index;
  run.index = index;
  run.condition = "alpha";
  run.repeat = 2;
  run.state = RunState::kDone;
  run.time_points = 24;
  run.tokens_generated = 23;
  run.overflow_count = 3;
  run.activation_path = "/data/run.fpa";
  run.activation_checksum = "abc";
  run.error = "";
  run.attempts = 2;
  return run;
}

ExperimentRow SomeExperiment() {
  ExperimentRow e;
  e.id = 7;
  e.name = "topics";
  e.owner = "alice";
  e.phase = ExperimentPhase::kFailed;
  e.error = "inference unreachable";
  e.spec.set_name("topics");
  e.spec.set_model("tiny-model");
  e.progress = {1, 2, 30, 48};
  e.runs = {SomeRun(0), SomeRun(1)};
  e.runs[1].state = RunState::kFailed;
  e.runs[1].error = "stream broke";
  e.layout = Layout({{"blocks.0.hook_resid_post", 8}, {"blocks.1.mlp", 4}});
  e.created_at = "2026-01-01T00:00:00.000Z";
  e.started_at = "2026-01-01T00:00:01.000Z";
  e.finished_at = "2026-01-01T00:00:02.000Z";
  e.plan_version = 3;
  e.stored_bytes = 4096;
  e.activations_deleted = false;
  e.model_checksum = "sha";
  return e;
}

TEST(ProtoConversionTest, EnumsKeepTheirNumbers) {
  for (int i = 0; i <= 6; ++i) {
    const auto phase = static_cast<v1::ExperimentPhase>(i);
    EXPECT_EQ(ToProto(FromProto(phase)), phase);
    EXPECT_EQ(PhaseName(FromProto(phase)), v1::ExperimentPhase_Name(phase));
  }
  for (int i = 0; i <= 5; ++i) {
    const auto state = static_cast<v1::RunState>(i);
    EXPECT_EQ(ToProto(FromProto(state)), state);
    EXPECT_EQ(RunStateName(FromProto(state)), v1::RunState_Name(state));
  }
  EXPECT_EQ(ToProto(ExperimentPhase::kGenerating), v1::PHASE_GENERATING);
  EXPECT_EQ(ToProto(RunState::kCancelled), v1::RUN_CANCELLED);
}

TEST(ProtoConversionTest, RunFieldForField) {
  const v1::Run run = ToProto(SomeRun(1));
  EXPECT_EQ(run.id(), 101);
  EXPECT_EQ(run.index(), 1);
  EXPECT_EQ(run.condition(), "alpha");
  EXPECT_EQ(run.repeat(), 2);
  EXPECT_EQ(run.state(), v1::RUN_DONE);
  EXPECT_EQ(run.time_points(), 24);
  EXPECT_EQ(run.tokens_generated(), 23);
  EXPECT_EQ(run.overflow_count(), 3);
  EXPECT_EQ(run.activation_path(), "/data/run.fpa");
  EXPECT_EQ(run.activation_checksum(), "abc");
  EXPECT_EQ(run.error(), "");
  EXPECT_EQ(run.attempts(), 2);
}

TEST(ProtoConversionTest, ExperimentFieldForField) {
  const ExperimentRow row = SomeExperiment();
  const v1::Experiment e = ToProto(row);
  EXPECT_EQ(e.id(), 7);
  EXPECT_EQ(e.name(), "topics");
  EXPECT_EQ(e.owner(), "alice");
  EXPECT_EQ(e.phase(), v1::PHASE_FAILED);
  EXPECT_EQ(e.error(), "inference unreachable");
  EXPECT_EQ(e.spec().model(), "tiny-model");
  EXPECT_EQ(e.model(), "tiny-model");  // the spec's
  EXPECT_EQ(e.created_at(), row.created_at);
  EXPECT_EQ(e.started_at(), row.started_at);
  EXPECT_EQ(e.finished_at(), row.finished_at);
  EXPECT_EQ(e.plan_version(), 3);
  EXPECT_EQ(e.stored_bytes(), 4096);
  EXPECT_FALSE(e.activations_deleted());
  EXPECT_EQ(e.model_checksum(), "sha");
  EXPECT_EQ(e.estimated_bytes(), 0);  // the service's, at submission
  ASSERT_EQ(e.runs_size(), 2);
  EXPECT_EQ(e.runs(1).state(), v1::RUN_FAILED);
  EXPECT_EQ(e.runs(1).error(), "stream broke");
  ASSERT_TRUE(e.has_layout());
  EXPECT_EQ(e.layout().hooks_size(), 2);
  EXPECT_EQ(e.layout().width(), 12);
  EXPECT_EQ(e.layout().hash(), row.layout->hash());
  // The progress repeats the experiment's id, phase and error.
  const v1::ExperimentProgress& p = e.progress();
  EXPECT_EQ(p.experiment_id(), 7);
  EXPECT_EQ(p.phase(), v1::PHASE_FAILED);
  EXPECT_EQ(p.error(), "inference unreachable");
  EXPECT_EQ(p.runs_done(), 1);
  EXPECT_EQ(p.runs_total(), 2);
  EXPECT_EQ(p.tokens_done(), 30);
  EXPECT_EQ(p.tokens_total(), 48);
  EXPECT_EQ(p.tokens_per_second(), 0);
  EXPECT_EQ(p.message(), "");
}

TEST(ProtoConversionTest, NoLayoutNoRunsLeaveTheFieldsUnset) {
  ExperimentRow row = SomeExperiment();
  row.layout.reset();
  row.runs.clear();
  const v1::Experiment e = ToProto(row);
  EXPECT_FALSE(e.has_layout());
  EXPECT_EQ(e.runs_size(), 0);
  EXPECT_EQ(e.progress().runs_total(), 2);  // counted by the store
}

TEST(ProtoConversionTest, PageKeepsOrderAndToken) {
  ExperimentPage page;
  page.experiments = {SomeExperiment(), SomeExperiment()};
  page.experiments[1].id = 5;
  page.next_page_token = "5";
  const v1::ListExperimentsResponse r = ToProto(page);
  ASSERT_EQ(r.experiments_size(), 2);
  EXPECT_EQ(r.experiments(0).id(), 7);
  EXPECT_EQ(r.experiments(1).id(), 5);
  EXPECT_EQ(r.next_page_token(), "5");
  EXPECT_EQ(ToProto(ExperimentPage()).experiments_size(), 0);
}

TEST(ProtoConversionTest, RunEventsCarryTheRun) {
  RunEvents events;
  events.run = SomeRun(3);
  EXPECT_EQ(ToProto(events).run().id(), 103);
  EXPECT_EQ(ToProto(events).run().index(), 3);
}

TEST(ProtoConversionTest, ErrorsPassThrough) {
  const absl::StatusOr<ExperimentRow> missing =
      absl::NotFoundError("experiment 9 not found");
  EXPECT_THAT(ToProto(missing), StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace fnprobe::worker
