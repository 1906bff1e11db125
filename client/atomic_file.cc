#include "client/atomic_file.h"

#include "common/env.h"

namespace fnprobe::client {

absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents) {
  PosixEnv env;
  return ::fnprobe::WriteFileAtomically(env, path, contents);
}

absl::Status CreateDirectories(const std::string& dir) {
  PosixEnv env;
  return env.CreateDirectories(dir);
}

}  // namespace fnprobe::client
