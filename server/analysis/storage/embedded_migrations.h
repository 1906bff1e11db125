// The migrations of migrations/*.sql compiled into the binary, so that the
// worker needs no migrations directory at run time. The build generates
// embedded_migrations.cc from the .sql files (embed_migrations.cmake); the
// SQL text is byte-for-byte the file's, so checksums agree with
// LoadMigrationsFromDirectory.
//
// Thread-safe: the list is built once and never changes.
#ifndef FNPROBE_SERVER_ANALYSIS_STORAGE_EMBEDDED_MIGRATIONS_H_
#define FNPROBE_SERVER_ANALYSIS_STORAGE_EMBEDDED_MIGRATIONS_H_

#include <vector>

#include "server/analysis/storage/migration_runner.h"

namespace fnprobe {

// Every migration in migrations/ at build time, by version.
const std::vector<Migration>& EmbeddedMigrations();

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_STORAGE_EMBEDDED_MIGRATIONS_H_
