// Thresholds through thresholds.h. Benjamini-Hochberg's q-values and
// rejections come from one sort of the p-values (the order overloads): an
// experiment thresholds ~45 maps of up to ~200k units.
#include "server/analysis/network_threshold.h"

#include <algorithm>
#include <vector>

#include "server/analysis/thresholds.h"

namespace fnprobe::analysis {
namespace {

arma::uvec Select(const StatMap& map, const ThresholdRule& rule,
                  const arma::uvec& order) {
  switch (rule.method) {
    case ThresholdMethod::kBonferroni:
      return BonferroniSelect(map.p, rule.alpha);
    case ThresholdMethod::kPermutation:
      return arma::find(arma::abs(map.t) > rule.cutoff);
    case ThresholdMethod::kFdr:
    default:
      return FdrBhSelect(map.p, order, rule.alpha);
  }
}

std::vector<double> Gather(const arma::vec& values, const arma::uvec& units) {
  const arma::vec picked = values.elem(units);
  return std::vector<double>(picked.begin(), picked.end());
}

}  // namespace

std::string ThresholdMethodName(ThresholdMethod method) {
  switch (method) {
    case ThresholdMethod::kBonferroni:
      return "bonferroni";
    case ThresholdMethod::kPermutation:
      return "permutation";
    case ThresholdMethod::kFdr:
    default:
      return "fdr";
  }
}

Network ThresholdMap(const StatMap& map, const ThresholdRule& rule) {
  Network net;
  net.contrast = map.contrast;
  net.threshold_method = ThresholdMethodName(rule.method);
  net.alpha = rule.alpha;
  net.dof = map.dof;
  const arma::uvec order = arma::sort_index(map.p);
  const arma::uvec units = Select(map, rule, order);  // ascending
  net.units.assign(units.begin(), units.end());
  net.beta = Gather(map.effect, units);
  net.t = Gather(map.t, units);
  net.p = Gather(map.p, units);
  net.q = Gather(FdrBhQValues(map.p, order), units);
  net.threshold =
      units.is_empty() ? 0.0 : arma::abs(arma::vec(map.t.elem(units))).min();
  return net;
}

}  // namespace fnprobe::analysis
