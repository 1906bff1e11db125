#include "server/analysis/storage/migration_runner.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/storage/embedded_migrations.h"
#include "tests/support/reference_data.h"

namespace fnprobe {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A fresh directory under the system temp dir, removed when destroyed.
class TempDir : public ::fnprobe::testing::ScopedTempDir {
 public:
  TempDir() : ScopedTempDir("fnprobe_migrations_") {}
};

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
}

int CountRows(SQLite::Database& db, const std::string& table) {
  return db.execAndGet("SELECT COUNT(*) FROM " + table).getInt();
}

bool TableExists(SQLite::Database& db, const std::string& table) {
  SQLite::Statement q(db,
                      "SELECT 1 FROM sqlite_master WHERE type='table' AND "
                      "name=?");
  q.bind(1, table);
  return q.executeStep();
}

class MigrationRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    migrations_dir_ = dir_.path() + "/migrations";
    fs::create_directory(migrations_dir_);
    db_path_ = dir_.path() + "/fnprobe.db";
  }

  std::unique_ptr<SQLite::Database> Open() {
    auto db = OpenDatabase(db_path_);
    EXPECT_TRUE(db.ok()) << db.status();
    return db.ok() ? std::move(db).value() : nullptr;
  }

  // Copies the real 0001 into the temporary migrations directory.
  void CopyInit() {
    fs::copy_file(std::string(FNPROBE_MIGRATIONS_DIR) + "/0001_init.sql",
                  migrations_dir_ + "/0001_init.sql");
  }

  TempDir dir_;
  std::string migrations_dir_;
  std::string db_path_;
};

