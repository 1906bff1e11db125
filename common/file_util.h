// Whole-file reading for small configuration files (token tables, PEM
// certificates and keys).
//
// Thread-safe: free functions without state.
#ifndef FNPROBE_COMMON_FILE_UTIL_H_
#define FNPROBE_COMMON_FILE_UTIL_H_

#include <string>

#include "absl/status/statusor.h"

namespace fnprobe {

// The contents of the file at `path`. On failure the status carries the code
// errno maps to (NOT_FOUND for a missing file, PERMISSION_DENIED, ...) and
// the message "<path>: <what>: <strerror>".
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_FILE_UTIL_H_
