#include "server/analysis/masking_statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <tuple>

namespace fnprobe {

double ScoreTotals::Metric(const std::string& metric) const {
  if (tokens == 0) return std::numeric_limits<double>::quiet_NaN();
  if (metric == "nll") return nll_sum / static_cast<double>(tokens);
  return static_cast<double>(top1) / static_cast<double>(tokens);
}

double MaskingEffect(const std::string& metric, double unmasked,
                     double masked) {
  return metric == "nll" ? masked - unmasked : unmasked - masked;
}

MaskingResult SummarizeMasking(const std::string& metric,
                               const ScoreTotals& unmasked,
                               const ScoreTotals& masked,
                               const std::vector<ScoreTotals>& controls) {
  MaskingResult r;
  r.metric = metric;
  r.unmasked = unmasked.Metric(metric);
  r.masked = masked.Metric(metric);
  r.change = r.masked - r.unmasked;
  const double effect = MaskingEffect(metric, r.unmasked, r.masked);
  const size_t n = controls.size();
  int below = 0, ties = 0, at_least = 0;
  double sum = 0;
  r.control_min = std::numeric_limits<double>::infinity();
  r.control_max = -std::numeric_limits<double>::infinity();
  for (const ScoreTotals& c : controls) {
    const double value = c.Metric(metric);
    r.controls.push_back(value);
    sum += value;
    r.control_min = std::min(r.control_min, value);
    r.control_max = std::max(r.control_max, value);
    const double e = MaskingEffect(metric, r.unmasked, value);
    const bool tie = std::abs(e - effect) <= kMaskingTieTolerance;
    below += !tie && e < effect;
    ties += tie;
    at_least += tie || e > effect;
  }
  if (n == 0) {
    r.control_min = r.control_max = std::numeric_limits<double>::quiet_NaN();
    r.control_mean = r.control_sd = r.control_min;
    r.percentile = r.control_min;
    r.p = 1;
    return r;
  }
  r.control_mean = sum / static_cast<double>(n);
  double ss = 0;
  for (double v : r.controls) ss += (v - r.control_mean) * (v - r.control_mean);
  r.control_sd = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0;
  r.percentile = (below + 0.5 * ties) / static_cast<double>(n);
  r.p = (1.0 + at_least) / (1.0 + static_cast<double>(n));
  return r;
}

std::vector<MaskingResult> ComputeMaskingResults(
    const v1::ExperimentSpec& spec, const MaskingPlan& plan,
    const std::vector<MaskingScore>& scores) {
  // Totals by (operation, network, evaluation, member); the unmasked runs
  // under operation UNSPECIFIED, network -1. Texts scored per key, so that a
  // combination missing a run is left out rather than summarised on part of
  // its texts.
  using Key = std::tuple<int, int, int, int>;
  std::map<Key, ScoreTotals> totals;
  std::map<Key, int> texts;
  for (const MaskingScore& s : scores) {
    if (s.run < 0 || s.run >= static_cast<int>(plan.runs.size())) continue;
    const MaskingRun& run = plan.runs[s.run];
    const Key key{run.operation, run.network, run.evaluation, s.member};
    ScoreTotals& t = totals[key];
    t.tokens += s.tokens;
    t.nll_sum += s.nll_sum;
    t.top1 += s.top1;
    ++texts[key];
  }
  const v1::MaskingSpec& m = spec.masking();
  auto complete = [&](const Key& key, int e) {
    auto it = texts.find(key);
    return it != texts.end() && it->second == m.evaluation(e).texts_size();
  };
  std::vector<MaskingResult> out;
  for (int op : m.operations()) {
    for (size_t net = 0; net < plan.networks.size(); ++net) {
      const MaskedNetwork& network = plan.networks[net];
      for (int e = 0; e < m.evaluation_size(); ++e) {
        const Key unmasked{v1::MaskingOperation::UNSPECIFIED, -1, e, 0};
        const Key masked{op, static_cast<int>(net), e, 0};
        if (!complete(unmasked, e) || !complete(masked, e)) continue;
        std::vector<ScoreTotals> controls;
        bool all = true;
        for (size_t k = 1; k <= network.controls.size(); ++k) {
          const Key c{op, static_cast<int>(net), e, static_cast<int>(k)};
          all &= complete(c, e);
          controls.push_back(totals[c]);
        }
        if (!all) continue;
        for (const char* metric : {"nll", "top1"}) {
          MaskingResult r = SummarizeMasking(metric, totals[unmasked],
                                             totals[masked], controls);
          r.network = network.name;
          r.operation =
              OperationName(static_cast<v1::MaskingOperation::Kind>(op));
          r.evaluation = m.evaluation(e).name();
          out.push_back(std::move(r));
        }
      }
    }
  }
  return out;
}

}  // namespace fnprobe
