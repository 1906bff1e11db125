#include "server/analysis/storage/sqlite_status.h"

#include <SQLiteCpp/Exception.h>
#include <sqlite3.h>

#include "absl/strings/str_cat.h"

namespace fnprobe {

absl::StatusCode SqliteCodeToStatusCode(int sqlite_code) {
  switch (sqlite_code & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_CANTOPEN:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CONSTRAINT:
      return absl::StatusCode::kFailedPrecondition;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    case SQLITE_FULL:
      return absl::StatusCode::kResourceExhausted;
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status SqliteExceptionToStatus(const std::exception& e,
                                     absl::string_view context) {
  const auto* sqlite_error = dynamic_cast<const SQLite::Exception*>(&e);
  if (sqlite_error == nullptr) {
    return absl::InternalError(absl::StrCat(context, ": ", e.what()));
  }
  const int code = sqlite_error->getErrorCode();
  return absl::Status(SqliteCodeToStatusCode(code),
                      absl::StrCat(context, ": ", e.what(), " (sqlite code ",
                                   sqlite_error->getExtendedErrorCode(), ")"));
}

}  // namespace fnprobe
