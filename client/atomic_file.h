// Writes a whole file so that readers see either the old file or the new
// one, never a partial one: the contents go to a temporary file in the same
// directory, which is flushed to disk and then renamed over the target.
//
// Thread-safe: free functions; concurrent writers of the same path leave one
// complete version.
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
