// Schema migrations for fnprobe's SQLite database (DESIGN.md "Storage").
//
// A migration is a numbered SQL script, `NNNN_<name>.sql` (e.g.
// 0001_init.sql), kept in migrations/ and never edited once merged.
// MigrationRunner applies the ones a database lacks, in order, each in one
// transaction together with its row in
//   schema_migrations(version, name, applied_at, checksum)
// so that a failing migration leaves the database at the previous version.
// Before applying anything it checks the whole list: versions must be
// 1, 2, 3, ... without gaps or duplicates, and every migration the database
// has already applied must still have the recorded name and checksum (an
// edited migration is refused, naming the file).
//
// Migrations come from a directory (LoadMigrationsFromDirectory) or from a
// list compiled into the binary (EmbeddedMigrations(), embedded_migrations.h).
//
// Thread safety: a MigrationRunner uses its database connection without
// locking; use it from one thread. Several processes may run migrations on
// one database at once: each migration is applied under BEGIN IMMEDIATE and
// re-checks the version inside the transaction.
#ifndef FNPROBE_SERVER_ANALYSIS_STORAGE_MIGRATION_RUNNER_H_
#define FNPROBE_SERVER_ANALYSIS_STORAGE_MIGRATION_RUNNER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace SQLite {
class Database;
}  // namespace SQLite

namespace fnprobe {

// One migration script.
struct Migration {
  int version = 0;   // NNNN of the file name, >= 1.
  std::string name;  // The file name, e.g. "0001_init.sql".
  std::string sql;   // The script; may hold several statements.
};

// Options for OpenDatabase.
struct DatabaseOptions {
  // How long a statement waits for another connection's lock before failing
  // with UNAVAILABLE.
  int busy_timeout_ms = 5000;
  // Create the file if it does not exist.
  bool create_if_missing = true;
};

// Opens (or creates) the SQLite database at `path` in WAL journal mode with
// foreign keys on, synchronous=NORMAL and the busy timeout of `options`.
// ":memory:" opens a private in-memory database (journal mode "memory").
// Safe to call from several processes or threads on one new file at once.
// Errors: UNAVAILABLE/PERMISSION_DENIED/DATA_LOSS naming the path.
absl::StatusOr<std::unique_ptr<SQLite::Database>> OpenDatabase(
    const std::string& path, const DatabaseOptions& options = {});

// Parses "NNNN_name.sql" into its version. INVALID_ARGUMENT naming the file
// when the name does not have that shape (digits, '_', a non-empty name,
// ".sql").
absl::StatusOr<int> ParseMigrationFileName(absl::string_view file_name);

// Reads every `*.sql` file of `dir`, sorted by version. Other files are
// ignored. Errors: NOT_FOUND for a missing directory; INVALID_ARGUMENT naming
// a .sql file whose name is malformed, or two files with one version, or a
// gap in the numbering (which must start at 1).
absl::StatusOr<std::vector<Migration>> LoadMigrationsFromDirectory(
    const std::string& dir);

// The checksum recorded for a migration: crc32c::Format of its SQL text.
std::string MigrationChecksum(absl::string_view sql);

// Applies migrations to one database connection.
class MigrationRunner {
 public:
  // `db` must outlive the runner.
  explicit MigrationRunner(SQLite::Database* db);

  MigrationRunner(const MigrationRunner&) = delete;
  MigrationRunner& operator=(const MigrationRunner&) = delete;

  // Applies the migrations in `migrations` (any order) that the database
  // has not applied yet, each in its own transaction with its
  // schema_migrations row. Returns the database's version afterwards (0 for
  // an empty list and an empty database).
  // Errors, none of which applies anything:
  //  - INVALID_ARGUMENT: duplicate versions, a gap, or numbering not
  //    starting at 1 (naming the files);
  //  - FAILED_PRECONDITION: an applied migration's checksum or name differs
  //    from the file's ("0001_init.sql: checksum changed ... edited after it
  //    was applied"), or the database has a version the list lacks (a newer
  //    binary migrated it).
  // A migration whose SQL fails returns its error, naming the file; the
  // database stays at the previous version and later migrations are not
  // tried.
  absl::StatusOr<int> Apply(std::vector<Migration> migrations);

  // Apply(LoadMigrationsFromDirectory(dir)).
  absl::StatusOr<int> ApplyFromDirectory(const std::string& dir);

  // The highest applied version, 0 for a database without migrations.
  absl::StatusOr<int> CurrentVersion();

  // The applied migrations as recorded (sql left empty), by version.
  absl::StatusOr<std::vector<Migration>> AppliedMigrations();

 private:
  struct AppliedRow {
    int version;
    std::string name;
    std::string checksum;
  };

  absl::Status EnsureMigrationsTable();
  absl::StatusOr<std::vector<AppliedRow>> ReadApplied();
  // Applies one migration unless another connection already did.
  absl::Status ApplyOne(const Migration& migration);

  SQLite::Database* const db_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_STORAGE_MIGRATION_RUNNER_H_
