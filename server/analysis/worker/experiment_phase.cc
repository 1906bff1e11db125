#include "server/analysis/worker/experiment_phase.h"

#include "absl/strings/str_cat.h"

namespace fnprobe::worker {

bool IsTerminalPhase(v1::ExperimentPhase phase) {
  return phase == v1::PHASE_DONE || phase == v1::PHASE_FAILED ||
         phase == v1::PHASE_CANCELLED;
}

namespace {

bool Allowed(v1::ExperimentPhase from, v1::ExperimentPhase to) {
  switch (from) {
    case v1::PHASE_QUEUED:
      // Straight to analyzing only when there is nothing left to generate
      // (recovery of an experiment whose runs all finished).
      return to == v1::PHASE_GENERATING || to == v1::PHASE_ANALYZING ||
             to == v1::PHASE_FAILED || to == v1::PHASE_CANCELLED;
    case v1::PHASE_GENERATING:
      return to == v1::PHASE_GENERATING || to == v1::PHASE_ANALYZING ||
             to == v1::PHASE_FAILED || to == v1::PHASE_CANCELLED;
    case v1::PHASE_ANALYZING:
      return to == v1::PHASE_ANALYZING || to == v1::PHASE_DONE ||
             to == v1::PHASE_FAILED || to == v1::PHASE_CANCELLED;
    case v1::PHASE_DONE:
      return to == v1::PHASE_ANALYZING;  // re-analysis
    default:
      return false;  // failed and cancelled are final
  }
}

std::string RunName(const v1::Run& run) {
  return absl::StrCat("run ", run.index(), " (", run.condition(), ", repeat ",
                      run.repeat(), ")");
}

}  // namespace

absl::Status CheckPhaseTransition(int64_t id, v1::ExperimentPhase from,
                                  v1::ExperimentPhase to) {
  if (Allowed(from, to)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("experiment ", id, " is ", v1::ExperimentPhase_Name(from),
                   IsTerminalPhase(from) ? " (finished)" : "",
                   "; it cannot become ", v1::ExperimentPhase_Name(to)));
}

Recovery DecideRecovery(const v1::Experiment& e) {
  Recovery r;
  if (IsTerminalPhase(e.phase()) && e.phase() != v1::PHASE_DONE) return r;
  if (e.runs().empty()) {
    r.action = Recovery::kFail;
    r.error = absl::StrCat("experiment ", e.id(), " has no runs");
    return r;
  }
  bool pending = false;
  bool cancelled = false;
  for (const v1::Run& run : e.runs()) {
    switch (run.state()) {
      case v1::RUN_FAILED:
        r.action = Recovery::kFail;
        r.error = absl::StrCat(RunName(run), " failed",
                               run.error().empty() ? "" : ": ", run.error());
        return r;
      case v1::RUN_CANCELLED:
        cancelled = true;
        break;
      case v1::RUN_PENDING:
      case v1::RUN_RUNNING:
        pending = true;
        break;
      case v1::RUN_DONE:
        break;
      default:
        r.action = Recovery::kFail;
        r.error = absl::StrCat(RunName(run), " has no known state");
        return r;
    }
  }
  if (e.phase() == v1::PHASE_DONE) {
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
