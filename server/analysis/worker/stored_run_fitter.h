// Fits a finished run again from its activation file, without the inference
// server: the OLS map (streamed chunk by chunk into a GlmAccumulator), the
// AR(1) map (which needs the whole T x V data), and the block-permutation
// max-|t| threshold. Used by the analysis phase when the spec asks for AR(1)
// or a permutation threshold, and by ReanalyzeExperiment.
//
// Thread-safe: free functions.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_STORED_RUN_FITTER_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_STORED_RUN_FITTER_H_

#include <string>

#include "absl/status/statusor.h"
#include "fnprobe/v1/experiment_spec.pb.h"
#include "server/analysis/run_planner.h"
#include "server/analysis/stat_map.h"

namespace fnprobe::worker {

struct StoredRunFit {
  analysis::StatMap map;
  double permutation_threshold = 0.0;  // TOKEN inference, when asked for
  arma::mat prompt_values;             // PROMPT inference: P x V level one
};

// Refits the run whose frames are in `activation_path` with the spec's
// analysis: under PROMPT inference its level-one prompt values and the run's
// level-two map; under TOKEN the noise model's map and the block-permutation
// threshold when the spec's threshold is PERMUTATION. DATA_LOSS when the file
// is damaged or does not hold every time point of the plan exactly once.
// A stored run's activations as Y (T x V, float32) in time-point order.
// DATA_LOSS unless the file holds every one of `time_points` exactly once.
absl::StatusOr<arma::fmat> ReadStoredRun(const std::string& activation_path,
                                         int64_t time_points);

absl::StatusOr<StoredRunFit> FitStoredRun(const v1::ExperimentSpec& spec,
                                          const RunPlan& plan,
                                          const std::string& activation_path);

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_STORED_RUN_FITTER_H_
