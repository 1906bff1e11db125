// ExperimentStore: experiments and their runs in the worker's SQLite state
// (DESIGN.md "Storage"): the rows of the experiment state machine
// (experiment_phase.h), one transaction per transition, and each finished
// run with its activation file, tokens and map. ResultStore keeps the
// analysis results and ResultQueries reads them, over the same
// StoreDatabase (worker_store.h bundles the three).
//
// Ownership: every read and write that takes `user` acts only on that user's
// experiments; an experiment of another user reads as NOT_FOUND ("experiment
// 12 not found"), exactly as a missing one, so ids reveal nothing. An empty
// `user` means "any user" (the worker's own bookkeeping, or a worker without
// authentication); CreateExperiment stores it as kAnonymousUser.
//
// Reads return the worker's own types (experiment_rows.h); ExperimentService
// converts them to fnprobe.v1 messages. The spec is the one protobuf kept:
// the validated v1::ExperimentSpec the worker stores and plans from.
//
// Schema: migrations/0001_init.sql, 0002_worker_store.sql and
// 0003_prompt_inference.sql. The enums of experiment_phase.h map to the
// CHECKed status texts (kQueued 'pending', kGenerating 'running',
// kAnalyzing 'analyzing', kDone 'done', ...; RunState::kPending 'pending',
// ...). Runs are inserted in plan order, so their row ids order them
// (RunRow::index).
//
// Errors: NOT_FOUND for a missing (or foreign) experiment, run or network;
// INVALID_ARGUMENT for bad requests (page tokens, filters, inputs that do
// not fit the schema); FAILED_PRECONDITION for a state transition the row's
// state does not allow; DATA_LOSS for stored rows that no longer parse;
// SQLite failures as sqlite_status.h maps them.
//
// Atomicity: every method that writes does so in one transaction; a crash
// leaves either all of its rows or none.
//
// Thread-safety: all methods may be called concurrently (StoreDatabase
// serialises them).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_STORE_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/dtype.h"
#include "common/layout.h"
#include "fnprobe/v1/experiments.pb.h"
#include "server/analysis/experiment_analysis.h"
#include "server/analysis/run_planner.h"
#include "server/analysis/stat_map.h"
#include "server/analysis/storage/activation_store.h"
#include "server/analysis/worker/experiment_phase.h"
#include "server/analysis/worker/experiment_rows.h"

namespace SQLite {
class Database;
}  // namespace SQLite

namespace fnprobe::worker {

class StoreDatabase;

// One generated token of a run (table generations).
struct GeneratedToken {
  int prompt_index = 0;
  int step = 0;
  int64_t token_id = 0;
  std::string text;
};

// Everything a finished run stores, in one transaction: the run row becomes
// done with its activation file, layout and counts; its tokens; its map.
// REQUIRES (else INVALID_ARGUMENT): file.path and file.checksum non-empty,
// a non-empty layout whose width is map's size, capture_dtype F32/F16/BF16,
// map.contrast non-empty, map.noise_model "OLS" or "AR1".
struct FinishedRun {
  ActivationFileInfo file;
  Layout layout;
  DType capture_dtype = DType::kF16;
  int64_t time_points = 0;
  std::vector<GeneratedToken> tokens;
  // The run's map; empty (no contrast) for a text group's run, which has no
  // design to fit (its analysis is ICA over the stored activations).
  analysis::StatMap map;
  // PROMPT inference: the run's level one (P x V, presentation order);
  // empty under TOKEN. LoadRunInputs returns it as RunInput::prompts.values.
  arma::mat prompt_values;
  // RunInput::permutation_threshold of this run (0 unless the threshold is
  // PERMUTATION); LoadRunInputs returns it.
  double permutation_threshold = 0.0;
};

// The owner of experiments submitted with an empty `user`.
inline constexpr char kAnonymousUser[] = "anonymous";

class ExperimentStore {
 public:
  // `db` must outlive the store.
  explicit ExperimentStore(StoreDatabase* db) : db_(db) {}

  // --- experiments ---

  // Stores a validated spec (defaults applied) with its planned runs
  // (pending), their prompts and blocks and their BIDS events, owned by
  // `user` (created on first use). ExperimentPhase::kQueued. Returns the
  // experiment id. INVALID_ARGUMENT for no plans. `model_checksum`: the serving
  // checkpoint's sha256 (empty: unknown). `also_store` (may be empty) writes
  // more rows of the new experiment in the same transaction (a masking
  // experiment's plan, masking_store.h); given the connection and the
  // experiment's id.
  absl::StatusOr<int64_t> CreateExperiment(
      const std::string& user, const v1::ExperimentSpec& spec,
      const std::vector<RunPlan>& plans, const std::string& model_checksum = "",
      const std::function<void(SQLite::Database&, int64_t)>& also_store = {});

