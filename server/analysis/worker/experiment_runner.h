// ExperimentRunner: drives stored experiments to completion. It owns a fixed
// set of threads; each takes the next job — a run of some experiment
// (round-robin across experiments, plan order within one) or an
// experiment's analysis — and executes it:
//   run:      Generate stream on an inference server (RunExecutor), retried
//             with exponential backoff while servers are unreachable or
//             restart; the finished run (activation file, tokens, map) is
//             recorded in one transaction;
//   analysis: once every run is done: the spatial ICA of every run when the
//             spec has one (a text corpus always; ica_decomposer.h), then
//             for a block design refits from the activation store
//             when the spec asks for them (TOKEN inference with AR(1) or
//             block permutation; re-analysis), then AnalyzeExperiment over
//             the runs' maps and prompt values; the results and PHASE_DONE
//             are stored in one transaction (ExperimentStore::FinishAnalysis).
//
// The state machine is the store's (experiment_phase.h): every phase change
// — a run starting, the experiment failing, a cancellation, the analysis
// finishing — is one checked transaction, so whichever of two racing
// changes commits first wins and the other is refused (FAILED_PRECONDITION)
// and dropped. A run whose experiment has ended is never started, and a
// run or analysis that finds its experiment ended abandons quietly.
//
// Invariants (under mu_): an Active entry lives while a thread holds one of
// its jobs (in_flight > 0, or analyzing) or it has pending runs; ids in
// rotation_ may name entries that are gone or have nothing pending (they
// are skipped). No exception leaves a thread: a job that throws fails its
// experiment with the exception's text, and the worker goes on.
//
// Crash safety comes from the store: a run counts only once MarkRunDone has
// committed; at Start, runs left RUN_RUNNING by a dead process are reset to
// pending and each unfinished experiment is resumed, analyzed, failed or
// cancelled from its runs' states (DecideRecovery).
//
// Thread-safe: public methods may be called from any thread (the gRPC
// service's).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_RUNNER_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_RUNNER_H_

#include <grpcpp/client_context.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
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
#include "server/analysis/storage/activation_file_system.h"
#include "server/analysis/worker/inference_pool.h"
#include "server/analysis/worker/progress_hub.h"
#include "server/analysis/worker/worker_store.h"

namespace fnprobe::worker {

struct ExperimentRunnerOptions {
  std::string data_dir;  // activation files go under <data_dir>/activations
  int max_concurrent_runs = 4;
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(5);
  int max_attempts = 60;  // per run, before the experiment fails
  std::string inference_token;
  // Hand freed heap memory back to the system (malloc_trim) whenever the
  // last job in flight ends. glibc keeps what a run's or an analysis's
  // threads freed in their arenas, so without this an idle worker holds
  // its high-water mark (issue 13, item 5). On, freed memory is also kept
  // for reuse while jobs run (no automatic trim; page faults cost the
  // worker's CPU). Off only to measure that.
  bool release_idle_memory = true;
  // Free bytes kept on the data dir's file system: a run starts only when
  // its estimated activation bytes fit above this reserve, and waits
  // (pending, saying why) while they do not.
  int64_t min_free_bytes = int64_t{256} << 20;
  // Free bytes of the data dir's file system; statvfs when empty (tests
  // inject a shortage).
  std::function<int64_t(const std::string& data_dir)> free_bytes;
  // The activation store's file operations (tests inject faults); nullptr:
  // the real file system. Must outlive the runner.
  ActivationFileSystem* file_system = nullptr;
  // For tests of cancellation races: called on the analysis thread right
  // before the results are stored. Empty in production.
  std::function<void(int64_t experiment_id)> before_finish_analysis;
  // For tests of the same race for a run: called on the run's thread once
  // its activation file is finished, right before the run is stored as
  // done. Empty in production.
  std::function<void(int64_t experiment_id, int64_t run_id)>
      before_mark_run_done;
};

class ExperimentRunner {
 public:
  // The pointers must outlive the runner.
  ExperimentRunner(WorkerStore* store, InferencePool* pool, ProgressHub* hub,
                   ExperimentRunnerOptions options);
  ~ExperimentRunner();

  ExperimentRunner(const ExperimentRunner&) = delete;
  ExperimentRunner& operator=(const ExperimentRunner&) = delete;

  // Cleans up partial activation files, resets interrupted runs, queues
  // every unfinished experiment and starts the threads.
  absl::Status Start();
  // Takes no new job, gives the jobs in flight up to `drain` to finish,
  // then cancels the streams still open, joins the threads and puts the
  // runs they left RUN_RUNNING back to RUN_PENDING for the next start.
  // Idempotent.
  void Stop(absl::Duration drain = absl::ZeroDuration());

