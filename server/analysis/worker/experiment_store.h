// ExperimentStore: the worker's SQLite state (DESIGN.md "Storage"):
// experiments, their runs and events, finished runs' maps, and the analysis
// results (condition maps, networks, overlaps, classifications), with the
// queries ExperimentService answers.
//
// Ownership: every read and write that takes `user` acts only on that user's
// experiments; an experiment of another user reads as NOT_FOUND ("experiment
// 12 not found"), exactly as a missing one, so ids reveal nothing. An empty
// `user` means "any user" (the worker's own bookkeeping).
//
// Atomicity: every method that writes does so in one transaction; a crash
// leaves either all of its rows or none.
//
// Thread-safety: all methods may be called concurrently (one connection
// behind a mutex; SQLite in WAL mode).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_STORE_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/dtype.h"
#include "common/layout.h"
#include "fnprobe/v1/experiments.pb.h"
#include "server/analysis/experiment_analysis.h"
#include "server/analysis/run_planner.h"
#include "server/analysis/stat_map.h"
#include "server/analysis/storage/activation_store.h"

namespace SQLite {
class Database;
}  // namespace SQLite

namespace fnprobe::worker {

// One generated token of a run (table generations).
struct GeneratedToken {
  int prompt_index = 0;
  int step = 0;
  int64_t token_id = 0;
  std::string text;
};

// Everything a finished run stores, in one transaction: the run row becomes
// RUN_DONE with its activation file, layout and counts; its tokens; its map.
struct FinishedRun {
  ActivationFileInfo file;
  Layout layout;
  DType capture_dtype = DType::kF16;
  int64_t time_points = 0;
  std::vector<GeneratedToken> tokens;
  analysis::StatMap map;
};

class ExperimentStore {
 public:
  // Opens (creating if missing) the database at `path`, WAL mode, and
  // applies the embedded migrations.
  static absl::StatusOr<std::unique_ptr<ExperimentStore>> Open(
      const std::string& path);
  ~ExperimentStore();

  // --- experiments ---

  // Stores a validated spec (defaults applied) with its planned runs
  // (RUN_PENDING) and their BIDS events, owned by `user` (created on first
  // use). PHASE_QUEUED. Returns the experiment id.
  absl::StatusOr<int64_t> CreateExperiment(const std::string& user,
                                           const v1::ExperimentSpec& spec,
                                           const std::vector<RunPlan>& plans);

  // The experiment with its runs (include_runs) and progress computed from
  // the run rows (runs_done, tokens_done: sum of tokens_generated).
  absl::StatusOr<v1::Experiment> GetExperiment(int64_t id,
                                               const std::string& user,
                                               bool include_runs = true);
  // Newest first; page_token is opaque (the last id seen).
  absl::StatusOr<v1::ListExperimentsResponse> ListExperiments(
      const std::string& user, int page_size, const std::string& page_token);
  // Ids of experiments in PHASE_QUEUED, _GENERATING or _ANALYZING, oldest
  // first (any user).
  absl::StatusOr<std::vector<int64_t>> UnfinishedExperiments();
  // PHASE_FAILED needs a non-empty error. Terminal phases set finished_at,
  // GENERATING sets started_at once.
  absl::Status SetPhase(int64_t id, v1::ExperimentPhase phase,
                        const std::string& error = "");
  // Replaces the stored spec's analysis (ReanalyzeExperiment).
  absl::Status SetAnalysisSpec(int64_t id, const v1::AnalysisSpec& analysis);

  // --- runs ---

  // Runs of an experiment in plan order (v1::Run; any user).
  absl::StatusOr<std::vector<v1::Run>> ListRuns(int64_t experiment_id);
  // At start-up: every RUN_RUNNING run back to RUN_PENDING with
  // tokens_generated 0 (its stream died with the previous process).
  // Returns how many.
  absl::StatusOr<int> ResetInterruptedRuns();
  // RUN_PENDING -> RUN_RUNNING, attempts + 1, tokens_generated 0.
  absl::Status MarkRunStarted(int64_t run_id);
  // Progress of a running run (cheap; called every few hundred frames).
  absl::Status SetRunTokens(int64_t run_id, int64_t tokens_generated);
  // RUN_RUNNING -> RUN_DONE with everything of `run` (one transaction).
  // ALREADY_EXISTS if the run is already done (nothing is written twice).
  absl::Status MarkRunDone(int64_t run_id, const FinishedRun& run);
  // A run that will not complete: RUN_FAILED (error required) or
  // RUN_CANCELLED.
  absl::Status MarkRunFinished(int64_t run_id, v1::RunState state,
                               const std::string& error);
  // Every pending or running run of the experiment -> RUN_CANCELLED.
  absl::Status CancelPendingRuns(int64_t experiment_id);

  // --- analysis ---

  // The finished runs' maps, in plan order (for AnalyzeExperiment).
  absl::StatusOr<std::vector<analysis::RunInput>> LoadRunInputs(
      int64_t experiment_id);
  // Replaces a run's stored map (re-analysis from the activation store).
  absl::Status ReplaceRunMap(int64_t run_id, const analysis::StatMap& map);
  // Replaces the experiment's condition maps, networks, overlaps and
  // classifications with `result`, in one transaction. `layout` names the
  // units (layout hash on every row).
  absl::Status SaveAnalysis(int64_t experiment_id,
                            const analysis::AnalysisResult& result,
                            const Layout& layout);
  // The layout of the experiment's runs; NOT_FOUND before any run is done.
  absl::StatusOr<Layout> ExperimentLayout(int64_t experiment_id);

  // --- queries (ExperimentService); all check ownership ---

  absl::StatusOr<v1::ListNetworksResponse> ListNetworks(
      const v1::ListNetworksRequest& request, const std::string& user);
  // INVALID_ARGUMENT for a bad page token or page size > 10000.
  absl::StatusOr<v1::GetNetworkResponse> GetNetwork(
      const v1::GetNetworkRequest& request, const std::string& user);
  absl::StatusOr<v1::CompareNetworksResponse> CompareNetworks(
      const v1::CompareNetworksRequest& request, const std::string& user);
  absl::StatusOr<v1::GetRepeatabilityResponse> GetRepeatability(
      const v1::GetRepeatabilityRequest& request, const std::string& user);
  absl::StatusOr<v1::GetClassificationResponse> GetClassification(
      const v1::GetClassificationRequest& request, const std::string& user);
  absl::StatusOr<v1::GetRunEventsResponse> GetRunEvents(
      const v1::GetRunEventsRequest& request, const std::string& user);
  absl::StatusOr<v1::FindUnitResponse> FindUnit(
      const v1::FindUnitRequest& request, const std::string& user);
  absl::StatusOr<v1::StatMap> GetStatMap(const v1::GetStatMapRequest& request,
                                         const std::string& user);

 private:
  explicit ExperimentStore(std::unique_ptr<SQLite::Database> db);

  absl::Mutex mu_;
  std::unique_ptr<SQLite::Database> db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_STORE_H_
