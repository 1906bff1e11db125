#include "server/analysis/worker/experiment_phase.h"

#include <initializer_list>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/worker/experiment_rows.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::worker {
namespace {

using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;

constexpr ExperimentPhase kAll[] = {
    ExperimentPhase::kQueued,    ExperimentPhase::kGenerating,
    ExperimentPhase::kAnalyzing, ExperimentPhase::kDone,
    ExperimentPhase::kFailed,    ExperimentPhase::kCancelled};

TEST(ExperimentPhaseTest, FailedAndCancelledAreFinal) {
  for (ExperimentPhase from :
       {ExperimentPhase::kFailed, ExperimentPhase::kCancelled}) {
    for (ExperimentPhase to : kAll) {
      EXPECT_THAT(CheckPhaseTransition(7, from, to),
                  StatusIs(absl::StatusCode::kFailedPrecondition,
                           HasSubstr("experiment 7")))
          << PhaseName(from) << " -> " << PhaseName(to);
    }
  }
}

TEST(ExperimentPhaseTest, DoneOnlyReopensForReanalysis) {
  for (ExperimentPhase to : kAll) {
    EXPECT_EQ(CheckPhaseTransition(1, ExperimentPhase::kDone, to).ok(),
              to == ExperimentPhase::kAnalyzing)
        << PhaseName(to);
  }
}

TEST(ExperimentPhaseTest, UnfinishedPhasesMoveForwardOrEnd) {
  for (ExperimentPhase from :
       {ExperimentPhase::kQueued, ExperimentPhase::kGenerating,
        ExperimentPhase::kAnalyzing}) {
    EXPECT_OK(CheckPhaseTransition(1, from, ExperimentPhase::kFailed));
    EXPECT_OK(CheckPhaseTransition(1, from, ExperimentPhase::kCancelled));
    EXPECT_OK(CheckPhaseTransition(1, from, ExperimentPhase::kAnalyzing));
  }
  EXPECT_OK(CheckPhaseTransition(1, ExperimentPhase::kQueued,
                                 ExperimentPhase::kGenerating));
  EXPECT_OK(CheckPhaseTransition(1, ExperimentPhase::kGenerating,
                                 ExperimentPhase::kGenerating));
  EXPECT_OK(CheckPhaseTransition(1, ExperimentPhase::kAnalyzing,
                                 ExperimentPhase::kDone));
  // Done only from analyzing; no way back to generating.
  EXPECT_FALSE(
      CheckPhaseTransition(1, ExperimentPhase::kQueued, ExperimentPhase::kDone)
          .ok());
  EXPECT_FALSE(CheckPhaseTransition(1, ExperimentPhase::kGenerating,
                                    ExperimentPhase::kDone)
                   .ok());
  EXPECT_FALSE(CheckPhaseTransition(1, ExperimentPhase::kAnalyzing,
                                    ExperimentPhase::kGenerating)
                   .ok());
}

ExperimentRow WithRuns(ExperimentPhase phase,
                       std::initializer_list<RunState> states) {
  ExperimentRow e;
  e.id = 3;
  e.phase = phase;
  int index = 0;
  for (RunState s : states) {
    RunRow& run = e.runs.emplace_back();
    run.index = index++;
    run.condition = "alpha";
    run.state = s;
    if (s == RunState::kFailed) run.error = "inference server gone";
  }
  return e;
}

TEST(ExperimentPhaseTest, NamesAreTheWireNames) {
  // Error messages have always named phases as fnprobe.v1 does.
  EXPECT_STREQ(PhaseName(ExperimentPhase::kQueued), "PHASE_QUEUED");
  EXPECT_STREQ(PhaseName(ExperimentPhase::kCancelled), "PHASE_CANCELLED");
  EXPECT_STREQ(PhaseName(static_cast<ExperimentPhase>(42)), "");
  EXPECT_STREQ(RunStateName(RunState::kFailed), "RUN_FAILED");
  EXPECT_STREQ(RunStateName(RunState::kUnspecified), "RUN_STATE_UNSPECIFIED");
  EXPECT_STREQ(RunStateName(static_cast<RunState>(-1)), "");
}

TEST(ExperimentPhaseTest, TransitionErrorNamesBothPhases) {
  EXPECT_THAT(CheckPhaseTransition(9, ExperimentPhase::kFailed,
                                   ExperimentPhase::kGenerating),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("experiment 9 is PHASE_FAILED (finished); it "
                                 "cannot become PHASE_GENERATING")));
}

TEST(ExperimentPhaseTest, RecoveryFollowsTheRuns) {
  using R = Recovery;
  EXPECT_EQ(DecideRecovery(WithRuns(ExperimentPhase::kQueued,
                                    {RunState::kPending, RunState::kPending}))
                .action,
            R::kGenerate);
  EXPECT_EQ(DecideRecovery(WithRuns(ExperimentPhase::kGenerating,
                                    {RunState::kDone, RunState::kPending}))
                .action,
            R::kGenerate);
  EXPECT_EQ(DecideRecovery(WithRuns(ExperimentPhase::kGenerating,
                                    {RunState::kDone, RunState::kDone}))
                .action,
            R::kAnalyze);
  // 17 of 18 runs done and one failed: failed, never analyzed as done.
  const Recovery failed = DecideRecovery(
      WithRuns(ExperimentPhase::kGenerating,
               {RunState::kDone, RunState::kFailed, RunState::kPending}));
  EXPECT_EQ(failed.action, R::kFail);
  EXPECT_THAT(failed.error, HasSubstr("run 1 (alpha, repeat 0) failed: "
                                      "inference server gone"));
  EXPECT_EQ(DecideRecovery(WithRuns(ExperimentPhase::kGenerating,
                                    {RunState::kDone, RunState::kCancelled,
                                     RunState::kPending}))
                .action,
            R::kCancel);
  EXPECT_EQ(DecideRecovery(WithRuns(ExperimentPhase::kAnalyzing, {})).action,
            R::kFail);
  EXPECT_EQ(DecideRecovery(
                WithRuns(ExperimentPhase::kCancelled, {RunState::kPending}))
                .action,
            R::kNone);
  EXPECT_EQ(
      DecideRecovery(WithRuns(ExperimentPhase::kFailed, {RunState::kDone}))
          .action,
      R::kNone);
}

}  // namespace
}  // namespace fnprobe::worker
