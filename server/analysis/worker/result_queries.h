// ResultQueries: the reads ExperimentService answers about stored results
// (networks, their units, overlaps, repeatability, classification, run
// events, unit lookup, stat maps), over the worker's SQLite state, as the
// worker's own types (result_rows.h); ExperimentService converts them to
// fnprobe.v1 messages (proto_conversion.h).
//
// Ownership: every query takes `user` and acts only on that user's
// experiments; a foreign experiment or network reads as NOT_FOUND, exactly
// as a missing one. An empty `user` means any user.
//
// Thread-safety: all methods may be called concurrently (StoreDatabase
// serialises them).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_RESULT_QUERIES_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_RESULT_QUERIES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/analysis/worker/result_rows.h"

namespace fnprobe::worker {

class StoreDatabase;

class ResultQueries {
 public:
  // `db` must outlive the queries.
  explicit ResultQueries(StoreDatabase* db) : db_(db) {}

  // Networks of one kind (kUnspecified: kCondition), optionally of one
  // condition, in the order SaveAnalysis stored them. INVALID_ARGUMENT for
  // a kind outside the enum.
  absl::StatusOr<std::vector<NetworkSummary>> ListNetworks(
      const NetworkListQuery& query, const std::string& user);
  // Units by |t| (largest first, then unit index), filtered by hook (a name
  // or an fnmatch glob over hook names) and layer (blocks.{layer}.*); the
  // page token is the offset of the next unit. INVALID_ARGUMENT for a bad
  // page token, a page size < 0 or > 10000, or filters that match no hook
  // point of the layout.
  absl::StatusOr<NetworkPage> GetNetwork(const NetworkQuery& query,
                                         const std::string& user);
  // Pairs without a stored overlap (e.g. leave-one-out networks) are
  // computed from the units.
  absl::StatusOr<NetworkComparison> CompareNetworks(int64_t experiment_id,
                                                    NetworkKind kind,
                                                    const std::string& user);
  // Conditions in spec order; a condition with fewer than two run networks
  // has no pairs and mean 0.
  absl::StatusOr<Repeatability> GetRepeatability(int64_t experiment_id,
                                                 const std::string& user);
  // NOT_FOUND when the experiment has no classification (classify off, or
  // not analyzed yet).
  absl::StatusOr<Classification> GetClassification(int64_t experiment_id,
                                                   const std::string& user);
  // OUT_OF_RANGE naming the index when the experiment has no such run.
  absl::StatusOr<RunEvents> GetRunEvents(int64_t experiment_id, int run_index,
                                         const std::string& user);
  // INVALID_ARGUMENT naming a unit name that does not parse or a unit
  // outside the layout; NOT_FOUND before any run is done (no layout).
  absl::StatusOr<UnitNetworks> FindUnit(const UnitQuery& query,
                                        const std::string& user);
  // Exactly one of condition and run_id (INVALID_ARGUMENT otherwise);
  // NOT_FOUND when that map is not stored.
  absl::StatusOr<StoredStatMap> GetStatMap(const StatMapQuery& query,
                                           const std::string& user);

 private:
  StoreDatabase* const db_;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_RESULT_QUERIES_H_
