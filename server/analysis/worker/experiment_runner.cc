#include "server/analysis/worker/experiment_runner.h"

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_util.h"
#include "server/analysis/experiment_analysis.h"
#include "server/analysis/storage/activation_store.h"
#include "server/analysis/worker/run_executor.h"
#include "server/analysis/worker/stored_run_fitter.h"

namespace fnprobe::worker {

// An experiment the runner is working on. Guarded by the runner's mu_.
struct ExperimentRunner::Active {
  v1::ExperimentSpec spec;
  std::vector<RunPlan> plans;
  std::deque<Job> pending;
  int in_flight = 0;
  bool cancelled = false;
  bool failed = false;
  bool analyzing = false;
  absl::flat_hash_set<grpc::ClientContext*> contexts;
};

namespace {

void Log(const std::string& line) {
  std::cerr << "fnprobe-worker: " << line << std::endl;
}

bool IsTerminal(v1::ExperimentPhase phase) {
  return phase == v1::PHASE_DONE || phase == v1::PHASE_FAILED ||
         phase == v1::PHASE_CANCELLED;
}

}  // namespace

ExperimentRunner::ExperimentRunner(ExperimentStore* store, InferencePool* pool,
                                   ProgressHub* hub,
                                   ExperimentRunnerOptions options)
    : store_(store), pool_(pool), hub_(hub), options_(std::move(options)) {}

ExperimentRunner::~ExperimentRunner() { Stop(); }

std::string ExperimentRunner::ActivationPath(int64_t experiment_id,
                                             int64_t run_id) const {
  return absl::StrCat(options_.data_dir, "/activations/experiment-",
                      experiment_id, "/run-", run_id, ".fnpact");
}

absl::Status ExperimentRunner::Start() {
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

void ExperimentRunner::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    for (auto& [id, a] : active_) {
      for (grpc::ClientContext* c : a->contexts) c->TryCancel();
    }
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

absl::Status ExperimentRunner::Enqueue(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  return EnqueueLocked(experiment_id, /*refit=*/false);
}

absl::Status ExperimentRunner::EnqueueLocked(int64_t experiment_id,
                                             bool refit) {
  if (active_.contains(experiment_id)) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", experiment_id, " is already running"));
  }
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e,
                           store_->GetExperiment(experiment_id, ""));
  auto a = std::make_unique<Active>();
  a->spec = e.spec();
  a->plans = PlanRuns(a->spec);
  bool all_done = true;
  for (const v1::Run& run : e.runs()) {
    if (run.state() == v1::RUN_PENDING) {
      a->pending.push_back(Job{experiment_id, run.id(), run.index(), false});
    }
    all_done = all_done && run.state() == v1::RUN_DONE;
    if (run.index() < 0 || run.index() >= static_cast<int>(a->plans.size())) {
      return absl::InternalError(absl::StrCat("experiment ", experiment_id,
                                              ": run index ", run.index(),
                                              " is not in its plan"));
    }
  }
  if (!a->pending.empty()) {
    rotation_.push_back(experiment_id);
  } else if (all_done) {
    a->analyzing = true;
    analyses_.push_back(Job{experiment_id, 0, 0, refit});
  } else {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", experiment_id,
                     " has runs that are neither pending "
                     "nor done"));
  }
  active_[experiment_id] = std::move(a);
  return absl::OkStatus();
}

absl::Status ExperimentRunner::Cancel(int64_t experiment_id) {
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e,
                           store_->GetExperiment(experiment_id, "", false));
  if (IsTerminal(e.phase())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "experiment ", experiment_id, " has finished (",
        v1::ExperimentPhase_Name(e.phase()), "); nothing to cancel"));
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(experiment_id);
    if (it != active_.end()) {
      Active* a = it->second.get();
      a->cancelled = true;
      a->pending.clear();
      for (grpc::ClientContext* c : a->contexts) c->TryCancel();
      if (a->in_flight == 0 && !a->analyzing) active_.erase(it);
    }
  }
  FNPROBE_RETURN_IF_ERROR(store_->CancelPendingRuns(experiment_id));
  FNPROBE_RETURN_IF_ERROR(store_->SetPhase(experiment_id, v1::PHASE_CANCELLED));
  hub_->Notify(experiment_id);
  return absl::OkStatus();
}

absl::Status ExperimentRunner::Reanalyze(int64_t experiment_id) {
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e,
                           store_->GetExperiment(experiment_id, "", false));
  if (e.phase() != v1::PHASE_DONE) {
    return absl::FailedPreconditionError(absl::StrCat(
        "experiment ", experiment_id, " is ",
        v1::ExperimentPhase_Name(e.phase()),
        "; only a finished (PHASE_DONE) experiment can be reanalyzed"));
  }
  FNPROBE_RETURN_IF_ERROR(store_->SetPhase(experiment_id, v1::PHASE_ANALYZING));
  absl::MutexLock lock(&mu_);
  return EnqueueLocked(experiment_id, /*refit=*/true);
}

