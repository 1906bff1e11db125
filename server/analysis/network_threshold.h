// Thresholding one StatMap into a Network: which units pass a two-sided test
// (Benjamini-Hochberg FDR, Bonferroni, or a block-permutation |t| cut-off)
// and their statistics. Every network also carries the BH q-value of each
// member, whatever the method, so networks thresholded differently can be
// ranked on one scale.
//
// Free functions; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_NETWORK_THRESHOLD_H_
#define FNPROBE_SERVER_ANALYSIS_NETWORK_THRESHOLD_H_

#include <string>

#include "server/analysis/experiment_analysis.h"
#include "server/analysis/stat_map.h"

namespace fnprobe::analysis {

enum class ThresholdMethod { kFdr, kBonferroni, kPermutation };

struct ThresholdRule {
  ThresholdMethod method = ThresholdMethod::kFdr;
  double alpha = 0.05;  // kFdr, kBonferroni: the level of the test
  double cutoff = 0.0;  // kPermutation: members have |t| > cutoff
};

// "fdr", "bonferroni", "permutation": Network::threshold_method.
std::string ThresholdMethodName(ThresholdMethod method);

// The network of `map` under `rule`: contrast, threshold_method, alpha, dof,
// the members (ascending) with beta (the effect), t, p and q, and threshold =
// the smallest member |t| (0 when there are none). kind, condition, run ids
// and map_index are left for the caller.
// REQUIRES: map's effect, t and p have equal sizes; t finite, p in [0, 1]
// (what MapFromOls / FixedEffects produce).
Network ThresholdMap(const StatMap& map, const ThresholdRule& rule);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_NETWORK_THRESHOLD_H_
