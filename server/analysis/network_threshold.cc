// Bonferroni and the permutation cut-off select through thresholds.h /
// plain comparison. Benjamini-Hochberg is done here from one sort of the
// p-values, for both the q-values and the rejections: FdrBhQValues and
// FdrBhSelect would sort the same V values twice for every network, and an
// experiment thresholds ~45 maps of up to ~200k units. The arithmetic is
// thresholds.cc's (statsmodels' multipletests), so the results are
// identical; network_threshold tests check that.
#include "server/analysis/network_threshold.h"

#include <algorithm>
#include <vector>

#include "server/analysis/thresholds.h"

namespace fnprobe::analysis {
namespace {

// FdrBhQValues, given the ascending order of p.
arma::vec BhQValues(const arma::vec& p, const arma::uvec& order) {
  const arma::uword n = p.n_elem;
  arma::vec q(n);
  double running = arma::datum::inf;
  for (arma::uword k = n; k-- > 0;) {
    const double ecdf = static_cast<double>(k + 1) / n;
    running = std::min(running, p[order[k]] / ecdf);
    q[order[k]] = std::min(running, 1.0);
  }
  return q;
}

// FdrBhSelect, given the ascending order of p.
arma::uvec BhSelect(const arma::vec& p, const arma::uvec& order, double alpha) {
  const arma::uword n = p.n_elem;
  arma::uword count = 0;
  for (arma::uword k = 0; k < n; ++k) {
    const double ecdf = static_cast<double>(k + 1) / n;
    if (p[order[k]] <= ecdf * alpha) count = k + 1;
  }
  if (count == 0) return arma::uvec();
  return arma::sort(order.head(count));
}

arma::uvec Select(const StatMap& map, const ThresholdRule& rule,
                  const arma::uvec& order) {
  switch (rule.method) {
    case ThresholdMethod::kBonferroni:
      return BonferroniSelect(map.p, rule.alpha);
    case ThresholdMethod::kPermutation:
      return arma::find(arma::abs(map.t) > rule.cutoff);
    case ThresholdMethod::kFdr:
    default:
      return BhSelect(map.p, order, rule.alpha);
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
  net.q = Gather(BhQValues(map.p, order), units);
  net.threshold =
      units.is_empty() ? 0.0 : arma::abs(arma::vec(map.t.elem(units))).min();
  return net;
}

}  // namespace fnprobe::analysis