bool ExperimentRunner::NextJob(Job* job) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !analyses_.empty() || !rotation_.empty();
  };
  mu_.Await(absl::Condition(&ready));
  if (stopping_) return false;
  if (!analyses_.empty()) {
    *job = analyses_.front();
    analyses_.pop_front();
    return true;
  }
  const int64_t id = rotation_.front();
  rotation_.pop_front();
  Active* a = active_.at(id).get();
  *job = a->pending.front();
  a->pending.pop_front();
  ++a->in_flight;
  if (!a->pending.empty()) rotation_.push_back(id);
  return true;
}

void ExperimentRunner::Loop() {
  Job job;
  while (NextJob(&job)) {
    if (job.run_id == 0) {
      Analyze(job);
    } else {
      ExecuteRun(job);
    }
  }
}

bool ExperimentRunner::ShouldAbandon(int64_t experiment_id) {
  auto it = active_.find(experiment_id);
  return stopping_ || it == active_.end() || it->second->cancelled ||
         it->second->failed;
}

bool ExperimentRunner::Backoff(int64_t experiment_id, absl::Duration d) {
  absl::MutexLock lock(&mu_);
  auto abandon = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return ShouldAbandon(experiment_id);
  };
  mu_.AwaitWithTimeout(absl::Condition(&abandon), d);
  return !ShouldAbandon(experiment_id);
}

void ExperimentRunner::ExecuteRun(const Job& job) {
  const int64_t id = job.experiment_id;
  Active* a;
  {
    absl::MutexLock lock(&mu_);
    a = active_.at(id).get();  // stays while in_flight > 0
  }
  const RunPlan& plan = a->plans[job.plan_index];
  absl::Status started = store_->SetPhase(id, v1::PHASE_GENERATING);
  if (started.ok()) started = store_->MarkRunStarted(job.run_id);
  if (!started.ok()) {
    FailExperiment(id, job.run_id, std::string(started.message()));
    return;
  }
  hub_->Notify(id);
  RunAttempt attempt;
  attempt.spec = &a->spec;
  attempt.plan = &plan;
  attempt.activation_path = ActivationPath(id, job.run_id);
  attempt.inference_token = options_.inference_token;
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
        if (ShouldAbandon(id)) break;
        a->contexts.insert(&context);
      }
      absl::StatusOr<FinishedRun> run =
          ExecuteRunAttempt(target->stub, &context, attempt);
      {
        absl::MutexLock lock(&mu_);
        a->contexts.erase(&context);
      }
      if (run.ok()) status = store_->MarkRunDone(job.run_id, *run);
      if (run.ok() && status.ok()) {
        Log(absl::StrFormat(
            "experiment %d: run %d (%s, repeat %d) done: %d frames in %.2f s; "
            "GLM accumulation %.1f ms (%.2f%%), activation store %.1f ms "
            "(%.2f%%), fit %.1f ms",
            id, plan.index, plan.condition_name, plan.repeat, stats.frames,
            stats.wall_s, 1e3 * stats.accumulate_s,
            100 * stats.accumulate_s / stats.wall_s, 1e3 * stats.store_s,
            100 * stats.store_s / stats.wall_s, 1e3 * stats.fit_s));
        OnRunDone(id);
        return;
      }
      if (!run.ok()) status = run.status();
      if (IsRetryable(status)) pool_->Forget(target->address);
    }
    {
      absl::MutexLock lock(&mu_);
      if (ShouldAbandon(id)) break;
    }
    const std::string where =
        absl::StrCat("run ", plan.index, " (", plan.condition_name, ", repeat ",
                     plan.repeat, ")");
    if (!IsRetryable(status) || n >= options_.max_attempts) {
      FailExperiment(id, job.run_id,
                     absl::StrCat(where, " failed after ", n,
                                  " attempt(s): ", status.message()));
      return;
    }
    Log(absl::StrCat("experiment ", id, ": ", where, " attempt ", n, ": ",
                     status.ToString(), "; retrying in ",
                     absl::FormatDuration(backoff)));
    if (!Backoff(id, backoff)) break;
    backoff = std::min(backoff * 2, options_.max_backoff);
    if (store_->MarkRunStarted(job.run_id).ok()) hub_->Notify(id);
  }
  // Stopped or cancelled: the run stays as it is (reset at the next start,
  // or already cancelled).
  absl::MutexLock lock(&mu_);
  --a->in_flight;
  if (a->in_flight == 0 && (a->cancelled || a->failed) && !a->analyzing) {
    active_.erase(id);
  }
}

