#include "client/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace fnprobe::client {
namespace {

constexpr absl::Duration kPollInterval = absl::Milliseconds(20);

// posix_spawn's settings: output to the log, default signals, own group.
class SpawnSettings {
 public:
  explicit SpawnSettings(const std::string& log_path) {
    posix_spawn_file_actions_init(&actions_);
    posix_spawn_file_actions_addopen(&actions_, STDIN_FILENO, "/dev/null",
                                     O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions_, STDOUT_FILENO, log_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions_, STDOUT_FILENO, STDERR_FILENO);
    posix_spawnattr_init(&attr_);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr_, &none);
    posix_spawnattr_setsigdefault(&attr_, &all);
    posix_spawnattr_setpgroup(&attr_, 0);
    posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK |
                                         POSIX_SPAWN_SETSIGDEF |
                                         POSIX_SPAWN_SETPGROUP);
  }
  ~SpawnSettings() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  const posix_spawn_file_actions_t* actions() const { return &actions_; }
  const posix_spawnattr_t* attr() const { return &attr_; }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

int ExitCode(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return -1;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Spawn(
    const std::string& binary, const std::vector<std::string>& args,
    const std::string& log_path) {
  std::vector<std::string> argv_strings = {binary};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);
  SpawnSettings settings(log_path);
  pid_t pid = 0;
  int err = posix_spawn(&pid, binary.c_str(), settings.actions(),
                        settings.attr(), argv.data(), environ);
  if (err != 0) {
    return absl::InternalError(
        absl::StrCat("cannot start ", binary, ": ", std::strerror(err)));
  }
  const std::string name = std::filesystem::path(binary).filename().string();
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, name, log_path));
}

ChildProcess::~ChildProcess() { Stop(absl::Seconds(5)); }

std::optional<int> ChildProcess::PollLocked() {
  if (exit_code_) return exit_code_;
  int wait_status = 0;
  if (waitpid(pid_, &wait_status, WNOHANG) == pid_) {
    exit_code_ = ExitCode(wait_status);
  }
  return exit_code_;
}

std::optional<int> ChildProcess::Poll() {
  absl::MutexLock lock(&mu_);
  return PollLocked();
}

std::optional<int> ChildProcess::Wait(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (std::optional<int> code = Poll()) return code;
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(kPollInterval);
  }
}

int ChildProcess::Stop(absl::Duration grace) {
  absl::MutexLock lock(&mu_);
  if (PollLocked()) return *exit_code_;
  kill(pid_, SIGTERM);
  const absl::Time deadline = absl::Now() + grace;
  while (!PollLocked() && absl::Now() < deadline) absl::SleepFor(kPollInterval);
  if (!exit_code_) {
    kill(pid_, SIGKILL);
    int wait_status = 0;
    waitpid(pid_, &wait_status, 0);
    exit_code_ = ExitCode(wait_status);
  }
  return *exit_code_;
}

}  // namespace fnprobe::client