  // The experiment with its runs (include_runs) and progress computed from
  // the run rows (runs_done, tokens_done: sum of tokens_generated).
  // Its layout when a run is done.
  absl::StatusOr<ExperimentRow> GetExperiment(int64_t id,
                                              const std::string& user,
                                              bool include_runs = true);
  // Newest first; page_token is opaque (the last id seen). Page size 0
  // means 50; larger than 1000 means 1000. INVALID_ARGUMENT for a negative
  // page size or a page token this method did not return. The experiments
  // come without runs, layout or prompts (pools keep their names).
  absl::StatusOr<ExperimentPage> ListExperiments(const std::string& user,
                                                 int page_size,
                                                 const std::string& page_token);
  // Ids of experiments queued, generating or analyzing, oldest first (any
  // user).
  absl::StatusOr<std::vector<int64_t>> UnfinishedExperiments();
  // kFailed needs a non-empty error (INVALID_ARGUMENT otherwise); other
  // phases clear the error. Terminal phases set finished_at, others clear it
  // (a re-analysis is not finished); kGenerating sets started_at once.
  // FAILED_PRECONDITION for a change the state machine does not allow from
  // the stored phase (experiment_phase.h: nothing leaves failed or
  // cancelled; done only for a re-analysis); checked and written in one
  // transaction.
  absl::Status SetPhase(int64_t id, ExperimentPhase phase,
                        const std::string& error = "");
  // A run of the experiment starts: the experiment becomes kGenerating and
  // the run kRunning (as MarkRunStarted), in one transaction.
  // FAILED_PRECONDITION (changing nothing) when the experiment has finished
  // or the run cannot start; NOT_FOUND for a run of another experiment.
  absl::Status StartRun(int64_t experiment_id, int64_t run_id);
  // Ends an unfinished experiment: `phase` kFailed (error required) or
  // kCancelled; `failed_run_id` (0: none) becomes RunState::kFailed with
  // `error`, every other pending or running run kCancelled; one
  // transaction. FAILED_PRECONDITION (changing nothing) when the
  // experiment has finished already.
  absl::Status EndExperiment(int64_t id, ExperimentPhase phase,
                             const std::string& error = "",
                             int64_t failed_run_id = 0);
  // Replaces the stored spec's analysis (ReanalyzeExperiment), and the runs'
  // events, which depend on analysis.tokens_per_second.
  absl::Status SetAnalysisSpec(int64_t id, const v1::AnalysisSpec& analysis);

  // --- runs ---

  // The experiment's run plans, as CreateExperiment stored them (store_rows.h
  // LoadPlans: FAILED_PRECONDITION for an experiment of an earlier planner
  // whose plan was not stored). Every step after submission reads the plan
  // here rather than planning the spec again.
  absl::StatusOr<std::vector<RunPlan>> LoadPlans(int64_t experiment_id);
  // Runs of an experiment in plan order (any user).
  absl::StatusOr<std::vector<RunRow>> ListRuns(int64_t experiment_id);
  // At start-up: every running run back to pending with
  // tokens_generated 0 (its stream died with the previous process).
  // Returns how many.
  absl::StatusOr<int> ResetInterruptedRuns();
  // kPending -> kRunning, attempts + 1, tokens_generated 0. Also
  // kRunning -> kRunning when a broken stream is retried.
  // FAILED_PRECONDITION from any other state.
  absl::Status MarkRunStarted(int64_t run_id);
  // Progress of a running run (cheap; called every few hundred frames).
  // FAILED_PRECONDITION unless the run is running.
  absl::Status SetRunTokens(int64_t run_id, int64_t tokens_generated);
  // kRunning -> kDone with everything of `run` (one transaction).
  // ALREADY_EXISTS if the run is already done (nothing is written twice);
  // FAILED_PRECONDITION unless running, or when another finished run of
  // the experiment has a different layout.
  absl::Status MarkRunDone(int64_t run_id, const FinishedRun& run);
  // A run that will not complete: RunState::kFailed (error required) or
  // kCancelled. FAILED_PRECONDITION unless pending or running.
  absl::Status MarkRunFinished(int64_t run_id, RunState state,
                               const std::string& error);
  // Every pending or running run of the experiment -> kCancelled.
  // Returns OK (changing nothing) when there is none.
  absl::Status CancelPendingRuns(int64_t experiment_id);

  // --- layout ---

  // The layout of the experiment's runs; NOT_FOUND before any run is done.
  absl::StatusOr<Layout> ExperimentLayout(int64_t experiment_id);

 private:
  StoreDatabase* const db_;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_STORE_H_
