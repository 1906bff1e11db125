// The commands that read an experiment's results: networks, compare,
// repeatability, classify, events and unit. Each prints tables, or with
// --json the worker's responses in the proto JSON mapping, and returns the
// first error.
//
// Not thread-safe.
#ifndef FNPROBE_CLIENT_RESULT_COMMANDS_H_
#define FNPROBE_CLIENT_RESULT_COMMANDS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "client/command_output.h"
#include "client/experiment_client.h"

namespace fnprobe::client {

struct NetworksOptions {
  int64_t experiment_id = 0;
  std::string condition;           // empty: every condition
  std::string kind = "condition";  // condition, run or leave-one-out
  std::string hook;                // hook name or glob for the unit lists
  int top = 10;                    // units listed per network; 0: none
};

struct CompareOptions {
  int64_t experiment_id = 0;
  std::string kind = "condition";
  std::string metric = "dice";  // dice or jaccard
};

class ResultCommands {
 public:
  // `client` must outlive the commands.
  ResultCommands(ExperimentClient& client, const CommandOutput& output);

  absl::Status Networks(const NetworksOptions& options);
  absl::Status Compare(const CompareOptions& options);
  absl::Status Repeatability(int64_t id);
  absl::Status Classify(int64_t id);
  absl::Status Events(int64_t id, int32_t run_index);
  // `unit` is a name ("blocks.7.mlp_post[1203]") or a unit index.
  absl::Status Unit(int64_t id, const std::string& unit);

 private:
  void PrintNetworkSummaries(const v1::ListNetworksResponse& list) const;
  void PrintTopUnits(const v1::GetNetworkResponse& network,
                     const NetworksOptions& options) const;

  ExperimentClient& client_;
  const CommandOutput output_;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_RESULT_COMMANDS_H_
