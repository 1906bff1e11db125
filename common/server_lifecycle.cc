#include "common/server_lifecycle.h"

#include <pthread.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"

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

absl::Status WritePortFile(const std::string& path, int port) {
  if (path.empty()) return absl::OkStatus();
  const std::string temp = path + ".tmp";
  {
    std::ofstream out(temp);
    out << port << "\n";
    if (!out.flush()) {
      return absl::PermissionDeniedError(
          absl::StrCat("--port-file: cannot write '", temp, "'"));
    }
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "--port-file: cannot rename '", temp, "' to '", path, "'"));
  }
  return absl::OkStatus();
}

}  // namespace fnprobe
