#include "server/analysis/worker/experiment_runner.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <limits>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_util.h"
#include "server/analysis/experiment_analysis.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/storage/activation_store.h"
#include "server/analysis/worker/experiment_phase.h"
#include "server/analysis/worker/heap_policy.h"
#include "server/analysis/worker/ica_decomposer.h"
#include "server/analysis/worker/masking_runner.h"
#include "server/analysis/worker/run_executor.h"
#include "server/analysis/worker/stored_run_fitter.h"

namespace fnprobe::worker {

// An experiment the runner is working on. Guarded by the runner's mu_;
// spec and plans are fixed once the entry is in active_ (threads read them
// without the lock).
struct ExperimentRunner::Active {
  v1::ExperimentSpec spec;
  std::vector<RunPlan> plans;
  std::deque<Job> pending;
  int in_flight = 0;       // run jobs held by threads
  bool analyzing = false;  // the analysis job is queued or held
  bool cancelled = false;
  bool failed = false;
  absl::flat_hash_set<grpc::ClientContext*> contexts;

  bool Idle() const { return in_flight == 0 && !analyzing; }
  void Stop() {
    pending.clear();
    for (grpc::ClientContext* c : contexts) c->TryCancel();
  }
};

namespace {

void Log(const std::string& line) {
  std::cerr << "fnprobe-worker: " << line << std::endl;
}

}  // namespace

ExperimentRunner::ExperimentRunner(WorkerStore* store, InferencePool* pool,
                                   ProgressHub* hub,
                                   ExperimentRunnerOptions options)
    : store_(&store->experiments()),
      masking_(&store->masking()),
      results_(&store->results()),
      storage_(&store->storage()),
      ica_(&store->ica()),
      pool_(pool),
      hub_(hub),
      options_(std::move(options)) {}

ExperimentRunner::~ExperimentRunner() { Stop(); }

std::string ExperimentRunner::ActivationPath(int64_t experiment_id,
                                             int64_t run_id) const {
  return absl::StrCat(options_.data_dir, "/activations/experiment-",
                      experiment_id, "/run-", run_id, ".fnpact");
}

absl::Status ExperimentRunner::Start() {
  // Only when idle memory is released: otherwise the worker would keep its
  // high-water mark for good.
  if (options_.release_idle_memory) KeepFreedMemoryWhileBusy();
  const std::filesystem::path root =
      std::filesystem::path(options_.data_dir) / "activations";
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", root.string(), ": ", ec.message()));
  }
  for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
    if (entry.is_directory()) {
      FNPROBE_RETURN_IF_ERROR(
          CleanupTemporaries(entry.path().string()).status());
    }
  }
  FNPROBE_RETURN_IF_ERROR(SweepUnreferencedFiles(root));
  FNPROBE_ASSIGN_OR_RETURN(int reset, store_->ResetInterruptedRuns());
  if (reset > 0) Log(absl::StrCat(reset, " interrupted run(s) will be redone"));
  FNPROBE_ASSIGN_OR_RETURN(std::vector<int64_t> unfinished,
                           store_->UnfinishedExperiments());
  {
    absl::MutexLock lock(&mu_);
    for (int64_t id : unfinished) {
      absl::Status s = EnqueueLocked(id, /*refit=*/false);
      if (!s.ok()) Log(absl::StrCat("experiment ", id, ": ", s.message()));
    }
  }
  const int n = std::max(1, options_.max_concurrent_runs);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
  return absl::OkStatus();
}

void ExperimentRunner::Stop(absl::Duration drain) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && threads_.empty()) return;
    draining_ = true;
    auto idle = [this]()
                    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return busy_ == 0; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&idle), drain)) {
      Log(absl::StrCat(busy_, " job(s) still in flight after ",
                       absl::FormatDuration(drain),
                       "; cancelling them (their runs are redone at the next "
                       "start)"));
    }
    stopping_ = true;
    for (auto& [id, a] : active_) {
      for (grpc::ClientContext* c : a->contexts) c->TryCancel();
    }
  }
  const bool started = !threads_.empty();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  // This process holds the data directory alone, so every run still
  // RUN_RUNNING is one its threads abandoned: pending again, as the next
  // start would make it, so that the stored state says what will happen.
  if (started) {
    absl::StatusOr<int> reset = store_->ResetInterruptedRuns();
    if (!reset.ok()) {
      Log(absl::StrCat("at shutdown: ", reset.status().message()));
    } else if (*reset > 0) {
      Log(absl::StrCat(*reset, " interrupted run(s) left pending"));
    }
  }
}

