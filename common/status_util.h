// Small helpers for absl::Status that Debian bookworm's Abseil (20220623)
// lacks: return-if-error and assign-or-return macros.
//
// Usage:
//   FNPROBE_RETURN_IF_ERROR(WriteHeader(out));
//   FNPROBE_ASSIGN_OR_RETURN(auto reader, SafetensorsReader::Open(path));
#ifndef FNPROBE_COMMON_STATUS_UTIL_H_
#define FNPROBE_COMMON_STATUS_UTIL_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define FNPROBE_STATUS_CONCAT_INNER_(a, b) a##b
#define FNPROBE_STATUS_CONCAT_(a, b) FNPROBE_STATUS_CONCAT_INNER_(a, b)

// Evaluates `expr` (an absl::Status) and returns it from the enclosing
// function if it is not OK.
#define FNPROBE_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::absl::Status fnprobe_status_ = (expr);           \
    if (!fnprobe_status_.ok()) return fnprobe_status_; \
  } while (0)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status from
// the enclosing function, otherwise moves the value into `lhs`, which may be
// a declaration (`auto x`) or an existing lvalue.
#define FNPROBE_ASSIGN_OR_RETURN(lhs, rexpr) \
  FNPROBE_ASSIGN_OR_RETURN_IMPL_(            \
      FNPROBE_STATUS_CONCAT_(fnprobe_statusor_, __LINE__), lhs, rexpr)

#define FNPROBE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                   \
  if (!statusor.ok()) return std::move(statusor).status();   \
  lhs = std::move(statusor).value()

namespace fnprobe {

// Returns `status` with `context` prepended to its message ("context: msg"),
// keeping its code. OK stays OK.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_STATUS_UTIL_H_
