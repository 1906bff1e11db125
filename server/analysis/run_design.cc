// BuildRunDesign: spec enums to DesignOptions, the run's task blocks to
// events, and a rank check so a collinear design (e.g. a cosine cut-off that
// absorbs the task blocks) is refused when the run is planned, not after its
// tokens have been generated.
//
// Boxcars (HRF NONE) are set to the exact task-frame indicator after the
// builder has run. nipy samples events on a high-resolution grid whose size
// it computes in floating point and truncates, then finds block edges by
// searchsorted: for some run lengths (e.g. 78 frames at 1 token per second,
// 48 at 0.5) the grid comes out one point short, its step drifts and the
// boxcar gets fractional edges (0.53 ... 0.73); at 3 or 7 tokens per second
// an edge frame lands one frame late. Where nipy's grid is exact the
// indicator is exactly what the builder computes, so parity holds there.
// Convolved regressors (SPM, Glover) keep the builder's (nipy's) output: a
// sub-frame shift only nudges a response that spans seconds.
#include "server/analysis/run_design.h"

#include <algorithm>
#include <climits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/analysis/ols_fit.h"

namespace fnprobe::analysis {
namespace {

HrfModel ToHrf(v1::HrfModel::Kind kind) {
  switch (kind) {
    case v1::HrfModel::SPM:
      return HrfModel::kSpm;
    case v1::HrfModel::GLOVER:
      return HrfModel::kGlover;
    default:
      return HrfModel::kNone;
  }
}

DriftModel ToDrift(v1::DriftModel::Kind kind) {
  switch (kind) {
    case v1::DriftModel::POLYNOMIAL:
      return DriftModel::kPolynomial;
    case v1::DriftModel::NONE:
      return DriftModel::kNone;
    default:
      return DriftModel::kCosine;
  }
}

}  // namespace

absl::StatusOr<DesignOptions> RunDesignOptions(const v1::ExperimentSpec& spec,
                                               const RunPlan& plan) {
  const v1::AnalysisSpec& a = spec.analysis();
  if (!(a.tokens_per_second() > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("run design: tokens_per_second must be > 0, got ",
                     a.tokens_per_second(), " (apply WithDefaults)"));
  }
  if (plan.time_points > INT_MAX) {
    return absl::InvalidArgumentError(absl::StrCat(
        "run design: ", plan.time_points, " time points is too many"));
  }
  DesignOptions options;
  options.num_frames = static_cast<int>(plan.time_points);
  options.tr = 1.0 / a.tokens_per_second();
  options.hrf = ToHrf(a.hrf());
  options.drift = ToDrift(a.drift());
  options.cosine_cutoff_s = a.drift_cutoff_s();
  options.polynomial_order = a.drift_order();
  return options;
}

namespace {

// The task blocks only: baseline blocks are what the intercept absorbs, and
// a baseline regressor next to the intercept would make X singular.
std::vector<Event> TaskEvents(const RunPlan& plan) {
  std::vector<Event> events;
  for (const BidsEvent& e : plan.events) {
    if (e.trial_type == plan.condition_name) {
      events.push_back({e.onset, e.duration, e.trial_type, 1.0});
    }
  }
  return events;
}

// 1 on the frames of the run's task blocks, 0 elsewhere.
arma::vec TaskIndicator(const v1::ExperimentSpec& spec, const RunPlan& plan) {
  const arma::uword tokens = spec.generation().tokens_per_prompt();
  arma::vec out(plan.time_points, arma::fill::zeros);
  for (const RunBlock& b : plan.blocks) {
    if (!b.task || b.num_prompts <= 0) continue;
    const arma::uword first = static_cast<arma::uword>(b.first_prompt) * tokens;
    const arma::uword end = std::min<arma::uword>(
        first + static_cast<arma::uword>(b.num_prompts) * tokens, out.n_elem);
    if (first < end) out.subvec(first, end - 1).ones();
  }
  return out;
}

}  // namespace

absl::StatusOr<RunDesign> BuildRunDesign(const v1::ExperimentSpec& spec,
                                         const RunPlan& plan) {
  FNPROBE_ASSIGN_OR_RETURN(DesignOptions options, RunDesignOptions(spec, plan));
  const std::vector<Event> events = TaskEvents(plan);
  if (events.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("run design: run ", plan.index, " has no \"",
                     plan.condition_name, "\" task block"));
  }
  RunDesign out;
  FNPROBE_ASSIGN_OR_RETURN(out.design,
                           DesignMatrixBuilder(options).Build(events));
  // One condition, so the builder puts its regressor in column 0.
  if (options.hrf == HrfModel::kNone) {
    out.design.x.col(0) = TaskIndicator(spec, plan);
  }
  auto factor = FactorDesign(out.design.x);
  if (!factor.ok()) return Annotate(factor.status(), "run design");
  out.contrast.zeros(out.design.x.n_cols);
  out.contrast[0] = 1.0;
  out.contrast_name =
      absl::StrCat(plan.condition_name, " > ", spec.baseline().name());
  out.condition_columns = arma::uvec{0};
  out.block_length =
      static_cast<arma::uword>(spec.design().prompts_per_block()) *
      static_cast<arma::uword>(spec.generation().tokens_per_prompt());
  return out;
}

}  // namespace fnprobe::analysis