absl::Status ExperimentRunner::Enqueue(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  return EnqueueLocked(experiment_id, /*refit=*/false);
}

absl::Status ExperimentRunner::EnqueueLocked(int64_t experiment_id, bool refit,
                                             bool ica_only) {
  if (active_.contains(experiment_id)) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", experiment_id, " is already running"));
  }
  FNPROBE_ASSIGN_OR_RETURN(ExperimentRow e,
                           store_->GetExperiment(experiment_id, ""));
  Recovery recovery = DecideRecovery(e);
  auto a = std::make_unique<Active>();
  if (recovery.action == Recovery::kGenerate ||
      recovery.action == Recovery::kAnalyze) {
    a->spec = e.spec;
    // The plan stored at submission; an experiment of an earlier planner
    // whose plan was not stored cannot be planned the same way again.
    absl::StatusOr<std::vector<RunPlan>> plans =
        store_->LoadPlans(experiment_id);
    if (plans.ok()) {
      a->plans = *std::move(plans);
    } else if (absl::IsFailedPrecondition(plans.status()) ||
               absl::IsDataLoss(plans.status())) {
      recovery.action = Recovery::kFail;
      recovery.error = std::string(plans.status().message());
    } else {
      return plans.status();
    }
    for (const RunRow& run : e.runs) {
      if (recovery.action != Recovery::kFail &&
          (run.index < 0 || run.index >= static_cast<int>(a->plans.size()))) {
        recovery.action = Recovery::kFail;
        recovery.error = absl::StrCat("run index ", run.index,
                                      " is not in the experiment's plan");
      }
      if (run.state == RunState::kPending || run.state == RunState::kRunning) {
        // A run that is not done owns no file. A process killed between
        // finishing a run's file and storing the run leaves one, which
        // would outlive the run if it is never redone (the experiment
        // cancelled or failed first). No thread writes it: the experiment
        // is not active.
        std::error_code ec;
        std::filesystem::remove(ActivationPath(experiment_id, run.id), ec);
        a->pending.push_back(Job{experiment_id, run.id, run.index, false});
      }
    }
  }
  switch (recovery.action) {
    case Recovery::kNone:
      return absl::FailedPreconditionError(
          absl::StrCat("experiment ", experiment_id, " is ", PhaseName(e.phase),
                       "; nothing to run"));
    case Recovery::kFail:
      Log(absl::StrCat("experiment ", experiment_id,
                       " failed: ", recovery.error));
      FNPROBE_RETURN_IF_ERROR(store_->EndExperiment(
          experiment_id, ExperimentPhase::kFailed, recovery.error));
      hub_->Notify(experiment_id);
      return absl::OkStatus();
    case Recovery::kCancel:
      Log(absl::StrCat("experiment ", experiment_id,
                       " has cancelled runs; it is cancelled"));
      FNPROBE_RETURN_IF_ERROR(
          store_->EndExperiment(experiment_id, ExperimentPhase::kCancelled));
      hub_->Notify(experiment_id);
      return absl::OkStatus();
    case Recovery::kGenerate:
      rotation_.push_back(experiment_id);
      break;
    case Recovery::kAnalyze:
      a->analyzing = true;
      analyses_.push_back(Job{experiment_id, 0, 0, refit, ica_only});
      break;
  }
  active_[experiment_id] = std::move(a);
  return absl::OkStatus();
}

absl::Status ExperimentRunner::Cancel(int64_t experiment_id) {
  // The store decides: once this commits, no run of the experiment can
  // start or finish and its analysis cannot be stored; the threads notice
  // and drop their work.
  FNPROBE_RETURN_IF_ERROR(
      store_->EndExperiment(experiment_id, ExperimentPhase::kCancelled));
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(experiment_id);
    if (it != active_.end()) {
      Active* a = it->second.get();
      a->cancelled = true;
      a->Stop();
      if (a->Idle()) active_.erase(it);
    }
  }
  hub_->Notify(experiment_id);
  return absl::OkStatus();
}

