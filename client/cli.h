// The `fnprobe` command line: parses argv with CLI11, resolves where the
// worker is (connection_settings.h), runs one subcommand, and turns its
// status into one sentence with a hint on stderr and an exit code
// (error_report.h). fnprobe_main.cc only calls Run; tests call it too, with
// their own streams and environment.
//
// Not thread-safe: one Run at a time per Cli.
#ifndef FNPROBE_CLIENT_CLI_H_
#define FNPROBE_CLIENT_CLI_H_

#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "client/connection_settings.h"
#include "client/environment.h"
#include "client/experiment_client.h"

namespace CLI {
class App;
}  // namespace CLI

namespace fnprobe::client {

class Cli {
 public:
  // Results go to `out`, errors and notes to `err`; both must outlive Run.
  Cli(Environment env, std::ostream& out, std::ostream& err);
  ~Cli();

  // Runs `argv` (argv[0] is the program name); returns the exit code.
  int Run(int argc, const char* const* argv);

 private:
  struct Flags;
  using Action = std::function<absl::Status()>;
  using ClientAction = std::function<absl::Status(ExperimentClient&)>;

  void AddGlobalOptions(CLI::App& app);
  void AddExperimentCommands(CLI::App& app);
  void AddResultCommands(CLI::App& app);
  void AddIcaCommands(CLI::App& app);
  void AddOutputCommands(CLI::App& app);
  // A subcommand whose action is `action`.
  CLI::App* AddCommand(CLI::App& app, const std::string& name,
                       const std::string& description, Action action);
  // A subcommand that needs a connection, with ID (when `takes_id`) and
  // --json (when `json`).
  CLI::App* AddClientCommand(CLI::App& app, const std::string& name,
                             const std::string& description, bool takes_id,
                             bool json, ClientAction action);

  // Resolves the settings, connects, and runs `action` on the client.
  absl::Status WithClient(const ClientAction& action);
  absl::Status Submit();
  // `report --html` and `export --plots` (client/report/).
  absl::Status WriteHtml(ExperimentClient& client);
  absl::Status WritePlots(ExperimentClient& client);
  int Finish(const absl::Status& status);

  const Environment env_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<Flags> flags_;
  ConnectionSettings settings_;
  std::map<const CLI::App*, Action> actions_;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_CLI_H_
