// ExperimentRunner: drives stored experiments to completion. It owns a fixed
// set of threads; each takes the next job — a run of some experiment
// (round-robin across experiments, plan order within one) or an
// experiment's analysis — and executes it:
//   run:      Generate stream on an inference server (RunExecutor), retried
//             with exponential backoff while servers are unreachable or
//             restart; the finished run (activation file, tokens, map) is
//             recorded in one transaction;
//   analysis: once every run is done: refits from the activation store
//             when the spec asks for them (TOKEN inference with AR(1) or
//             block permutation; re-analysis), then AnalyzeExperiment over
//             the runs' maps and prompt values, and SaveAnalysis; the
//             experiment is done.
//
// Crash safety comes from the store: a run counts only once MarkRunDone has
// committed; at Start, runs left RUN_RUNNING by a dead process are reset to
// pending and redone (generation is deterministic per run), and experiments
// whose runs are all done are analyzed (analysis replaces, never appends).
//
// Thread-safe: public methods may be called from any thread (the gRPC
// service's).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_RUNNER_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_RUNNER_H_

#include <grpcpp/client_context.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fnprobe/v1/experiment_spec.pb.h"
#include "server/analysis/run_planner.h"
#include "server/analysis/worker/experiment_store.h"
#include "server/analysis/worker/inference_pool.h"
#include "server/analysis/worker/progress_hub.h"

namespace fnprobe::worker {

struct ExperimentRunnerOptions {
  std::string data_dir;  // activation files go under <data_dir>/activations
  int max_concurrent_runs = 4;
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(5);
  int max_attempts = 60;  // per run, before the experiment fails
  std::string inference_token;
};

class ExperimentRunner {
 public:
  // The pointers must outlive the runner.
  ExperimentRunner(ExperimentStore* store, InferencePool* pool,
                   ProgressHub* hub, ExperimentRunnerOptions options);
  ~ExperimentRunner();

  ExperimentRunner(const ExperimentRunner&) = delete;
  ExperimentRunner& operator=(const ExperimentRunner&) = delete;

  // Cleans up partial activation files, resets interrupted runs, queues
  // every unfinished experiment and starts the threads.
  absl::Status Start();
  // Cancels streams in flight (their runs are redone after a restart) and
  // joins the threads. Idempotent.
  void Stop();

  // Queues a stored experiment's pending runs (or its analysis).
  absl::Status Enqueue(int64_t experiment_id);
  // Stops the experiment's runs; the experiment becomes cancelled.
  // FAILED_PRECONDITION if it is finished already.
  absl::Status Cancel(int64_t experiment_id);
  // Queues a refit from the activation store with the stored spec's
  // (already replaced) analysis. FAILED_PRECONDITION unless done.
  absl::Status Reanalyze(int64_t experiment_id);

  // The activation file of a run.
  std::string ActivationPath(int64_t experiment_id, int64_t run_id) const;

 private:
  struct Active;
  struct Job {
    int64_t experiment_id = 0;
    int64_t run_id = 0;  // 0: the experiment's analysis
    int plan_index = 0;
    bool refit = false;
  };

  void Loop();
  bool NextJob(Job* job);
  void ExecuteRun(const Job& job);
  void Analyze(const Job& job);
  absl::Status AnalyzeOrError(int64_t experiment_id, Active* a, bool refit);
  // Refits runs from the activation store where the analysis needs it
  // (re-analysis; TOKEN inference with AR(1) or block permutation), storing
  // the new run maps (and prompt values); returns the runs' block-permutation
  // cut-offs.
  absl::StatusOr<absl::flat_hash_map<int64_t, double>> RefitRuns(
      int64_t experiment_id, Active* a, bool refit);
  void OnRunDone(int64_t experiment_id);
  void FailExperiment(int64_t experiment_id, int64_t run_id,
                      const std::string& error);
  // Sleeps `d` unless the runner stops or the experiment ends first;
  // returns whether the run should go on.
  bool Backoff(int64_t experiment_id, absl::Duration d);
  bool ShouldAbandon(int64_t experiment_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status EnqueueLocked(int64_t experiment_id, bool refit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ExperimentStore* const store_;
  InferencePool* const pool_;
  ProgressHub* const hub_;
  const ExperimentRunnerOptions options_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<int64_t, std::unique_ptr<Active>> active_
      ABSL_GUARDED_BY(mu_);
  std::deque<int64_t> rotation_ ABSL_GUARDED_BY(mu_);  // with pending runs
  std::deque<Job> analyses_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_RUNNER_H_
