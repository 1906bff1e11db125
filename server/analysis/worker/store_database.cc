#include "server/analysis/worker/store_database.h"

#include <utility>

#include "common/status_util.h"
#include "server/analysis/storage/embedded_migrations.h"
#include "server/analysis/storage/migration_runner.h"

namespace fnprobe::worker {

StoreDatabase::StoreDatabase(std::unique_ptr<SQLite::Database> db)
    : db_(std::move(db)) {}

StoreDatabase::~StoreDatabase() = default;

absl::StatusOr<std::unique_ptr<StoreDatabase>> StoreDatabase::Open(
    const std::string& path) {
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
                           OpenDatabase(path));
  MigrationRunner runner(db.get());
  absl::StatusOr<int> version = runner.Apply(EmbeddedMigrations());
  if (!version.ok()) return Annotate(version.status(), path);
  return std::unique_ptr<StoreDatabase>(new StoreDatabase(std::move(db)));
}

}  // namespace fnprobe::worker
