#include "tests/e2e/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace fnprobe::testing {

absl::StatusOr<std::unique_ptr<ServerProcess>> ServerProcess::Start(
    const std::string& binary, std::vector<std::string> args,
    const std::string& work_dir, const std::string& log_path, int timeout_s,
    int port) {
  const std::string port_file = absl::StrCat(work_dir, "/port.", rand());
  args.insert(args.begin(), binary);
  args.push_back("--listen");
  args.push_back(absl::StrCat("127.0.0.1:", port));
  args.push_back("--port-file");
  args.push_back(port_file);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      return absl::InternalError(
          absl::StrCat(binary, " exited during start-up; see ", log_path));
    }
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) {
      return std::unique_ptr<ServerProcess>(new ServerProcess(pid, port));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return absl::DeadlineExceededError(
      absl::StrCat(binary, " did not report a port within ", timeout_s, " s"));
}

ServerProcess::~ServerProcess() {
  if (!stopped_) Stop(5);
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

int ServerProcess::Stop(int timeout_s) {
  if (stopped_) return -1;
  stopped_ = true;
  kill(pid_, SIGTERM);
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  return -1;
}

void ServerProcess::Kill() {
  if (stopped_) return;
  stopped_ = true;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
}

int64_t ServerProcess::RssBytes() const {
  std::ifstream in(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      std::istringstream ss(line.substr(6));
      int64_t kb = 0;
      ss >> kb;
      return kb * 1024;
    }
  }
  return -1;
}

double ServerProcess::CpuSeconds() const {
  std::ifstream in(absl::StrCat("/proc/", pid_, "/stat"));
  std::string stat;
  std::getline(in, stat);
  // The command name (field 2) is in parentheses and may hold spaces: the
  // fields are counted from the last ')'. utime and stime are fields 14
  // and 15, in clock ticks.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i < 14) continue;
    double value = 0;
    if (!absl::SimpleAtod(field, &value)) return -1;
    ticks += value;
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

}  // namespace fnprobe::testing