  // Queues a stored experiment's pending runs (or its analysis).
  absl::Status Enqueue(int64_t experiment_id);
  // The experiment becomes cancelled (its unfinished runs too) and its
  // streams are cancelled; a running analysis is abandoned and stores
  // nothing. FAILED_PRECONDITION if it is finished already.
  absl::Status Cancel(int64_t experiment_id);
  // Whether a thread still holds the experiment (a run or an analysis in
  // flight, or one that is winding down after a cancel).
  bool IsActive(int64_t experiment_id);
  // Queues a refit from the activation store with the stored spec's
  // (already replaced) analysis; with `ica_only`, only the spatial ICA of
  // the stored runs (spec.ica, already replaced), the GLM results kept.
  // FAILED_PRECONDITION unless done.
  absl::Status Reanalyze(int64_t experiment_id, bool ica_only = false);

  // The activation file of a run.
  std::string ActivationPath(int64_t experiment_id, int64_t run_id) const;

 private:
  struct Active;
  struct Job {
    int64_t experiment_id = 0;
    int64_t run_id = 0;  // 0: the experiment's analysis
    int plan_index = 0;
    bool refit = false;
    bool ica_only = false;  // analysis: only the ICA (`fnprobe ica`)
  };

  // How a job ended.
  struct Outcome {
    enum Kind { kDone, kAbandoned, kFailed };
    Kind kind = kAbandoned;
    std::string error;  // kFailed: why the experiment fails
  };

  void Loop();
  bool NextJob(Job* job);
  Outcome ExecuteRun(const Job& job);
  // A run of a masking experiment (masking_runner.h).
  Outcome ExecuteMasking(const Job& job, Active* a);
  Outcome Analyze(const Job& job);
  absl::Status AnalyzeOrError(int64_t experiment_id, Active* a, const Job& job);
  // Spatial ICA of every stored run (spec.ica), stored as the experiment's
  // ICA networks (replacing earlier ones).
  absl::Status DecomposeRuns(int64_t experiment_id, Active* a,
                             const std::function<absl::Status()>& check);
  // Refits runs from the activation store where the analysis needs it
  // (re-analysis; TOKEN inference with AR(1) or block permutation), storing
  // the new run maps (and prompt values); returns the runs' block-permutation
  // cut-offs. `check` is asked before each run (cancellation).
  absl::StatusOr<absl::flat_hash_map<int64_t, double>> RefitRuns(
      int64_t experiment_id, Active* a, bool refit,
      const std::function<absl::Status()>& check);
  // Books a job's end: fails the experiment for kFailed, queues the
  // analysis after the last run, retires the Active entry when idle.
  void FinishJob(const Job& job, const Outcome& outcome);
  // Whether a job of the experiment should stop now (locks mu_).
  bool Abandoned(int64_t experiment_id);
  // Sleeps `d` unless the runner stops or the experiment ends first;
  // returns whether the run should go on.
  bool Backoff(int64_t experiment_id, absl::Duration d);
  // Free bytes of the data dir's file system.
  int64_t FreeBytes() const;
  // Whether a run failed because the data dir's file system is full.
  bool IsDataDirFull(const absl::Status& status) const;
  // The activation bytes `plan` will store (0 before the experiment's
  // layout is known).
  int64_t EstimatedRunBytes(int64_t experiment_id,
                            const v1::ExperimentSpec& spec,
                            const RunPlan& plan);
  // Waits, saying why once, until `bytes` fit above the free-space reserve;
  // false when the experiment is abandoned meanwhile.
  bool WaitForSpace(int64_t experiment_id, const std::string& where,
                    int64_t bytes);
  // At start: removes activation files no row refers to (a deletion or a
  // crash between a run's file and its row left them).
  absl::Status SweepUnreferencedFiles(const std::filesystem::path& root);
  bool ShouldAbandon(int64_t experiment_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status EnqueueLocked(int64_t experiment_id, bool refit,
                             bool ica_only = false)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ExperimentStore* const store_;
  MaskingStore* const masking_;
  ResultStore* const results_;
  StorageAccounts* const storage_;
  IcaStore* const ica_;
  InferencePool* const pool_;
  ProgressHub* const hub_;
  const ExperimentRunnerOptions options_;

  absl::Mutex mu_;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;  // Stop: take no new job
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;  // Stop: abandon jobs
  int busy_ ABSL_GUARDED_BY(mu_) = 0;           // jobs held by threads
  absl::flat_hash_map<int64_t, std::unique_ptr<Active>> active_
      ABSL_GUARDED_BY(mu_);
  std::deque<int64_t> rotation_ ABSL_GUARDED_BY(mu_);  // with pending runs
  std::deque<Job> analyses_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_RUNNER_H_
