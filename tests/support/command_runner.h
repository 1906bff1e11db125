// Runs a binary as a child process for tests that drive real executables
// (the fnprobe CLI): exact environment, stdin from /dev/null, stdout and
// stderr captured whole.
#ifndef FNPROBE_TESTS_SUPPORT_COMMAND_RUNNER_H_
#define FNPROBE_TESTS_SUPPORT_COMMAND_RUNNER_H_

#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace fnprobe::testing {

struct CommandResult {
  int exit_code = -1;  // -1 if it did not start or died from a signal
  std::string out;
  std::string err;
};

// For assertion messages: the exit code, stdout and stderr.
std::ostream& operator<<(std::ostream& os, const CommandResult& r);

// Runs `binary args...` with exactly `env` as its environment; stdout and
// stderr go through files in `dir` (which must exist). Adds a test failure
// if the binary cannot be started.
CommandResult RunCommand(const std::string& binary,
                         const std::vector<std::string>& args,
                         const std::map<std::string, std::string>& env,
                         const std::string& dir);

// The whole file, or "" if it cannot be read.
std::string ReadAll(const std::string& path);

// A loopback port with nothing listening on it (bound, then closed).
int UnusedLoopbackPort();

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_SUPPORT_COMMAND_RUNNER_H_
