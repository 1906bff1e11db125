// StorageAccounts: what the worker's users store on disk and the deletion
// of what they no longer want (DESIGN.md "Storage"): per-user usage for
// quotas, deleting an experiment's rows (or only its raw activations) and
// naming the activation files the rows refer to, for the start-up sweep
// that removes files no row refers to.
//
// Deletion is two-phase: DeleteExperiment changes the rows in one
// transaction and returns the files that became unreferenced; the caller
// removes them after. A crash in between leaves unreferenced files, which
// the next start-up sweep removes; it never leaves a row without its file.
//
// Ownership: as ExperimentStore (a foreign experiment reads as NOT_FOUND).
//
// Thread-safety: all methods may be called concurrently (StoreDatabase
// serialises them).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_STORAGE_ACCOUNTS_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_STORAGE_ACCOUNTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "fnprobe/v1/experiment_spec.pb.h"

namespace fnprobe::worker {

class StoreDatabase;

// Raw activation bytes of `time_points` rows of `width` values in the
// spec's capture dtype (F32: 4 bytes a value; F16 and BF16: 2), as the
// activation store keeps them uncompressed: the estimate quotas and
// free-space checks use. The store compresses chunks only when that makes
// them smaller, so this bounds the files from above (headers aside); what
// usage reports is the files' real size (FNPROBE_SQL_STORED_BYTES).
int64_t ActivationBytes(const v1::ExperimentSpec& spec, int64_t time_points,
                        int64_t width);

// One user's stored experiments and raw activation bytes.
struct UserUsage {
  int64_t bytes = 0;
  int64_t experiments = 0;
};

// The activation files a deletion unreferenced, for the caller to remove.
struct DeletedActivations {
  std::vector<std::string> paths;
  int64_t bytes = 0;  // as stored with the runs
};

class StorageAccounts {
 public:
  // `db` must outlive the accounts.
  explicit StorageAccounts(StoreDatabase* db) : db_(db) {}

  // `user`'s experiments (any phase) and the raw activation bytes of those
  // whose activations are not deleted. A user with none has zeros.
  absl::StatusOr<UserUsage> Usage(const std::string& user);

  // Deletes finished experiment `id` of `user` (every row: runs, events,
  // maps, networks, ...), or with `activations_only` marks its activations
  // deleted and keeps every result. Returns the activation files to remove.
  // NOT_FOUND for a missing or foreign experiment; FAILED_PRECONDITION for
  // an unfinished one (cancel it first) or, with activations_only, one whose
  // activations are already deleted.
  absl::StatusOr<DeletedActivations> DeleteExperiment(int64_t id,
                                                      const std::string& user,
                                                      bool activations_only);

  // Activation file paths that rows refer to and whose activations are not
  // deleted (any user).
  absl::StatusOr<absl::flat_hash_set<std::string>> ReferencedActivations();

 private:
  StoreDatabase* const db_;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_STORAGE_ACCOUNTS_H_
