#include "client/environment.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <utility>

namespace fnprobe::client {
namespace {

constexpr const char* kVariables[] = {
    "HOME",           "FNPROBE_SERVER",  "FNPROBE_TOKEN",
    "FNPROBE_CONFIG", "FNPROBE_CA_CERT",
};

}  // namespace

Environment Environment::FromProcess() {
  Environment env;
  for (const char* name : kVariables) {
    if (const char* value = std::getenv(name)) env.variables_[name] = value;
  }
  env.stdout_is_tty_ = isatty(STDOUT_FILENO) == 1;
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) env.executable_path_ = exe.string();
  return env;
}

Environment Environment::ForTest(std::map<std::string, std::string> variables,
                                 bool stdout_is_tty) {
  Environment env;
  env.variables_ = std::move(variables);
  env.stdout_is_tty_ = stdout_is_tty;
  return env;
}

std::optional<std::string> Environment::Get(const std::string& name) const {
  auto it = variables_.find(name);
  if (it == variables_.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

}  // namespace fnprobe::client
