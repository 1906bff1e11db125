// Level one of prompt-level inference (level_two.h says why the prompt is
// the unit): one value per prompt and unit, accumulated as frames arrive.
//   HRF NONE   the prompt's mean over its generated tokens (per-prompt sums
//              are the sufficient statistics);
//   SPM/GLOVER the prompt's beta in a first-level GLM with one
//              HRF-convolved regressor per prompt plus the spec's drift
//              (without the constant, which the prompts' regressors span),
//              streamed through a GlmAccumulator.
//
// Also what level two needs of a run (RunPrompts: values, task labels and
// texts from the plan) and the pooling of a condition's runs into one sample
// (PoolRuns).
//
// Invariant: each time point is added at most once; Values() needs all T.
// Thread-safety: not thread-safe (one run's stream feeds one accumulator).
#ifndef FNPROBE_SERVER_ANALYSIS_PROMPT_ACCUMULATOR_H_
#define FNPROBE_SERVER_ANALYSIS_PROMPT_ACCUMULATOR_H_

#include <armadillo>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnprobe/v1/experiment_spec.pb.h"
#include "server/analysis/glm_accumulator.h"
#include "server/analysis/level_two.h"
#include "server/analysis/run_planner.h"

namespace fnprobe::analysis {

class PromptAccumulator {
 public:
  // REQUIRES: spec validated with defaults; plan from PlanRuns(spec).
  // INVALID_ARGUMENT for num_units <= 0, or an HRF design that is singular
  // or leaves no residual degrees of freedom (one token per prompt).
  static absl::StatusOr<PromptAccumulator> Create(
      const v1::ExperimentSpec& spec, const RunPlan& plan, int64_t num_units);

  PromptAccumulator(PromptAccumulator&&) = default;
  PromptAccumulator& operator=(PromptAccumulator&&) = default;

  // Adds time point t's values (num_units of them). OUT_OF_RANGE for t
  // outside [0, T); INVALID_ARGUMENT if n != num_units; ALREADY_EXISTS for a
  // time point added before. On error nothing changes.
  absl::Status Add(int64_t t, const float* y, int64_t n);
  // `count` rows at once, all or nothing (GlmAccumulator::AddRows).
  absl::Status AddRows(const int64_t* t, const float* rows, int64_t count,
                       int64_t n);

  // P x V level-one values. FAILED_PRECONDITION until all T time points
  // have been added.
  absl::StatusOr<arma::mat> Values() const;

  int64_t num_prompts() const { return num_prompts_; }

 private:
  PromptAccumulator() = default;
  absl::Status Check(int64_t t, int64_t n) const;

  int64_t num_prompts_ = 0;
  int64_t tokens_per_prompt_ = 0;
  int64_t num_units_ = 0;
  // HRF NONE: per-prompt sums, V x P column-major (a prompt's sums are
  // contiguous, so a frame is one vector add).
  arma::mat sums_;
  std::vector<bool> seen_;
  int64_t rows_added_ = 0;
  // SPM / GLOVER: the first-level GLM; its first P columns are the prompts.
  std::unique_ptr<GlmAccumulator> glm_;
};

// A run's prompts as level two sees them.
struct RunPrompts {
  arma::mat values;               // P x V, presentation order
  std::vector<uint8_t> task;      // P: 1 in task blocks
  std::vector<std::string> text;  // P: the prompts
};

// Labels and texts from the plan, with `values` (P x V, P = plan's
// prompts; INVALID_ARGUMENT otherwise).
absl::StatusOr<RunPrompts> MakeRunPrompts(const RunPlan& plan,
                                          arma::mat values);

// One level-two sample from several runs (run ids in the given order). A
// prompt text that occurs more than once with the same label (a baseline
// prompt drawn into several runs) is one observation, its values averaged
// and kept in the run of its first occurrence: repeats of one prompt are
// not independent evidence. INVALID_ARGUMENT for runs of different widths.
absl::StatusOr<PromptSample> PoolRuns(
    const std::vector<const RunPrompts*>& runs);

// The spec's level-two model.
LevelTwoModel LevelTwoModelOf(const v1::AnalysisSpec& analysis);

// "task > baseline" over one run's prompts: the run's map under prompt-level
// inference (LevelTwoMap over the run alone).
absl::StatusOr<StatMap> PromptRunMap(const v1::ExperimentSpec& spec,
                                     const RunPlan& plan,
                                     const RunPrompts& prompts);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_PROMPT_ACCUMULATOR_H_
