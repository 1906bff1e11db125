// The GLM design of one planned run: the task condition's regressor (its
// task blocks as BIDS events, optionally HRF-convolved, in token time at the
// spec's tokens_per_second), the spec's drift and the intercept; and the
// contrast "condition > baseline" on it. The baseline is implicit (what the
// intercept absorbs), so task and intercept are never collinear. A boxcar
// (HRF NONE) is exactly 1 on the task blocks' frames and 0 elsewhere (nipy's
// sampling can misplace block edges; see run_design.cc).
//
// Free functions; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_RUN_DESIGN_H_
#define FNPROBE_SERVER_ANALYSIS_RUN_DESIGN_H_

#include <armadillo>
#include <string>

#include "absl/status/statusor.h"
#include "fnprobe/v1/experiment_spec.pb.h"
#include "server/analysis/design_matrix.h"
#include "server/analysis/run_planner.h"

namespace fnprobe::analysis {

struct RunDesign {
  DesignMatrix design;           // T x p, T = plan.time_points
  arma::vec contrast;            // p entries: 1 on the task column
  std::string contrast_name;     // "<condition> > <baseline name>"
  arma::uvec condition_columns;  // the task column(s), for permutation
  arma::uword block_length = 0;  // frames per block (prompts_per_block x
                                 // tokens_per_prompt), for permutation
};

// The design builder's options for a run: frames, tokens per second, HRF,
// drift. INVALID_ARGUMENT for tokens_per_second <= 0 or too many frames.
absl::StatusOr<DesignOptions> RunDesignOptions(const v1::ExperimentSpec& spec,
                                               const RunPlan& plan);

// REQUIRES: spec validated with defaults applied (WithDefaults).
// INVALID_ARGUMENT from the design builder (e.g. too few frames), for a plan
// without a task block of its condition, or for a rank-deficient design
// (e.g. a cosine cut-off so short that the drift absorbs the task).
absl::StatusOr<RunDesign> BuildRunDesign(const v1::ExperimentSpec& spec,
                                         const RunPlan& plan);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_RUN_DESIGN_H_
