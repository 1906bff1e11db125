// The experiment state machine (DESIGN.md "Storage"), in one place:
//
//   queued -> generating -> analyzing -> done | failed | cancelled
//
// with failed and cancelled reachable from every non-terminal phase. Done,
// failed and cancelled are terminal: nothing leaves them, except that a
// re-analysis (ReanalyzeExperiment) takes a done experiment back to
// analyzing — its runs are all done, so the new analysis is complete too.
// Repeating generating or analyzing is allowed (every run start and every
// analysis step asserts its phase).
//
// The phases and run states are the worker's own enums, numbered as
// fnprobe.v1's ExperimentPhase and RunState (proto_conversion.h converts);
// PhaseName and RunStateName give the v1 names ("PHASE_DONE"), which the
// worker's error messages have always used.
//
// ExperimentStore checks every phase change with CheckPhaseTransition inside
// the transaction that stores it, so the check and the write see the same
// row; ExperimentRunner decides what to do with an unfinished experiment at
// start-up with DecideRecovery.
//
// Thread-safe: pure functions.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_PHASE_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_PHASE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace fnprobe::worker {

// Numbered as fnprobe.v1.ExperimentPhase (static_asserts in
// proto_conversion.cc), so that a value converts field for field.
enum class ExperimentPhase : int {
  kUnspecified = 0,
  kQueued = 1,      // stored, no run started yet
  kGenerating = 2,  // runs in progress
  kAnalyzing = 3,   // all runs done; fitting and thresholding
  kDone = 4,        // terminal
  kFailed = 5,      // terminal; the experiment's error says why
  kCancelled = 6,   // terminal
};

// Numbered as fnprobe.v1.RunState.
enum class RunState : int {
  kUnspecified = 0,
  kPending = 1,
  kRunning = 2,
  kDone = 3,  // activation file written; its map is stored
  kFailed = 4,
  kCancelled = 5,
};

// "PHASE_QUEUED", ..., as v1::ExperimentPhase_Name; "" outside the enum.
const char* PhaseName(ExperimentPhase phase);
// "RUN_PENDING", ..., as v1::RunState_Name; "" outside the enum.
const char* RunStateName(RunState state);

bool IsTerminalPhase(ExperimentPhase phase);

// OK if experiment `id` may go from `from` to `to`; FAILED_PRECONDITION
// naming both phases otherwise.
absl::Status CheckPhaseTransition(int64_t id, ExperimentPhase from,
                                  ExperimentPhase to);

// What the runner does with an experiment, from its stored runs.
struct Recovery {
  enum Action {
    kGenerate,  // some runs are pending (or were running): queue them
    kAnalyze,   // every run is done: analyze
    kFail,      // a run failed, or there is nothing to run: fail with `error`
    kCancel,    // some runs were cancelled (and none failed): cancelled
    kNone,      // the experiment is finished already: leave it
  };
  Action action = kNone;
  std::string error;  // for kFail
};

struct ExperimentRow;  // experiment_rows.h

// Decides from `e` (with its runs). A failed run makes the experiment
// failed and a cancelled one cancelled even when other runs are pending: a
// run that ended so is never redone, and an experiment that lacks a run
// must never be analyzed as if it were complete.
Recovery DecideRecovery(const ExperimentRow& e);

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_PHASE_H_
