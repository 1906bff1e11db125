// Runs a server binary as a child process on a loopback port it picks
// itself (--listen 127.0.0.1:0 --port-file), for end-to-end tests, and stops
// it (SIGTERM, then SIGKILL after a grace period) when destroyed.
#ifndef FNPROBE_TESTS_E2E_SERVER_PROCESS_H_
#define FNPROBE_TESTS_E2E_SERVER_PROCESS_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fnprobe::testing {

class ServerProcess {
 public:
  // Starts `binary` with `args` plus --listen/--port-file, and waits (up to
  // `timeout_s`) for the port file. Output is appended to `log_path`.
  // `port` 0 lets the server pick one; a fixed port restarts a server where
  // its clients expect it.
  static absl::StatusOr<std::unique_ptr<ServerProcess>> Start(
      const std::string& binary, std::vector<std::string> args,
      const std::string& work_dir, const std::string& log_path,
      int timeout_s = 60, int port = 0);

  ~ServerProcess();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string address() const;

  // Sends SIGTERM and waits up to `timeout_s`; returns the exit code, or -1
  // if it had to be killed (or died from a signal).
  int Stop(int timeout_s = 20);

  // SIGKILL (no chance to clean up, as in a crash) and reap.
  void Kill();

  // Resident set size in bytes, from /proc/<pid>/status.
  int64_t RssBytes() const;

  // CPU time used so far (user + system, every thread), in seconds, from
  // /proc/<pid>/stat; -1 if it cannot be read.
  double CpuSeconds() const;

 private:
  ServerProcess(pid_t pid, int port) : pid_(pid), port_(port) {}
  pid_t pid_;
  int port_;
  bool stopped_ = false;
};

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_E2E_SERVER_PROCESS_H_
