// ResultStore: an experiment's analysis results in the worker's SQLite
// state (DESIGN.md "Storage"): the finished runs' maps as analysis inputs,
// and the condition maps, networks, overlaps and classifications an
// analysis produces, replaced as a whole in one transaction. Reads for
// users are ResultQueries'; experiments and runs are ExperimentStore's.
//
// Errors: NOT_FOUND for a missing experiment or run; INVALID_ARGUMENT for
// results that do not fit the schema or the experiment; FAILED_PRECONDITION
// for a state the write needs and the rows do not have; DATA_LOSS for
// stored rows that no longer parse.
//
// Thread-safety: all methods may be called concurrently (StoreDatabase
// serialises them).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_RESULT_STORE_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_RESULT_STORE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/layout.h"
#include "server/analysis/experiment_analysis.h"
#include "server/analysis/stat_map.h"

namespace fnprobe::worker {

class StoreDatabase;

class ResultStore {
 public:
  // `db` must outlive the store.
  explicit ResultStore(StoreDatabase* db) : db_(db) {}

  // The finished runs' maps, in plan order (for AnalyzeExperiment), with
  // RunInput::index the run's place in the plan and, where stored, the
  // runs' prompt values (RunInput::prompts.values only: labels and texts
  // come from the plan).
  absl::StatusOr<std::vector<analysis::RunInput>> LoadRunInputs(
      int64_t experiment_id);
  // Replaces a run's stored map and prompt values (re-analysis from the
  // activation store; empty values remove them), in one transaction.
  // FAILED_PRECONDITION unless the run is done; INVALID_ARGUMENT for a map
  // or values of another size.
  absl::Status ReplaceRunMap(int64_t run_id, const analysis::StatMap& map,
                             double permutation_threshold = 0.0,
                             const arma::mat& prompt_values = arma::mat());
  // Replaces the experiment's condition maps, networks, overlaps and
  // classifications with `result`, in one transaction. `layout` names the
  // units (layout hash on every row). Which condition (and excluded run) a
  // condition map belongs to comes from the networks that threshold it; a
  // map no network uses is condition i of the spec for i < #conditions.
  // INVALID_ARGUMENT (writing nothing) for results that do not fit: indices
  // out of range, runs of another experiment or not done, sizes that differ
  // from the layout's width.
  absl::Status SaveAnalysis(int64_t experiment_id,
                            const analysis::AnalysisResult& result,
                            const Layout& layout);
  // SaveAnalysis and PHASE_ANALYZING -> PHASE_DONE in one transaction.
  // FAILED_PRECONDITION (storing nothing) unless the experiment is
  // analyzing — e.g. it was cancelled meanwhile — or when a run is not done.
  absl::Status FinishAnalysis(int64_t experiment_id,
                              const analysis::AnalysisResult& result,
                              const Layout& layout);

 private:
  StoreDatabase* const db_;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_RESULT_STORE_H_
