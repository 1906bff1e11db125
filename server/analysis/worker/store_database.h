// StoreDatabase: the worker's one SQLite connection (DESIGN.md "Storage"),
// shared by the three stores that read and write it: ExperimentStore
// (experiments and runs), ResultStore (analysis results) and ResultQueries
// (reads for ExperimentService). Opening it applies the embedded
// migrations (migrations/*.sql).
//
// Errors: SQLiteCpp reports failures by throwing; Run turns every exception
// into a Status (sqlite_status.h), so none escapes a store method.
//
// Thread-safety: Run may be called concurrently; bodies run one at a time
// (one connection behind a mutex; SQLite in WAL mode).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_STORE_DATABASE_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_STORE_DATABASE_H_

#include <SQLiteCpp/Database.h>

#include <exception>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "server/analysis/storage/sqlite_status.h"

namespace fnprobe::worker {

class StoreDatabase {
 public:
  // Opens (creating if missing) the database at `path`, WAL mode, and
  // applies the embedded migrations.
  static absl::StatusOr<std::unique_ptr<StoreDatabase>> Open(
      const std::string& path);
  ~StoreDatabase();

  StoreDatabase(const StoreDatabase&) = delete;
  StoreDatabase& operator=(const StoreDatabase&) = delete;

  // Runs body(db) holding the connection; an exception becomes a Status
  // naming `context` ("experiment store: <context>: ...").
  template <typename F>
  auto Run(absl::string_view context, F&& body)
      -> decltype(body(std::declval<SQLite::Database&>())) {
    absl::MutexLock lock(&mu_);
    try {
      return body(*db_);
    } catch (const std::exception& e) {
      return SqliteExceptionToStatus(
          e, absl::StrCat("experiment store: ", context));
    }
  }

 private:
  explicit StoreDatabase(std::unique_ptr<SQLite::Database> db);

  absl::Mutex mu_;
  std::unique_ptr<SQLite::Database> db_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_STORE_DATABASE_H_
