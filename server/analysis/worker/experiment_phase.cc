#include "server/analysis/worker/experiment_phase.h"

#include "absl/strings/str_cat.h"
#include "server/analysis/worker/experiment_rows.h"

namespace fnprobe::worker {

const char* PhaseName(ExperimentPhase phase) {
  switch (phase) {
    case ExperimentPhase::kUnspecified:
      return "PHASE_UNSPECIFIED";
    case ExperimentPhase::kQueued:
      return "PHASE_QUEUED";
    case ExperimentPhase::kGenerating:
      return "PHASE_GENERATING";
    case ExperimentPhase::kAnalyzing:
      return "PHASE_ANALYZING";
    case ExperimentPhase::kDone:
      return "PHASE_DONE";
    case ExperimentPhase::kFailed:
      return "PHASE_FAILED";
    case ExperimentPhase::kCancelled:
      return "PHASE_CANCELLED";
  }
  return "";
}

const char* RunStateName(RunState state) {
  switch (state) {
    case RunState::kUnspecified:
      return "RUN_STATE_UNSPECIFIED";
    case RunState::kPending:
      return "RUN_PENDING";
    case RunState::kRunning:
      return "RUN_RUNNING";
    case RunState::kDone:
      return "RUN_DONE";
    case RunState::kFailed:
      return "RUN_FAILED";
    case RunState::kCancelled:
      return "RUN_CANCELLED";
  }
  return "";
}

bool IsTerminalPhase(ExperimentPhase phase) {
  return phase == ExperimentPhase::kDone || phase == ExperimentPhase::kFailed ||
         phase == ExperimentPhase::kCancelled;
}

namespace {

using P = ExperimentPhase;

bool Allowed(P from, P to) {
  switch (from) {
    case P::kQueued:
      // Straight to analyzing only when there is nothing left to generate
      // (recovery of an experiment whose runs all finished).
      return to == P::kGenerating || to == P::kAnalyzing || to == P::kFailed ||
             to == P::kCancelled;
    case P::kGenerating:
      return to == P::kGenerating || to == P::kAnalyzing || to == P::kFailed ||
             to == P::kCancelled;
    case P::kAnalyzing:
      return to == P::kAnalyzing || to == P::kDone || to == P::kFailed ||
             to == P::kCancelled;
    case P::kDone:
      return to == P::kAnalyzing;  // re-analysis
    default:
      return false;  // failed and cancelled are final
  }
}

std::string RunName(const RunRow& run) {
  return absl::StrCat("run ", run.index, " (", run.condition, ", repeat ",
                      run.repeat, ")");
}

}  // namespace

absl::Status CheckPhaseTransition(int64_t id, ExperimentPhase from,
                                  ExperimentPhase to) {
  if (Allowed(from, to)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("experiment ", id, " is ", PhaseName(from),
                   IsTerminalPhase(from) ? " (finished)" : "",
                   "; it cannot become ", PhaseName(to)));
}

Recovery DecideRecovery(const ExperimentRow& e) {
  Recovery r;
  if (IsTerminalPhase(e.phase) && e.phase != ExperimentPhase::kDone) return r;
  if (e.runs.empty()) {
    r.action = Recovery::kFail;
    r.error = absl::StrCat("experiment ", e.id, " has no runs");
    return r;
  }
  bool pending = false;
  bool cancelled = false;
  for (const RunRow& run : e.runs) {
    switch (run.state) {
      case RunState::kFailed:
        r.action = Recovery::kFail;
        r.error = absl::StrCat(RunName(run), " failed",
                               run.error.empty() ? "" : ": ", run.error);
        return r;
      case RunState::kCancelled:
        cancelled = true;
        break;
      case RunState::kPending:
      case RunState::kRunning:
        pending = true;
        break;
      case RunState::kDone:
        break;
      default:
        r.action = Recovery::kFail;
        r.error = absl::StrCat(RunName(run), " has no known state");
        return r;
    }
  }
  if (e.phase == ExperimentPhase::kDone) {
    // Only a re-analysis of a complete experiment starts from done.
    if (!pending && !cancelled) r.action = Recovery::kAnalyze;
    return r;
  }
  if (cancelled) {
    r.action = Recovery::kCancel;
  } else if (pending) {
    r.action = Recovery::kGenerate;
  } else {
    r.action = Recovery::kAnalyze;
  }
  return r;
}

}  // namespace fnprobe::worker