TEST(ParseMigrationFileNameTest, AcceptsAndRefuses) {
  EXPECT_EQ(ParseMigrationFileName("0001_init.sql").value(), 1);
  EXPECT_EQ(ParseMigrationFileName("0012_add_notes.sql").value(), 12);
  for (const char* bad : {"init.sql", "0001init.sql", "_init.sql", "0001_.sql",
                          "0001_init.txt", "00a1_init.sql", "0000_zero.sql"}) {
    EXPECT_EQ(ParseMigrationFileName(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST_F(MigrationRunnerTest, AppliesAllMigrationsToEmptyDatabase) {
  auto db = Open();
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(db->execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_EQ(db->execAndGet("PRAGMA foreign_keys").getInt(), 1);

  auto files = LoadMigrationsFromDirectory(FNPROBE_MIGRATIONS_DIR);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_FALSE(files->empty());

  MigrationRunner runner(db.get());
  auto version = runner.ApplyFromDirectory(FNPROBE_MIGRATIONS_DIR);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, static_cast<int>(files->size()));
  for (const char* table :
       {"models", "users", "experiments", "runs", "events", "generations",
        "glm_maps", "networks", "network_units", "overlaps", "classifications",
        "jobs", "schema_migrations"}) {
    EXPECT_TRUE(TableExists(*db, table)) << table;
  }
  EXPECT_EQ(CountRows(*db, "schema_migrations"),
            static_cast<int>(files->size()));
  SQLite::Statement row(
      *db,
      "SELECT name, checksum, applied_at FROM schema_migrations "
      "WHERE version = 1");
  ASSERT_TRUE(row.executeStep());
  EXPECT_EQ(row.getColumn(0).getString(), "0001_init.sql");
  EXPECT_EQ(row.getColumn(1).getString(), MigrationChecksum((*files)[0].sql));
  EXPECT_FALSE(row.getColumn(2).getString().empty());
}

TEST_F(MigrationRunnerTest, ReRunIsIdempotent) {
  auto db = Open();
  MigrationRunner runner(db.get());
  auto first = runner.ApplyFromDirectory(FNPROBE_MIGRATIONS_DIR);
  ASSERT_TRUE(first.ok()) << first.status();
  const int rows = CountRows(*db, "schema_migrations");
  db.reset();

  auto db2 = Open();
  MigrationRunner runner2(db2.get());
  auto second = runner2.ApplyFromDirectory(FNPROBE_MIGRATIONS_DIR);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, *first);
  EXPECT_EQ(CountRows(*db2, "schema_migrations"), rows);
}

TEST_F(MigrationRunnerTest, EmbeddedMigrationsMatchTheDirectory) {
  auto files = LoadMigrationsFromDirectory(FNPROBE_MIGRATIONS_DIR);
  ASSERT_TRUE(files.ok()) << files.status();
  const std::vector<Migration>& embedded = EmbeddedMigrations();
  ASSERT_EQ(embedded.size(), files->size());
  for (size_t i = 0; i < embedded.size(); ++i) {
    EXPECT_EQ(embedded[i].version, (*files)[i].version);
    EXPECT_EQ(embedded[i].name, (*files)[i].name);
    EXPECT_EQ(embedded[i].sql, (*files)[i].sql);
  }
  // A database migrated from the directory accepts the embedded list.
  auto db = Open();
  MigrationRunner runner(db.get());
  ASSERT_TRUE(runner.ApplyFromDirectory(FNPROBE_MIGRATIONS_DIR).ok());
  auto version = runner.Apply(embedded);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, static_cast<int>(embedded.size()));
}

TEST_F(MigrationRunnerTest, UpgradesInPlaceWhenANewMigrationAppears) {
  CopyInit();
  {
    auto db = Open();
    MigrationRunner runner(db.get());
    auto version = runner.ApplyFromDirectory(migrations_dir_);
    ASSERT_TRUE(version.ok()) << version.status();
    EXPECT_EQ(*version, 1);
    db->exec(
        "INSERT INTO users (name) VALUES ('ada');"
        "INSERT INTO experiments (user_id, name, spec_json) "
        "VALUES (1, 'e', '{}')");
  }
  WriteFile(migrations_dir_ + "/0002_experiment_notes.sql",
            "ALTER TABLE experiments ADD COLUMN notes TEXT;\n"
            "UPDATE experiments SET notes = 'migrated';\n");
  auto db = Open();
  MigrationRunner runner(db.get());
  auto version = runner.ApplyFromDirectory(migrations_dir_);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, 2);
  EXPECT_EQ(db->execAndGet("SELECT notes FROM experiments").getString(),
            "migrated");
  auto applied = runner.AppliedMigrations();
  ASSERT_TRUE(applied.ok());
  ASSERT_EQ(applied->size(), 2u);
  EXPECT_EQ((*applied)[1].name, "0002_experiment_notes.sql");
}

TEST_F(MigrationRunnerTest, FailingMigrationLeavesPreviousVersion) {
  CopyInit();
  WriteFile(migrations_dir_ + "/0002_bad.sql",
            "CREATE TABLE half_done (x INTEGER);\n"
            "INSERT INTO half_done VALUES (1);\n"
            "INSERT INTO no_such_table VALUES (1);\n");
  auto db = Open();
  MigrationRunner runner(db.get());
  auto version = runner.ApplyFromDirectory(migrations_dir_);
  ASSERT_FALSE(version.ok());
  EXPECT_THAT(version.status().message(), HasSubstr("0002_bad.sql"));
  EXPECT_THAT(version.status().message(), HasSubstr("no_such_table"));
  auto current = runner.CurrentVersion();
  ASSERT_TRUE(current.ok());
  EXPECT_EQ(*current, 1);
  EXPECT_FALSE(TableExists(*db, "half_done"));
  EXPECT_TRUE(TableExists(*db, "experiments"));  // 0001 stayed applied.
  // The connection is usable afterwards (no transaction left open).
  EXPECT_NO_THROW(db->exec("INSERT INTO users (name) VALUES ('after')"));

  // Fixing the file lets the upgrade proceed.
  WriteFile(migrations_dir_ + "/0002_bad.sql",
            "CREATE TABLE half_done (x INTEGER);\n");
  version = runner.ApplyFromDirectory(migrations_dir_);
  ASSERT_TRUE(version.ok()) << version.status();
  EXPECT_EQ(*version, 2);
}

TEST_F(MigrationRunnerTest, RefusesAnEditedAppliedMigration) {
  CopyInit();
  auto db = Open();
  MigrationRunner runner(db.get());
  ASSERT_TRUE(runner.ApplyFromDirectory(migrations_dir_).ok());
  std::ofstream(migrations_dir_ + "/0001_init.sql", std::ios::app)
      << "\n-- edited after merge\n";
  WriteFile(migrations_dir_ + "/0002_more.sql", "CREATE TABLE more (x);\n");
  auto version = runner.ApplyFromDirectory(migrations_dir_);
  ASSERT_EQ(version.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(version.status().message(), HasSubstr("0001_init.sql"));
  EXPECT_THAT(version.status().message(), HasSubstr("checksum changed"));
  // Nothing else was applied.
  EXPECT_FALSE(TableExists(*db, "more"));
}

TEST_F(MigrationRunnerTest, RefusesGapsAndDuplicates) {
  CopyInit();
  WriteFile(migrations_dir_ + "/0003_skip.sql", "CREATE TABLE skip (x);\n");
  auto db = Open();
  MigrationRunner runner(db.get());
  auto version = runner.ApplyFromDirectory(migrations_dir_);
  ASSERT_EQ(version.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(version.status().message(), HasSubstr("0003_skip.sql"));
  EXPECT_EQ(runner.CurrentVersion().value(), 0);  // Nothing applied.

  fs::rename(migrations_dir_ + "/0003_skip.sql",
             migrations_dir_ + "/0001_again.sql");
  version = runner.ApplyFromDirectory(migrations_dir_);
  ASSERT_EQ(version.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(version.status().message(), HasSubstr("0001_again.sql"));
  EXPECT_THAT(version.status().message(), HasSubstr("0001_init.sql"));
}

TEST_F(MigrationRunnerTest, RefusesMalformedFileName) {
  CopyInit();
  WriteFile(migrations_dir_ + "/add_stuff.sql", "SELECT 1;\n");
  auto loaded = LoadMigrationsFromDirectory(migrations_dir_);
  ASSERT_EQ(loaded.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(loaded.status().message(), HasSubstr("add_stuff.sql"));
}

TEST_F(MigrationRunnerTest, RefusesDatabaseNewerThanMigrations) {
  auto db = Open();
  MigrationRunner runner(db.get());
  ASSERT_TRUE(runner
                  .Apply({Migration{1, "0001_a.sql", "CREATE TABLE a (x);"},
                          Migration{2, "0002_b.sql", "CREATE TABLE b (x);"}})
                  .ok());
  auto version =
      runner.Apply({Migration{1, "0001_a.sql", "CREATE TABLE a (x);"}});
  ASSERT_EQ(version.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(version.status().message(), HasSubstr("0002_b.sql"));
}

TEST_F(MigrationRunnerTest, ConcurrentRunnersApplyEachMigrationOnce) {
  constexpr int kRunners = 4;
  std::vector<absl::StatusOr<int>> results(kRunners, absl::UnknownError(""));
  std::vector<std::thread> threads;
  for (int i = 0; i < kRunners; ++i) {
    threads.emplace_back([this, i, &results] {
      auto db = OpenDatabase(db_path_);
      if (!db.ok()) {
        results[i] = db.status();
        return;
      }
      MigrationRunner runner(db->get());
      results[i] = runner.Apply(EmbeddedMigrations());
    });
  }
  for (std::thread& t : threads) t.join();
  for (const auto& result : results) {
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(*result, static_cast<int>(EmbeddedMigrations().size()));
  }
  auto db = Open();
  EXPECT_EQ(CountRows(*db, "schema_migrations"),
            static_cast<int>(EmbeddedMigrations().size()));
}

TEST_F(MigrationRunnerTest, MissingDirectoryIsNotFound) {
  auto db = Open();
  MigrationRunner runner(db.get());
  EXPECT_EQ(runner.ApplyFromDirectory(dir_.path() + "/nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(MigrationRunnerTest, NetworkUnitsLookupByUnitUsesTheIndex) {
  auto db = Open();
  MigrationRunner runner(db.get());
  ASSERT_TRUE(runner.ApplyFromDirectory(FNPROBE_MIGRATIONS_DIR).ok());
  SQLite::Statement plan(*db,
                         "EXPLAIN QUERY PLAN SELECT network_id FROM "
                         "network_units WHERE unit = ?");
  plan.bind(1, 1203);
  std::string details;
  while (plan.executeStep()) details += plan.getColumn(3).getString() + "\n";
  EXPECT_THAT(details, HasSubstr("network_units_by_unit")) << details;
}

TEST_F(MigrationRunnerTest, SchemaEnforcesForeignKeysAndChecks) {
  auto db = Open();
  MigrationRunner runner(db.get());
  ASSERT_TRUE(runner.ApplyFromDirectory(FNPROBE_MIGRATIONS_DIR).ok());
  // A run of a missing experiment.
  EXPECT_THROW(db->exec("INSERT INTO runs (experiment_id, condition, "
                        "repeat_index) VALUES (42, 'c', 0)"),
               SQLite::Exception);
  db->exec(
      "INSERT INTO users (name) VALUES ('ada');"
      "INSERT INTO experiments (user_id, name, spec_json) "
      "VALUES (1, 'e', '{\"name\": \"e\"}');"
      "INSERT INTO runs (experiment_id, condition, repeat_index) "
      "VALUES (1, 'pathology', 0)");
  // A run is done only with its activation file recorded.
  EXPECT_THROW(db->exec("UPDATE runs SET status = 'done' WHERE id = 1"),
               SQLite::Exception);
  db->exec(
      "UPDATE runs SET status = 'done', activation_path = 'a/1.fnpact', "
      "activation_checksum = 'crc32c:00000000' WHERE id = 1");
  // Invalid JSON and unknown status values are refused.
  EXPECT_THROW(db->exec("INSERT INTO experiments (user_id, name, spec_json) "
                        "VALUES (1, 'x', 'not json')"),
               SQLite::Exception);
  EXPECT_THROW(db->exec("UPDATE experiments SET status = 'bogus'"),
               SQLite::Exception);
  // Deleting the experiment cascades to its runs.
  db->exec("DELETE FROM experiments WHERE id = 1");
  EXPECT_EQ(CountRows(*db, "runs"), 0);
}

}  // namespace
}  // namespace fnprobe