absl::Status ExperimentRunner::Reanalyze(int64_t experiment_id, bool ica_only) {
  absl::MutexLock lock(&mu_);
  // Checked before the phase changes, so that the experiment is never left
  // analyzing with no job. A finished analysis lets go of its entry right
  // after committing PHASE_DONE: a client that saw done may be quicker, so
  // wait for it a little rather than refuse.
  auto gone = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !active_.contains(experiment_id);
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&gone), absl::Seconds(5))) {
    return absl::FailedPreconditionError(absl::StrCat(
        "experiment ", experiment_id, " is still being worked on"));
  }
  FNPROBE_ASSIGN_OR_RETURN(ExperimentRow e,
                           store_->GetExperiment(experiment_id, "", false));
  if (e.phase != ExperimentPhase::kDone) {
    return absl::FailedPreconditionError(absl::StrCat(
        "experiment ", experiment_id, " is ", PhaseName(e.phase),
        "; only a finished (PHASE_DONE) experiment can be reanalyzed"));
  }
  FNPROBE_RETURN_IF_ERROR(
      store_->SetPhase(experiment_id, ExperimentPhase::kAnalyzing));
  return EnqueueLocked(experiment_id, /*refit=*/!ica_only, ica_only);
}

bool ExperimentRunner::NextJob(Job* job) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return draining_ || !analyses_.empty() || !rotation_.empty();
  };
  for (;;) {
    mu_.Await(absl::Condition(&ready));
    if (draining_) return false;
    if (!analyses_.empty()) {
      *job = analyses_.front();
      analyses_.pop_front();
      ++busy_;
      return true;
    }
    while (!rotation_.empty()) {
      const int64_t id = rotation_.front();
      rotation_.pop_front();
      auto it = active_.find(id);
      // Gone, or cancelled or failed since it was queued: skip it.
      if (it == active_.end()) continue;
      Active* a = it->second.get();
      if (a->pending.empty() || a->cancelled || a->failed) continue;
      *job = a->pending.front();
      a->pending.pop_front();
      ++a->in_flight;
      if (!a->pending.empty()) rotation_.push_back(id);
      ++busy_;
      return true;
    }
  }
}

void ExperimentRunner::Loop() {
  Job job;
  while (NextJob(&job)) {
    Outcome outcome;
    const char* what = job.run_id == 0 ? "analysis" : "run";
    // Whatever a job throws (a bug, bad_alloc, a library's exception) costs
    // its experiment, never the worker.
    try {
      outcome = job.run_id == 0 ? Analyze(job) : ExecuteRun(job);
    } catch (const std::exception& e) {
      outcome = {Outcome::kFailed,
                 absl::StrCat(what, ": internal error: ", e.what())};
    } catch (...) {
      outcome = {Outcome::kFailed,
                 absl::StrCat(what, ": internal error (unknown exception)")};
    }
    try {
      FinishJob(job, outcome);
    } catch (const std::exception& e) {
      Log(absl::StrCat("experiment ", job.experiment_id,
                       ": internal error after a job: ", e.what()));
    }
  }
}

bool ExperimentRunner::ShouldAbandon(int64_t experiment_id) {
  auto it = active_.find(experiment_id);
  return stopping_ || it == active_.end() || it->second->cancelled ||
         it->second->failed;
}

bool ExperimentRunner::Abandoned(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  return ShouldAbandon(experiment_id);
}

bool ExperimentRunner::IsActive(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  return active_.contains(experiment_id);
}

bool ExperimentRunner::Backoff(int64_t experiment_id, absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto abandon = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return ShouldAbandon(experiment_id);
  };
  mu_.AwaitWithTimeout(absl::Condition(&abandon), d);
  return !ShouldAbandon(experiment_id);
}

int64_t ExperimentRunner::FreeBytes() const {
  if (options_.free_bytes) return options_.free_bytes(options_.data_dir);
  struct statvfs fs;
  if (::statvfs(options_.data_dir.c_str(), &fs) != 0) {
    return std::numeric_limits<int64_t>::max();  // unknown: do not block
  }
  return static_cast<int64_t>(fs.f_bavail) * static_cast<int64_t>(fs.f_frsize);
}

bool ExperimentRunner::IsDataDirFull(const absl::Status& status) const {
  // The activation store reports ENOSPC and EDQUOT as RESOURCE_EXHAUSTED
  // naming its file; an overloaded inference server's RESOURCE_EXHAUSTED
  // names no file of the data dir.
  return absl::IsResourceExhausted(status) &&
         absl::StrContains(status.message(), options_.data_dir);
}

