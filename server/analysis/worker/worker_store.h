// WorkerStore: the worker's SQLite state opened once, as its three stores
// over one connection: experiments and runs (ExperimentStore), analysis
// results (ResultStore) and the reads ExperimentService answers
// (ResultQueries), and what users store (StorageAccounts).
//
// Thread-safety: the stores may be used concurrently; the WorkerStore must
// outlive every use of them.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_WORKER_STORE_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_WORKER_STORE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/analysis/worker/experiment_store.h"
#include "server/analysis/worker/masking_store.h"
#include "server/analysis/worker/ica_store.h"
#include "server/analysis/worker/result_queries.h"
#include "server/analysis/worker/result_store.h"
#include "server/analysis/worker/storage_accounts.h"

namespace fnprobe::worker {

class WorkerStore {
 public:
  // Opens (creating if missing) the database at `path`, WAL mode, and
  // applies the embedded migrations.
  static absl::StatusOr<std::unique_ptr<WorkerStore>> Open(
      const std::string& path);
  ~WorkerStore();

  ExperimentStore& experiments() { return experiments_; }
  ResultStore& results() { return results_; }
  ResultQueries& queries() { return queries_; }
  StorageAccounts& storage() { return storage_; }
  MaskingStore& masking() { return masking_; }
  IcaStore& ica() { return ica_; }

 private:
  explicit WorkerStore(std::unique_ptr<StoreDatabase> db);

  const std::unique_ptr<StoreDatabase> db_;
  ExperimentStore experiments_;
  ResultStore results_;
  ResultQueries queries_;
  StorageAccounts storage_;
  MaskingStore masking_;
  IcaStore ica_;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_WORKER_STORE_H_
