// The CLI's ICA commands (issue 14; Liu et al. 2025): `ica` decomposes a
// finished experiment's stored runs (or shows its components), and
// `recurrence`, `key-neurons` and `compare --methods glm,ica` read what the
// decompositions found. Tables for people, --json for programs.
//
// Thread-compatible: one command at a time.
#ifndef FNPROBE_CLIENT_ICA_COMMANDS_H_
#define FNPROBE_CLIENT_ICA_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/command_output.h"
#include "client/experiment_client.h"

namespace fnprobe::client {

struct IcaCommandOptions {
  int64_t experiment_id = 0;
  // Decomposition options; set ones (or no ICA networks yet) decompose
  // again, none shows the stored components.
  int components = 0;
  std::string fun;  // logcosh|cube|exp
  double z = 0;
  std::vector<std::string> hooks;
  bool joint = false;
  std::string scope;  // group|run (each run on its own) or experiment
  int restarts = 0;
  uint64_t seed = 0;
  bool watch = false;
  int top = 5;       // units listed per component
  std::string hook;  // show only this hook's components
};

struct RecurrenceOptions {
  int64_t experiment_id = 0;
  double min_jaccard = 0.2;
  double min_frequency = 0;
  std::string hook;
  int top = 8;  // unit names printed per network (the JSON has all)
};

class IcaCommands {
 public:
  // `client` must outlive the commands.
  IcaCommands(ExperimentClient& client, const CommandOutput& output);

  absl::Status Ica(const IcaCommandOptions& options);
  absl::Status Recurrence(const RecurrenceOptions& options);
  // --json prints a JSON array of unit names, most frequent first.
  absl::Status KeyNeurons(int64_t experiment_id, double min_frequency);
  // `compare --methods glm,ica`.
  absl::Status CompareMethods(int64_t experiment_id);

 private:
  // Whether `options` asks for a decomposition (any option given).
  static bool AsksToDecompose(const IcaCommandOptions& options);
  absl::Status Decompose(const IcaCommandOptions& options);

  ExperimentClient& client_;
  const CommandOutput output_;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_ICA_COMMANDS_H_