int64_t ExperimentRunner::EstimatedRunBytes(int64_t experiment_id,
                                            const v1::ExperimentSpec& spec,
                                            const RunPlan& plan) {
  // Known once a run of the experiment is done; before that only the
  // reserve is checked.
  absl::StatusOr<Layout> layout = store_->ExperimentLayout(experiment_id);
  if (!layout.ok()) return 0;
  return ActivationBytes(spec, plan.time_points, layout->width());
}

bool ExperimentRunner::WaitForSpace(int64_t experiment_id,
                                    const std::string& where, int64_t bytes) {
  bool said = false;
  for (;;) {
    const int64_t free = FreeBytes();
    if (free - bytes >= options_.min_free_bytes) return true;
    if (!said) {
      Log(absl::StrCat("experiment ", experiment_id, ": ", where,
                       " waits for space: the data dir has ", free,
                       " bytes free, the run needs about ", bytes,
                       " above the reserve of ", options_.min_free_bytes,
                       " (--min-free-bytes)"));
      said = true;
    }
    if (!Backoff(experiment_id, absl::Seconds(2))) return false;
  }
}

absl::Status ExperimentRunner::SweepUnreferencedFiles(
    const std::filesystem::path& root) {
  FNPROBE_ASSIGN_OR_RETURN(const absl::flat_hash_set<std::string> referenced,
                           storage_->ReferencedActivations());
  int removed = 0;
  uintmax_t bytes = 0;
  std::error_code ec;
  for (const auto& dir : std::filesystem::directory_iterator(root, ec)) {
    if (!dir.is_directory()) continue;
    std::error_code inner;
    for (const auto& file : std::filesystem::directory_iterator(dir, inner)) {
      if (!file.is_regular_file() ||
          referenced.contains(file.path().string())) {
        continue;
      }
      std::error_code ignored;
      const uintmax_t size = file.file_size(ignored);
      if (std::filesystem::remove(file.path(), ignored)) {
        ++removed;
        bytes += ignored ? 0 : size;
      }
    }
    std::error_code ignored;
    if (std::filesystem::is_empty(dir.path(), ignored)) {
      std::filesystem::remove(dir.path(), ignored);
    }
  }
  if (removed > 0) {
    Log(absl::StrCat("removed ", removed,
                     " activation file(s) no experiment refers to (", bytes,
                     " bytes; left by a deletion or a crash)"));
  }
  return absl::OkStatus();
}

