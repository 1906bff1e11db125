// The commands about experiments as a whole: submit, watch, list, show,
// cancel, reanalyze, and models (what the worker's inference servers serve).
// Each prints a human-readable form, or with --json the response proto in
// the proto JSON mapping, and returns the first error.
//
// Not thread-safe.
#ifndef FNPROBE_CLIENT_EXPERIMENT_COMMANDS_H_
#define FNPROBE_CLIENT_EXPERIMENT_COMMANDS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "client/command_output.h"
#include "client/experiment_client.h"
#include "fnprobe/v1/experiments.pb.h"

namespace fnprobe::client {

struct ListOptions {
  int limit = 50;  // experiments to show, newest first; 0: all
};

// Fields left at their defaults keep the experiment's current analysis.
struct ReanalyzeOptions {
  int64_t experiment_id = 0;
  std::string noise;      // "OLS" or "AR1" (any case)
  std::string threshold;  // "fdr", "bonferroni" or "permutation"
  std::string inference;  // "prompt" or "token" (any case)
  std::string level_two;  // "run_ols" or "welch" (any case)
  double alpha = 0;       // 0: keep
  int permutations = 0;   // 0: keep
  bool watch = false;     // follow it until the analysis is done
};

class ExperimentCommands {
 public:
  // `client` must outlive the commands.
  ExperimentCommands(ExperimentClient& client, const CommandOutput& output);

  // Submits `spec` (read from `source`); with `watch`, follows it to the end.
  absl::Status Submit(const v1::ExperimentSpec& spec, const std::string& source,
                      bool watch);
  absl::Status Watch(int64_t id);
  absl::Status List(const ListOptions& options);
  absl::Status Show(int64_t id);
  absl::Status Cancel(int64_t id);
  // Deletes an experiment (or only its raw activations) and says what it
  // freed.
  absl::Status Delete(int64_t id, bool activations_only);
  // The caller's stored bytes, experiments and quota; --json prints
  // {"bytes": N, "experiments": M, "quotaBytes": Q}.
  absl::Status Usage();
  // INVALID_ARGUMENT for an unknown noise model or threshold method.
  absl::Status Reanalyze(const ReanalyzeOptions& options);
  absl::Status Models();

  // The analysis `options` asks for, starting from `current`.
  static absl::StatusOr<v1::AnalysisSpec> ApplyReanalyzeOptions(
      v1::AnalysisSpec current, const ReanalyzeOptions& options);

 private:
  void PrintExperiment(const v1::Experiment& e) const;
  void PrintRuns(const v1::Experiment& e) const;
  absl::StatusOr<v1::ListExperimentsResponse> FetchList(int limit);

  ExperimentClient& client_;
  const CommandOutput output_;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_EXPERIMENT_COMMANDS_H_
