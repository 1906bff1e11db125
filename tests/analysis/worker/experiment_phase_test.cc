#include "server/analysis/worker/experiment_phase.h"

#include <initializer_list>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::worker {
namespace {

using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;

constexpr v1::ExperimentPhase kAll[] = {
    v1::PHASE_QUEUED, v1::PHASE_GENERATING, v1::PHASE_ANALYZING,
    v1::PHASE_DONE,   v1::PHASE_FAILED,     v1::PHASE_CANCELLED};

TEST(ExperimentPhaseTest, FailedAndCancelledAreFinal) {
  for (v1::ExperimentPhase from : {v1::PHASE_FAILED, v1::PHASE_CANCELLED}) {
    for (v1::ExperimentPhase to : kAll) {
      EXPECT_THAT(CheckPhaseTransition(7, from, to),
                  StatusIs(absl::StatusCode::kFailedPrecondition,
                           HasSubstr("experiment 7")))
          << v1::ExperimentPhase_Name(from) << " -> "
          << v1::ExperimentPhase_Name(to);
    }
  }
}

TEST(ExperimentPhaseTest, DoneOnlyReopensForReanalysis) {
  for (v1::ExperimentPhase to : kAll) {
    EXPECT_EQ(CheckPhaseTransition(1, v1::PHASE_DONE, to).ok(),
              to == v1::PHASE_ANALYZING)
        << v1::ExperimentPhase_Name(to);
  }
}

TEST(ExperimentPhaseTest, UnfinishedPhasesMoveForwardOrEnd) {
  for (v1::ExperimentPhase from :
       {v1::PHASE_QUEUED, v1::PHASE_GENERATING, v1::PHASE_ANALYZING}) {
    EXPECT_OK(CheckPhaseTransition(1, from, v1::PHASE_FAILED));
    EXPECT_OK(CheckPhaseTransition(1, from, v1::PHASE_CANCELLED));
    EXPECT_OK(CheckPhaseTransition(1, from, v1::PHASE_ANALYZING));
  }
  EXPECT_OK(CheckPhaseTransition(1, v1::PHASE_QUEUED, v1::PHASE_GENERATING));
  EXPECT_OK(
      CheckPhaseTransition(1, v1::PHASE_GENERATING, v1::PHASE_GENERATING));
  EXPECT_OK(CheckPhaseTransition(1, v1::PHASE_ANALYZING, v1::PHASE_DONE));
  // Done only from analyzing; no way back to generating.
  EXPECT_FALSE(CheckPhaseTransition(1, v1::PHASE_QUEUED, v1::PHASE_DONE).ok());
  EXPECT_FALSE(
      CheckPhaseTransition(1, v1::PHASE_GENERATING, v1::PHASE_DONE).ok());
  EXPECT_FALSE(
      CheckPhaseTransition(1, v1::PHASE_ANALYZING, v1::PHASE_GENERATING).ok());
}

v1::Experiment WithRuns(v1::ExperimentPhase phase,
                        std::initializer_list<v1::RunState> states) {
  v1::Experiment e;
  e.set_id(3);
  e.set_phase(phase);
  int index = 0;
  for (v1::RunState s : states) {
    v1::Run* run = e.add_runs();
    run->set_index(index++);
    run->set_condition("alpha");
    run->set_state(s);
    if (s == v1::RUN_FAILED) run->set_error("inference server gone");
  }
  return e;
}

TEST(ExperimentPhaseTest, RecoveryFollowsTheRuns) {
  using R = Recovery;
  EXPECT_EQ(DecideRecovery(
                WithRuns(v1::PHASE_QUEUED, {v1::RUN_PENDING, v1::RUN_PENDING}))
                .action,
            R::kGenerate);
  EXPECT_EQ(DecideRecovery(
                WithRuns(v1::PHASE_GENERATING, {v1::RUN_DONE, v1::RUN_PENDING}))
                .action,
            R::kGenerate);
  EXPECT_EQ(DecideRecovery(
                WithRuns(v1::PHASE_GENERATING, {v1::RUN_DONE, v1::RUN_DONE}))
                .action,
            R::kAnalyze);
  // 17 of 18 runs done and one failed: failed, never analyzed as done.
  const Recovery failed = DecideRecovery(WithRuns(
      v1::PHASE_GENERATING, {v1::RUN_DONE, v1::RUN_FAILED, v1::RUN_PENDING}));
  EXPECT_EQ(failed.action, R::kFail);
  EXPECT_THAT(failed.error, HasSubstr("run 1 (alpha, repeat 0) failed: "
                                      "inference server gone"));
  EXPECT_EQ(DecideRecovery(
                WithRuns(v1::PHASE_GENERATING,
                         {v1::RUN_DONE, v1::RUN_CANCELLED, v1::RUN_PENDING}))
                .action,
            R::kCancel);
  EXPECT_EQ(DecideRecovery(WithRuns(v1::PHASE_ANALYZING, {})).action, R::kFail);
  EXPECT_EQ(
      DecideRecovery(WithRuns(v1::PHASE_CANCELLED, {v1::RUN_PENDING})).action,
      R::kNone);
  EXPECT_EQ(DecideRecovery(WithRuns(v1::PHASE_FAILED, {v1::RUN_DONE})).action,
            R::kNone);
}

}  // namespace
}  // namespace fnprobe::worker
