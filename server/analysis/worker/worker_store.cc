#include "server/analysis/worker/worker_store.h"

#include <utility>

#include "common/status_util.h"
#include "server/analysis/worker/store_database.h"

namespace fnprobe::worker {

WorkerStore::WorkerStore(std::unique_ptr<StoreDatabase> db)
    : db_(std::move(db)),
      experiments_(db_.get()),
      results_(db_.get()),
      queries_(db_.get()),
      storage_(db_.get()),
      masking_(db_.get()),
      ica_(db_.get()) {}

WorkerStore::~WorkerStore() = default;

absl::StatusOr<std::unique_ptr<WorkerStore>> WorkerStore::Open(
    const std::string& path) {
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<StoreDatabase> db,
                           StoreDatabase::Open(path));
  return std::unique_ptr<WorkerStore>(new WorkerStore(std::move(db)));
}

}  // namespace fnprobe::worker
