// MaskingStore: the rows of masking experiments in the worker's SQLite state
// (migrations/0008_masking.sql): each experiment's plan, stored with the
// experiment at submission (InsertPlan, inside CreateExperiment's
// transaction) and read back by every later step, and the per-text scores
// of every finished run, stored in the same transaction that marks the run
// done, so that a run counts only with its scores.
//
// A masking run keeps no activations. Its "activation file" is the run's
// scores as CSV (run, member, text, tokens, nll_sum, top1), written before
// the run is marked done like any activation file, so that the storage
// accounting, deletion and the start-up sweep treat it as they treat
// others.
//
// Ownership: reads that take `user` see only that user's experiments
// (NOT_FOUND otherwise, as ExperimentStore).
//
// Thread-safety: all methods may be called concurrently (StoreDatabase
// serialises them).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_MASKING_STORE_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_MASKING_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/analysis/masking_spec.h"
#include "server/analysis/masking_statistics.h"

namespace SQLite {
class Database;
}  // namespace SQLite

namespace fnprobe::worker {

class StoreDatabase;

// A finished masking run: its scores and the file that holds them.
struct ScoredRun {
  std::string path;
  std::string checksum;
  int64_t bytes = 0;
  std::vector<MaskingScore> scores;  // `run` is ignored: the run's own
};

class MaskingStore {
 public:
  // `db` must outlive the store.
  explicit MaskingStore(StoreDatabase* db) : db_(db) {}

  // Writes the plan of experiment `id` on `db` (inside the caller's
  // transaction: ExperimentStore::CreateExperiment's also_store).
  static void InsertPlan(SQLite::Database& db, int64_t id,
                         const MaskingPlan& plan);

  // The stored plan; NOT_FOUND for a missing or foreign experiment,
  // FAILED_PRECONDITION for one that is not a masking experiment, DATA_LOSS
  // for a plan that does not parse.
  absl::StatusOr<MaskingPlan> LoadPlan(int64_t experiment_id,
                                       const std::string& user = "");

  // RUN_RUNNING -> RUN_DONE with `run`'s file and scores, in one
  // transaction. ALREADY_EXISTS if done already; FAILED_PRECONDITION unless
  // running.
  absl::Status MarkRunScored(int64_t run_id, const ScoredRun& run);

  // Every stored score of the experiment, `run` the run's index in the plan.
  absl::StatusOr<std::vector<MaskingScore>> LoadScores(
      int64_t experiment_id, const std::string& user = "");

 private:
  StoreDatabase* const db_;
};

// The CSV text of a run's scores (header line, then one line per score).
std::string ScoresCsv(const std::vector<MaskingScore>& scores);

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_MASKING_STORE_H_