ExperimentRunner::Outcome ExperimentRunner::ExecuteRun(const Job& job) {
  const int64_t id = job.experiment_id;
  Active* a;
  {
    absl::MutexLock lock(&mu_);
    if (ShouldAbandon(id)) return {};
    a = active_.at(id).get();  // stays while in_flight > 0
  }
  if (a->spec.has_masking()) return ExecuteMasking(job, a);
  const RunPlan& plan = a->plans[job.plan_index];
  const std::string where =
      absl::StrCat("run ", plan.index, " (", plan.condition_name, ", repeat ",
                   plan.repeat, ")");
  if (!WaitForSpace(id, where, EstimatedRunBytes(id, a->spec, plan))) {
    return {};
  }
  absl::Status started = store_->StartRun(id, job.run_id);
  if (absl::IsFailedPrecondition(started)) {
    // The experiment ended, or the run is not pending: nothing to do.
    Log(absl::StrCat("experiment ", id, ": ", where,
                     " not started: ", started.message()));
    return {};
  }
  if (!started.ok()) {
    return {Outcome::kFailed, absl::StrCat(where, ": ", started.message())};
  }
  hub_->Notify(id);
  RunAttempt attempt;
  attempt.spec = &a->spec;
  attempt.plan = &plan;
  attempt.activation_path = ActivationPath(id, job.run_id);
  attempt.inference_token = options_.inference_token;
  attempt.file_system = options_.file_system;
  RunAttemptStats stats;
  attempt.stats = &stats;
  attempt.on_progress = [&](int64_t frames) {
    store_->SetRunTokens(job.run_id, frames).IgnoreError();
    hub_->Notify(id);
  };
  absl::Duration backoff = options_.initial_backoff;
  for (int n = 1;; ++n) {
    absl::Status status;
    absl::StatusOr<InferenceTarget> target = pool_->Pick(a->spec.model());
    if (!target.ok()) {
      status = target.status();
    } else {
      grpc::ClientContext context;
      {
        absl::MutexLock lock(&mu_);
        if (ShouldAbandon(id)) return {};
        a->contexts.insert(&context);
      }
      // Unregistered however the attempt ends (an exception included):
      // Cancel and Stop must never see a destroyed context.
      absl::StatusOr<FinishedRun> run = absl::InternalError("not attempted");
      {
        absl::Cleanup unregister = [&] {
          absl::MutexLock lock(&mu_);
          a->contexts.erase(&context);
        };
        run = ExecuteRunAttempt(target->stub, &context, attempt);
      }
      if (run.ok()) {
        if (options_.before_mark_run_done) {
          options_.before_mark_run_done(id, job.run_id);
        }
        status = store_->MarkRunDone(job.run_id, *run);
        if (!status.ok()) {
          // The store refused the finished run (its experiment was
          // cancelled or failed meanwhile, or the write failed): its
          // complete file must go too, or the activation store keeps a
          // file of a run that is not done. A retry writes it again.
          std::error_code ec;
          std::filesystem::remove(attempt.activation_path, ec);
        }
      }
      if (run.ok() && status.ok()) {
        Log(absl::StrFormat(
            "experiment %d: run %d (%s, repeat %d) done: %d frames in %.2f s; "
            "GLM accumulation %.1f ms (%.2f%%), activation store %.1f ms "
            "(%.2f%%), fit %.1f ms",
            id, plan.index, plan.condition_name, plan.repeat, stats.frames,
            stats.wall_s, 1e3 * stats.accumulate_s,
            100 * stats.accumulate_s / stats.wall_s, 1e3 * stats.store_s,
            100 * stats.store_s / stats.wall_s, 1e3 * stats.fit_s));
        return {Outcome::kDone, ""};
      }
      if (!run.ok()) status = run.status();
      if (IsRetryable(status)) pool_->Forget(target->address);
    }
    // A cancellation or shutdown surfaces as an error of the stream (or of
    // MarkRunDone on a cancelled run): not the run's fault.
    if (Abandoned(id)) return {};
    if (IsDataDirFull(status)) {
      // The writer removed its partial file; retrying would fill the disk
      // again while other users' runs need the space.
      return {Outcome::kFailed,
              absl::StrCat(where, ": data dir full: ", FreeBytes(),
                           " bytes free (", status.message(), ")")};
    }
    if (!IsRetryable(status) || n >= options_.max_attempts) {
      return {Outcome::kFailed,
              absl::StrCat(where, " failed after ", n,
                           " attempt(s): ", status.message())};
    }
    Log(absl::StrCat("experiment ", id, ": ", where, " attempt ", n, ": ",
                     status.ToString(), "; retrying in ",
                     absl::FormatDuration(backoff)));
    if (!Backoff(id, backoff)) return {};
    backoff = std::min(backoff * 2, options_.max_backoff);
    absl::Status restarted = store_->StartRun(id, job.run_id);
    if (absl::IsFailedPrecondition(restarted)) return {};
    if (!restarted.ok()) {
      return {Outcome::kFailed, absl::StrCat(where, ": ", restarted.message())};
    }
    hub_->Notify(id);
  }
}

ExperimentRunner::Outcome ExperimentRunner::ExecuteMasking(const Job& job,
                                                           Active* a) {
  const int64_t id = job.experiment_id;
  MaskingRunHost host;
  host.experiments = store_;
  host.masking = masking_;
  host.pool = pool_;
  host.env = options_.file_system;
  host.data_dir = options_.data_dir;
  host.inference_token = options_.inference_token;
  host.initial_backoff = options_.initial_backoff;
  host.max_backoff = options_.max_backoff;
  host.max_attempts = options_.max_attempts;
  host.abandoned = [&] { return Abandoned(id); };
  host.backoff = [&](absl::Duration d) { return Backoff(id, d); };
  host.add_context = [&](grpc::ClientContext* c) {
    absl::MutexLock lock(&mu_);
    if (ShouldAbandon(id)) return false;
    a->contexts.insert(c);
    return true;
  };
  host.remove_context = [&](grpc::ClientContext* c) {
    absl::MutexLock lock(&mu_);
    a->contexts.erase(c);
  };
  host.notify = [&] { hub_->Notify(id); };
  const MaskingRunOutcome out =
      ExecuteMaskingRun(host, id, a->spec, job.run_id, job.plan_index);
  switch (out.kind) {
    case MaskingRunOutcome::kDone:
      return {Outcome::kDone, ""};
    case MaskingRunOutcome::kFailed:
      return {Outcome::kFailed, out.error};
    default:
      return {};
  }
}

