#include "common/server_lifecycle.h"

#include <pthread.h>

#include "absl/strings/str_cat.h"
#include "common/env.h"

namespace fnprobe {

sigset_t BlockStopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int WaitForStopSignal(const sigset_t& set) {
  int signal_number = 0;
  sigwait(&set, &signal_number);
  return signal_number;
}

absl::Status WritePortFile(Env& env, const std::string& path, int port) {
  if (path.empty()) return absl::OkStatus();
  const absl::Status status =
      WriteFileAtomically(env, path, absl::StrCat(port, "\n"));
  if (!status.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "--port-file: cannot write '", path, "': ", status.message()));
  }
  return absl::OkStatus();
}

absl::Status WritePortFile(const std::string& path, int port) {
  PosixEnv env;
  return WritePortFile(env, path, port);
}

}  // namespace fnprobe
