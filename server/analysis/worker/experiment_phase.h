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
#include "fnprobe/v1/experiments.pb.h"

namespace fnprobe::worker {

bool IsTerminalPhase(v1::ExperimentPhase phase);

// OK if experiment `id` may go from `from` to `to`; FAILED_PRECONDITION
// naming both phases otherwise.
absl::Status CheckPhaseTransition(int64_t id, v1::ExperimentPhase from,
                                  v1::ExperimentPhase to);

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

// Decides from `e` (with its runs). A failed run makes the experiment
// failed and a cancelled one cancelled even when other runs are pending: a
// run that ended so is never redone, and an experiment that lacks a run
// must never be analyzed as if it were complete.
Recovery DecideRecovery(const v1::Experiment& e);

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_PHASE_H_
