// A child process started with posix_spawn, for `fnprobe demo`: its stdout
// and stderr go to a log file, stdin reads /dev/null, it starts with the
// default signal mask and dispositions, and in its own process group, so a
// Ctrl-C at the terminal reaches only fnprobe, which then stops its children
// in order. Stop sends SIGTERM, waits for a grace period, then SIGKILLs.
// The destructor stops a child that is still running.
//
// Thread-safe: Poll, Stop and the destructor may race (a signal-handling
// thread may stop children the main thread is polling).
#ifndef FNPROBE_CLIENT_CHILD_PROCESS_H_
#define FNPROBE_CLIENT_CHILD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace fnprobe::client {

class ChildProcess {
 public:
  // Starts `binary` with `args` (argv[1...]), output appended to `log_path`.
  // The error names the binary and the reason if it cannot be started.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Spawn(
      const std::string& binary, const std::vector<std::string>& args,
      const std::string& log_path);

  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  const std::string& log_path() const { return log_path_; }

  // The exit code if the child has ended (128 + signal number if a signal
  // ended it), nullopt while it runs. Does not block.
  std::optional<int> Poll();

  // Blocks until the child ends or `timeout` passes; as Poll.
  std::optional<int> Wait(absl::Duration timeout);

  // Asks the child to stop (SIGTERM), waits up to `grace`, then kills it
  // (SIGKILL). Returns its exit code as Poll. Idempotent.
  int Stop(absl::Duration grace = absl::Seconds(10));

 private:
  ChildProcess(pid_t pid, std::string name, std::string log_path)
      : pid_(pid), name_(std::move(name)), log_path_(std::move(log_path)) {}

  std::optional<int> PollLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const pid_t pid_;
  const std::string name_;
  const std::string log_path_;

  absl::Mutex mu_;
  std::optional<int> exit_code_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_CHILD_PROCESS_H_