void ExperimentRunner::FinishJob(const Job& job, const Outcome& outcome) {
  const int64_t id = job.experiment_id;
  bool idle = false;
  if (outcome.kind == Outcome::kFailed) {
    // One transaction: the experiment and the run fail, the other runs are
    // cancelled. Refused when the experiment ended meanwhile (a
    // cancellation won the race): its end stands.
    absl::Status s = store_->EndExperiment(id, ExperimentPhase::kFailed,
                                           outcome.error, job.run_id);
    if (s.ok()) {
      Log(absl::StrCat("experiment ", id, " failed: ", outcome.error));
    } else {
      Log(absl::StrCat("experiment ", id, ": ", outcome.error,
                       " (not stored: ", s.message(), ")"));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    --busy_;
    auto it = active_.find(id);
    if (it != active_.end()) {
      Active* a = it->second.get();
      if (job.run_id != 0) {
        --a->in_flight;
      } else {
        a->analyzing = false;
      }
      if (outcome.kind == Outcome::kFailed) {
        a->failed = true;
        a->Stop();
      }
      const bool ended = a->cancelled || a->failed;
      if (job.run_id != 0 && outcome.kind == Outcome::kDone && !ended &&
          !stopping_ && a->pending.empty() && a->in_flight == 0) {
        a->analyzing = true;
        analyses_.push_back(Job{id, 0, 0, false});
      }
      if (a->Idle() && (ended || a->pending.empty() || stopping_)) {
        active_.erase(it);
      }
    }
    idle = busy_ == 0 && analyses_.empty() && active_.empty();
  }
  hub_->Notify(id);
  // Outside the lock: trimming takes each arena's lock in turn.
  if (idle) Log(ReleaseFreeMemory(options_.release_idle_memory).ToString());
}

ExperimentRunner::Outcome ExperimentRunner::Analyze(const Job& job) {
  const int64_t id = job.experiment_id;
  Active* a;
  {
    absl::MutexLock lock(&mu_);
    if (ShouldAbandon(id)) return {};
    a = active_.at(id).get();  // stays while analyzing
  }
  absl::Status status = AnalyzeOrError(id, a, job);
  // A cancellation (or shutdown) shows as CANCELLED from the checks between
  // steps, or as FAILED_PRECONDITION from the store; either way the
  // experiment's state is not this job's to change any more.
  if (Abandoned(id)) return {};
  if (status.ok()) return {Outcome::kDone, ""};
  if (absl::IsFailedPrecondition(status)) {
    absl::StatusOr<ExperimentRow> e = store_->GetExperiment(id, "", false);
    if (e.ok() && IsTerminalPhase(e->phase)) return {};
  }
  return {Outcome::kFailed, absl::StrCat("analysis: ", status.message())};
}

absl::Status ExperimentRunner::AnalyzeOrError(int64_t id, Active* a,
                                              const Job& job) {
  const bool refit = job.refit;
  // Checked between steps: a cancelled experiment's analysis stops at the
  // next step rather than fitting to the end for nothing.
  auto check = [&]() -> absl::Status {
    if (Abandoned(id)) {
      return absl::CancelledError(
          absl::StrCat("experiment ", id, ": analysis abandoned"));
    }
    return absl::OkStatus();
  };
  FNPROBE_RETURN_IF_ERROR(store_->SetPhase(id, ExperimentPhase::kAnalyzing));
  hub_->Notify(id);
  // Masking statistics are computed from the stored scores when read.
  if (a->spec.has_masking()) {
    return store_->SetPhase(id, ExperimentPhase::kDone);
  }
  const v1::ExperimentSpec& spec = a->spec;
  if (spec.has_ica()) FNPROBE_RETURN_IF_ERROR(DecomposeRuns(id, a, check));
  if (job.ica_only || IsTextCorpus(spec)) {
    // The GLM's results (none for a text corpus) stay as they are.
    FNPROBE_RETURN_IF_ERROR(check());
    if (options_.before_finish_analysis) options_.before_finish_analysis(id);
    return ica_->FinishIcaAnalysis(id);
  }
  FNPROBE_ASSIGN_OR_RETURN(const auto thresholds,
                           RefitRuns(id, a, refit, check));
  FNPROBE_RETURN_IF_ERROR(check());
  FNPROBE_ASSIGN_OR_RETURN(std::vector<analysis::RunInput> inputs,
                           results_->LoadRunInputs(id));
  const bool prompt = spec.analysis().inference() == v1::InferenceLevel::PROMPT;
  for (analysis::RunInput& input : inputs) {
    auto it = thresholds.find(input.run_id);
    if (it != thresholds.end()) input.permutation_threshold = it->second;
    if (!prompt) continue;
    // Labels and texts from the plan; the values stored with the run.
    FNPROBE_ASSIGN_OR_RETURN(
        input.prompts,
        analysis::MakeRunPrompts(a->plans[input.index],
                                 std::move(input.prompts.values)));
  }
  FNPROBE_ASSIGN_OR_RETURN(analysis::AnalysisResult result,
                           analysis::AnalyzeExperiment(spec, inputs));
  FNPROBE_RETURN_IF_ERROR(check());
  FNPROBE_ASSIGN_OR_RETURN(Layout layout, store_->ExperimentLayout(id));
  if (options_.before_finish_analysis) options_.before_finish_analysis(id);
  // Results and PHASE_DONE together; refused if a cancellation committed
  // first.
  return results_->FinishAnalysis(id, result, layout);
}

absl::Status ExperimentRunner::DecomposeRuns(
    int64_t id, Active* a, const std::function<absl::Status()>& check) {
  FNPROBE_ASSIGN_OR_RETURN(Layout layout, store_->ExperimentLayout(id));
  FNPROBE_ASSIGN_OR_RETURN(std::vector<RunRow> runs, store_->ListRuns(id));
  IcaDecomposition decomposition;
  decomposition.hooks.assign(a->spec.ica().hooks().begin(),
                             a->spec.ica().hooks().end());
  decomposition.joint = a->spec.ica().joint();
  std::vector<IcaRunInput> inputs;
  for (const RunRow& run : runs) {
    inputs.push_back(
        {run.id, run.repeat, run.activation_path, run.time_points});
  }
  FNPROBE_ASSIGN_OR_RETURN(
      std::vector<IcaNetwork> networks,
      ::fnprobe::worker::DecomposeRuns(
          a->spec.ica(), layout, inputs, decomposition, check,
          [&](const std::string& line) {
            Log(absl::StrCat("experiment ", id, ": ", line));
          }));
  FNPROBE_RETURN_IF_ERROR(check());
  return ica_->ReplaceIcaNetworks(id, layout, a->spec.ica().z(), networks);
}

absl::StatusOr<absl::flat_hash_map<int64_t, double>>
ExperimentRunner::RefitRuns(int64_t id, Active* a, bool refit,
                            const std::function<absl::Status()>& check) {
  const v1::ExperimentSpec& spec = a->spec;
  const bool prompt = spec.analysis().inference() == v1::InferenceLevel::PROMPT;
  const bool ar1 = spec.analysis().noise() == v1::NoiseModel::AR1;
  const bool permutation =
      spec.analysis().threshold().method() == v1::ThresholdSpec::PERMUTATION;
  absl::flat_hash_map<int64_t, double> thresholds;
  // PROMPT inference permutes prompts at level two (AnalyzeExperiment); its
  // runs need a refit only when re-analysed (the level one may change).
  if (!(refit || (!prompt && (ar1 || permutation)))) return thresholds;
  FNPROBE_ASSIGN_OR_RETURN(std::vector<RunRow> runs, store_->ListRuns(id));
  for (const RunRow& run : runs) {
    FNPROBE_RETURN_IF_ERROR(check());
    FNPROBE_ASSIGN_OR_RETURN(
        StoredRunFit fit,
        FitStoredRun(spec, a->plans[run.index], run.activation_path));
    thresholds[run.id] = fit.permutation_threshold;
    if (refit || ar1) {
      FNPROBE_RETURN_IF_ERROR(results_->ReplaceRunMap(
          run.id, fit.map, fit.permutation_threshold, fit.prompt_values));
    }
  }
  return thresholds;
}

}  // namespace fnprobe::worker
