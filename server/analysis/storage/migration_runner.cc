#include "server/analysis/storage/migration_runner.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <filesystem>
#include <system_error>
#include <thread>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "common/status_util.h"
#include "server/analysis/storage/crc32c.h"
#include "server/analysis/storage/sqlite_status.h"

namespace fnprobe {
namespace {

constexpr char kCreateMigrationsTable[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "  version    INTEGER PRIMARY KEY CHECK (version > 0),"
    "  name       TEXT NOT NULL,"
    "  applied_at TEXT NOT NULL"
    "             DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),"
    "  checksum   TEXT NOT NULL)";

// Sorts by version and checks 1..N with neither gaps nor duplicates.
absl::Status SortAndValidate(std::vector<Migration>& migrations) {
  std::stable_sort(migrations.begin(), migrations.end(),
                   [](const Migration& a, const Migration& b) {
                     return a.version < b.version;
                   });
  for (size_t i = 0; i < migrations.size(); ++i) {
    const Migration& m = migrations[i];
    if (i > 0 && migrations[i - 1].version == m.version) {
      return absl::InvalidArgumentError(
          absl::StrCat("migrations ", migrations[i - 1].name, " and ", m.name,
                       " have the same version ", m.version));
    }
    const int expected = static_cast<int>(i) + 1;
    if (m.version != expected) {
      return absl::InvalidArgumentError(absl::StrCat(
          "migration ", m.name, " has version ", m.version, " but version ",
          expected,
          " is missing (numbering must be 1, 2, 3, ... without gaps)"));
    }
  }
  return absl::OkStatus();
}

// Switches to WAL and returns the resulting journal mode. Changing the
// journal mode of a new database needs an exclusive lock, and SQLite can
// report SQLITE_BUSY for it without waiting on the busy handler when several
// connections open the same new file at once, so retry until the busy
// timeout has passed. Throws SQLite::Exception.
std::string SetWalMode(SQLite::Database& db, int busy_timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(busy_timeout_ms);
  for (;;) {
    try {
      return db.execAndGet("PRAGMA journal_mode=WAL").getString();
    } catch (const SQLite::Exception& e) {
      const int code = e.getErrorCode() & 0xFF;
      if ((code != SQLITE_BUSY && code != SQLITE_LOCKED) ||
          std::chrono::steady_clock::now() >= deadline) {
        throw;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<SQLite::Database>> OpenDatabase(
    const std::string& path, const DatabaseOptions& options) {
  try {
    int flags = SQLite::OPEN_READWRITE | SQLite::OPEN_FULLMUTEX;
    if (options.create_if_missing) flags |= SQLite::OPEN_CREATE;
    auto db = std::make_unique<SQLite::Database>(path, flags,
                                                 options.busy_timeout_ms);
    const std::string mode = SetWalMode(*db, options.busy_timeout_ms);
    if (path != ":memory:" && absl::AsciiStrToLower(mode) != "wal") {
      return absl::FailedPreconditionError(absl::StrCat(
          path, ": could not switch to WAL journal mode (got ", mode, ")"));
    }
    db->exec("PRAGMA foreign_keys=ON");
    db->exec("PRAGMA synchronous=NORMAL");
    if (db->execAndGet("PRAGMA foreign_keys").getInt() != 1) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ": could not enable foreign keys"));
    }
    return db;
  } catch (const std::exception& e) {
    return SqliteExceptionToStatus(e, absl::StrCat(path, ": open database"));
  }
}

absl::StatusOr<int> ParseMigrationFileName(absl::string_view file_name) {
  const auto invalid = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("migration file ", file_name,
                     ": name must be NNNN_<name>.sql (e.g. 0001_init.sql)"));
  };
  if (!absl::EndsWith(file_name, ".sql")) return invalid();
  const size_t underscore = file_name.find('_');
  if (underscore == absl::string_view::npos || underscore == 0 ||
      underscore + 1 >= file_name.size() - 4) {
    return invalid();
  }
  const absl::string_view digits = file_name.substr(0, underscore);
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return invalid();
  }
  int version = 0;
  if (!absl::SimpleAtoi(digits, &version) || version <= 0) return invalid();
  return version;
}

absl::StatusOr<std::vector<Migration>> LoadMigrationsFromDirectory(
    const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": migrations directory does not exist"));
  }
  std::vector<Migration> migrations;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat(dir, ": cannot list migrations: ", ec.message()));
  }
  for (const fs::directory_entry& entry : it) {
    const std::string file_name = entry.path().filename().string();
    if (!absl::EndsWith(file_name, ".sql")) continue;
    if (!entry.is_regular_file(ec)) continue;
    Migration m;
    FNPROBE_ASSIGN_OR_RETURN(m.version, ParseMigrationFileName(file_name));
    m.name = file_name;
    FNPROBE_ASSIGN_OR_RETURN(m.sql, ReadFileToString(entry.path().string()));
    migrations.push_back(std::move(m));
  }
  FNPROBE_RETURN_IF_ERROR(Annotate(SortAndValidate(migrations), dir));
  return migrations;
}

std::string MigrationChecksum(absl::string_view sql) {
  return crc32c::Format(crc32c::Value(sql));
}

MigrationRunner::MigrationRunner(SQLite::Database* db) : db_(db) {}