void ExperimentRunner::OnRunDone(int64_t experiment_id) {
  {
    absl::MutexLock lock(&mu_);
    Active* a = active_.at(experiment_id).get();
    --a->in_flight;
    if (a->cancelled || a->failed) {
      if (a->in_flight == 0) active_.erase(experiment_id);
    } else if (a->pending.empty() && a->in_flight == 0) {
      a->analyzing = true;
      analyses_.push_back(Job{experiment_id, 0, 0, false});
    }
  }
  hub_->Notify(experiment_id);
}

void ExperimentRunner::FailExperiment(int64_t experiment_id, int64_t run_id,
                                      const std::string& error) {
  Log(absl::StrCat("experiment ", experiment_id, " failed: ", error));
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(experiment_id);
    if (it != active_.end()) {
      Active* a = it->second.get();
      a->failed = true;
      a->pending.clear();
      for (grpc::ClientContext* c : a->contexts) c->TryCancel();
      if (run_id != 0) --a->in_flight;
      if (a->in_flight == 0 && !a->analyzing) active_.erase(it);
    }
  }
  if (run_id != 0) {
    store_->MarkRunFinished(run_id, v1::RUN_FAILED, error).IgnoreError();
  }
  store_->CancelPendingRuns(experiment_id).IgnoreError();
  store_->SetPhase(experiment_id, v1::PHASE_FAILED, error).IgnoreError();
  hub_->Notify(experiment_id);
}

void ExperimentRunner::Analyze(const Job& job) {
  const int64_t id = job.experiment_id;
  Active* a;
  {
    absl::MutexLock lock(&mu_);
    a = active_.at(id).get();
  }
  absl::Status status = AnalyzeOrError(id, a, job.refit);
  bool cancelled;
  {
    absl::MutexLock lock(&mu_);
    cancelled = a->cancelled;
    active_.erase(id);
  }
  if (cancelled) return;
  if (status.ok()) {
    status = store_->SetPhase(id, v1::PHASE_DONE);
  }
  if (!status.ok()) {
    const std::string error = absl::StrCat("analysis: ", status.message());
    Log(absl::StrCat("experiment ", id, " failed: ", error));
    store_->SetPhase(id, v1::PHASE_FAILED, error).IgnoreError();
  }
  hub_->Notify(id);
}

absl::Status ExperimentRunner::AnalyzeOrError(int64_t id, Active* a,
                                              bool refit) {
  FNPROBE_RETURN_IF_ERROR(store_->SetPhase(id, v1::PHASE_ANALYZING));
  hub_->Notify(id);
  const v1::ExperimentSpec& spec = a->spec;
  FNPROBE_ASSIGN_OR_RETURN(const auto thresholds, RefitRuns(id, a, refit));
  FNPROBE_ASSIGN_OR_RETURN(std::vector<analysis::RunInput> inputs,
                           store_->LoadRunInputs(id));
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
  FNPROBE_ASSIGN_OR_RETURN(Layout layout, store_->ExperimentLayout(id));
  return store_->SaveAnalysis(id, result, layout);
}

absl::StatusOr<absl::flat_hash_map<int64_t, double>>
ExperimentRunner::RefitRuns(int64_t id, Active* a, bool refit) {
  const v1::ExperimentSpec& spec = a->spec;
  const bool prompt = spec.analysis().inference() == v1::InferenceLevel::PROMPT;
  const bool ar1 = spec.analysis().noise() == v1::NoiseModel::AR1;
  const bool permutation =
      spec.analysis().threshold().method() == v1::ThresholdSpec::PERMUTATION;
  absl::flat_hash_map<int64_t, double> thresholds;
  // PROMPT inference permutes prompts at level two (AnalyzeExperiment); its
  // runs need a refit only when re-analysed (the level one may change).
  if (!(refit || (!prompt && (ar1 || permutation)))) return thresholds;
  FNPROBE_ASSIGN_OR_RETURN(std::vector<v1::Run> runs, store_->ListRuns(id));
  for (const v1::Run& run : runs) {
    FNPROBE_ASSIGN_OR_RETURN(
        StoredRunFit fit,
        FitStoredRun(spec, a->plans[run.index()], run.activation_path()));
    thresholds[run.id()] = fit.permutation_threshold;
    if (refit || ar1) {
      FNPROBE_RETURN_IF_ERROR(store_->ReplaceRunMap(
          run.id(), fit.map, fit.permutation_threshold, fit.prompt_values));
    }
  }
  return thresholds;
}

}  // namespace fnprobe::worker
