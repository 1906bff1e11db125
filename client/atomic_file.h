// The client's durable file writes, through common/env.h: readers see
// either the old file or the new one, never a partial one (a temporary file
// in the same directory is synced and renamed over the target, and the
// directory is synced).
//
// These forms write through a PosixEnv; code that must inject failures calls
// fnprobe::WriteFileAtomically(env, ...) with its own Env.
//
// Thread-safe: free functions; concurrent writers of the same path leave one
// complete version (each writes its own uniquely named temporary file).
#ifndef FNPROBE_CLIENT_ATOMIC_FILE_H_
#define FNPROBE_CLIENT_ATOMIC_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace fnprobe::client {

// Replaces `path` with `contents`. On failure the error names the path and
// the system's reason, the target is left as it was and the temporary file
// is removed. REQUIRES: the parent directory exists.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

// Creates `dir` and its missing parents. The error names the directory.
absl::Status CreateDirectories(const std::string& dir);

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_ATOMIC_FILE_H_