absl::Status MigrationRunner::EnsureMigrationsTable() {
  try {
    db_->exec(kCreateMigrationsTable);
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return SqliteExceptionToStatus(e, "create table schema_migrations");
  }
}

absl::StatusOr<std::vector<MigrationRunner::AppliedRow>>
MigrationRunner::ReadApplied() {
  try {
    std::vector<AppliedRow> rows;
    SQLite::Statement query(
        *db_,
        "SELECT version, name, checksum FROM schema_migrations ORDER BY "
        "version");
    while (query.executeStep()) {
      rows.push_back(AppliedRow{query.getColumn(0).getInt(),
                                query.getColumn(1).getString(),
                                query.getColumn(2).getString()});
    }
    return rows;
  } catch (const std::exception& e) {
    return SqliteExceptionToStatus(e, "read table schema_migrations");
  }
}

absl::StatusOr<int> MigrationRunner::CurrentVersion() {
  FNPROBE_RETURN_IF_ERROR(EnsureMigrationsTable());
  try {
    return db_
        ->execAndGet(
            "SELECT COALESCE(MAX(version), 0) FROM "
            "schema_migrations")
        .getInt();
  } catch (const std::exception& e) {
    return SqliteExceptionToStatus(e, "read table schema_migrations");
  }
}

absl::StatusOr<std::vector<Migration>> MigrationRunner::AppliedMigrations() {
  FNPROBE_RETURN_IF_ERROR(EnsureMigrationsTable());
  FNPROBE_ASSIGN_OR_RETURN(std::vector<AppliedRow> rows, ReadApplied());
  std::vector<Migration> out;
  out.reserve(rows.size());
  for (AppliedRow& row : rows) {
    out.push_back(Migration{row.version, std::move(row.name), ""});
  }
  return out;
}

absl::StatusOr<int> MigrationRunner::ApplyFromDirectory(
    const std::string& dir) {
  FNPROBE_ASSIGN_OR_RETURN(std::vector<Migration> migrations,
                           LoadMigrationsFromDirectory(dir));
  return Apply(std::move(migrations));
}

absl::StatusOr<int> MigrationRunner::Apply(std::vector<Migration> migrations) {
  FNPROBE_RETURN_IF_ERROR(SortAndValidate(migrations));
  FNPROBE_RETURN_IF_ERROR(EnsureMigrationsTable());
  FNPROBE_ASSIGN_OR_RETURN(std::vector<AppliedRow> applied, ReadApplied());

  // Check everything before changing anything.
  for (const AppliedRow& row : applied) {
    if (row.version < 1 ||
        static_cast<size_t>(row.version) > migrations.size()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "database has migration ", row.name, " (version ", row.version,
          ") applied but only ", migrations.size(),
          " migrations are known; it was migrated by a newer fnprobe"));
    }
    const Migration& m = migrations[row.version - 1];
    if (row.name != m.name) {
      return absl::FailedPreconditionError(
          absl::StrCat(m.name, ": version ", row.version, " was applied as ",
                       row.name, "; applied migrations must never be renamed"));
    }
    const std::string checksum = MigrationChecksum(m.sql);
    if (row.checksum != checksum) {
      return absl::FailedPreconditionError(absl::StrCat(
          m.name, ": checksum changed (applied ", row.checksum, ", file ",
          checksum,
          "); the migration was edited after it was applied. Restore it and "
          "add a new migration instead"));
    }
  }

  for (size_t i = applied.size(); i < migrations.size(); ++i) {
    FNPROBE_RETURN_IF_ERROR(ApplyOne(migrations[i]));
  }
  return CurrentVersion();
}

absl::Status MigrationRunner::ApplyOne(const Migration& migration) {
  bool in_transaction = false;
  try {
    // IMMEDIATE takes the write lock now, so two processes starting at once
    // serialize here and the second sees the first one's row.
    db_->exec("BEGIN IMMEDIATE");
    in_transaction = true;
    SQLite::Statement check(
        *db_, "SELECT checksum FROM schema_migrations WHERE version = ?");
    check.bind(1, migration.version);
    if (check.executeStep()) {
      const std::string recorded = check.getColumn(0).getString();
      check.reset();
      db_->exec("ROLLBACK");
      in_transaction = false;
      if (recorded != MigrationChecksum(migration.sql)) {
        return absl::FailedPreconditionError(absl::StrCat(
            migration.name, ": applied concurrently with checksum ", recorded,
            " which differs from the file's"));
      }
      return absl::OkStatus();
    }
    check.reset();
    db_->exec(migration.sql);
    SQLite::Statement record(
        *db_,
        "INSERT INTO schema_migrations (version, name, checksum) "
        "VALUES (?, ?, ?)");
    record.bind(1, migration.version);
    record.bind(2, migration.name);
    record.bind(3, MigrationChecksum(migration.sql));
    record.exec();
    db_->exec("COMMIT");
    in_transaction = false;
    return absl::OkStatus();
  } catch (const std::exception& e) {
    if (in_transaction) {
      try {
        // A failed statement may already have rolled back (e.g. on
        // SQLITE_FULL); ROLLBACK then fails harmlessly.
        db_->exec("ROLLBACK");
      } catch (const std::exception&) {
      }
    }
    return SqliteExceptionToStatus(e,
                                   absl::StrCat("migration ", migration.name,
                                                " failed and was rolled back"));
  }
}

}  // namespace fnprobe
