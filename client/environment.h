// The parts of the process environment the CLI reads: environment variables,
// the home directory, whether stdout is a terminal, and the path of the
// running executable. Injected into Cli so that tests control them.
//
// Thread-safe: immutable after construction; const methods may be called
// concurrently.
#ifndef FNPROBE_CLIENT_ENVIRONMENT_H_
#define FNPROBE_CLIENT_ENVIRONMENT_H_

#include <map>
#include <optional>
#include <string>

namespace fnprobe::client {

class Environment {
 public:
  // The variables this CLI reads (FNPROBE_*, HOME), stdout's terminal state
  // and /proc/self/exe of the calling process.
  static Environment FromProcess();

  // An environment with exactly `variables`, for tests.
  static Environment ForTest(std::map<std::string, std::string> variables,
                             bool stdout_is_tty = false);

  // The variable's value, or nullopt when unset or empty.
  std::optional<std::string> Get(const std::string& name) const;

  bool stdout_is_tty() const { return stdout_is_tty_; }
  // Absolute path of the running fnprobe binary; empty if unknown.
  const std::string& executable_path() const { return executable_path_; }

 private:
  std::map<std::string, std::string> variables_;
  bool stdout_is_tty_ = false;
  std::string executable_path_;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_ENVIRONMENT_H_
