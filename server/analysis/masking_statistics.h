// The statistics of a masking experiment (Liu et al. 2025), recomputed from
// the per-text scores it stores: per network x operation x evaluation set x
// metric, the metric unmasked and masked, its change, the random controls'
// distribution, the network's empirical percentile among the controls and a
// permutation p-value.
//
// Metrics (teacher-forced, over every scored position of the set's texts):
//   nll   mean negative log-likelihood of the next token (nats per token);
//   top1  share of positions whose next token is the top-1 prediction.
// The effect of a masking is the harm it does: masked - unmasked for nll,
// unmasked - masked for top1. The network's percentile is its mid-rank
// among the controls: the share of controls whose effect is below the
// network's, ties counting half (1.0: beyond every control; 0.5 when every
// control ties with it); p = (1 + #controls with effect >= the network's) /
// (1 + N), the Monte Carlo permutation p-value of "the network harms more
// than random units of the same number" (never below 1 / (1 + N)). Effects
// within kMaskingTieTolerance of each other tie: the scores are sums of
// float32 log-probabilities, so two maskings that change nothing differ by
// rounding alone.
//
// The double dissociation (Liu et al.: "the network of task A hurts task A
// more than task B"): evaluation sets name the condition they test (sets of
// one condition pooled); for a network of condition A, an operation, a
// metric and each other condition B, the contrast effect(A) - effect(B) of
// the network against the same contrast of each control. A control's units
// are the same on every evaluation set, so the comparison is paired: what
// makes every text harder (or easier) cancels. Percentile and p are ranked
// exactly as the effects are (RankAmongControls).
//
// Thread-safe: pure functions.
#ifndef FNPROBE_SERVER_ANALYSIS_MASKING_STATISTICS_H_
#define FNPROBE_SERVER_ANALYSIS_MASKING_STATISTICS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "server/analysis/masking_spec.h"

namespace fnprobe {

inline constexpr double kMaskingTieTolerance = 1e-6;

// What one member of one run scored on one text (a row of masking_scores).
struct MaskingScore {
  int run = 0;         // index into MaskingPlan::runs
  int member = 0;      // 0: the network (or unmasked); k >= 1: control k
  int text = 0;        // index within the evaluation set
  int64_t tokens = 0;  // scored positions
  double nll_sum = 0;
  int64_t top1 = 0;
};

// Sums over texts.
struct ScoreTotals {
  int64_t tokens = 0;
  double nll_sum = 0;
  int64_t top1 = 0;

  // NaN when no position was scored.
  double Metric(const std::string& metric) const;
};

struct MaskingResult {
  std::string network;
  std::string operation;  // "ZERO", ...
  std::string evaluation;
  std::string condition;  // the evaluation set's (EvaluationCondition)
  std::string metric;     // "nll" or "top1"
  double unmasked = 0;
  double masked = 0;
  double change = 0;             // masked - unmasked
  std::vector<double> controls;  // each control's masked value
  double control_mean = 0;
  double control_sd = 0;  // sample sd (N - 1)
  double control_min = 0;
  double control_max = 0;
  double percentile = 0;
  double p = 1;
};

// A value's mid-rank percentile among controls' values and its Monte Carlo
// p-value of "at least as large by chance" (see above; ties within
// kMaskingTieTolerance). NaN percentile and p 1 without controls.
struct ControlRank {
  double percentile = 0;
  double p = 1;
};
ControlRank RankAmongControls(double value,
                              const std::vector<double>& controls);

struct MaskingDissociation {
  std::string network;
  std::string operation;
  std::string metric;
  std::string condition;  // A, the network's
  std::string other;      // B
  double change = 0;      // masked - unmasked on A's texts
  double other_change = 0;
  double control_change = 0;  // controls' mean change on A's texts
  double other_control_change = 0;
  double contrast = 0;  // effect(A) - effect(B)
  std::vector<double> control_contrasts;
  double percentile = 0;
  double p = 1;
};

// The harm of a masking (see above).
double MaskingEffect(const std::string& metric, double unmasked, double masked);

// One result from totals.
MaskingResult SummarizeMasking(const std::string& metric,
                               const ScoreTotals& unmasked,
                               const ScoreTotals& masked,
                               const std::vector<ScoreTotals>& controls);

// Every result of an experiment, in plan order (operation, network, then
// evaluation set), nll before top1. Combinations whose runs are not all
// scored yet are left out.
std::vector<MaskingResult> ComputeMaskingResults(
    const v1::ExperimentSpec& spec, const MaskingPlan& plan,
    const std::vector<MaskingScore>& scores);

// Every dissociation of an experiment: per operation, network whose
// condition (NetworkCondition) has evaluation sets, metric, and every other
// condition in evaluation order. Left out while any run they need is not
// scored.
std::vector<MaskingDissociation> ComputeMaskingDissociations(
    const v1::ExperimentSpec& spec, const MaskingPlan& plan,
    const std::vector<MaskingScore>& scores);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_MASKING_STATISTICS_H_
