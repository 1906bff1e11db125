// Conversion of SQLiteCpp exceptions to absl::Status. SQLiteCpp throws
// SQLite::Exception; storage classes catch it at their boundary and return
// the status this produces, so no exception crosses a module line.
//
// Thread-safe: pure functions.
#ifndef FNPROBE_SERVER_ANALYSIS_STORAGE_SQLITE_STATUS_H_
#define FNPROBE_SERVER_ANALYSIS_STORAGE_SQLITE_STATUS_H_

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fnprobe {

// The absl code for an SQLite primary result code: BUSY/LOCKED ->
// UNAVAILABLE, CONSTRAINT -> FAILED_PRECONDITION, CORRUPT/NOTADB ->
// DATA_LOSS, FULL -> RESOURCE_EXHAUSTED, CANTOPEN -> UNAVAILABLE,
// PERM/READONLY/AUTH -> PERMISSION_DENIED, anything else -> INTERNAL.
absl::StatusCode SqliteCodeToStatusCode(int sqlite_code);

// A status "<context>: <what> (sqlite code N)" for an exception thrown while
// doing `context` (which names the statement or table). A std::exception
// that is not an SQLite::Exception becomes INTERNAL.
absl::Status SqliteExceptionToStatus(const std::exception& e,
                                     absl::string_view context);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_STORAGE_SQLITE_STATUS_H_
