// Scores are plain loops over the units: no temporaries of V entries, since
// a classification scores every run against every condition.
#include "server/analysis/held_out_classifier.h"

#include <cmath>
#include <cstddef>

namespace fnprobe::analysis {
namespace {

double Sign(double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }

// Index of the first maximum of `score` over `scores` (ties: earliest).
template <typename Score>
size_t ArgMax(const std::vector<HeldOutScore>& scores, Score score) {
  size_t best = 0;
  for (size_t i = 1; i < scores.size(); ++i) {
    if (score(scores[i]) > score(scores[best])) best = i;
  }
  return best;
}

}  // namespace

double PearsonCorrelation(const arma::vec& a, const arma::vec& b) {
  const arma::uword n = a.n_elem;
  if (n < 2 || b.n_elem != n) return 0.0;
  // Exactly constant inputs are caught here; the centred sums of a constant
  // need not be exactly 0 after rounding.
  if (a.min() == a.max() || b.min() == b.max()) return 0.0;
  const double mean_a = arma::mean(a), mean_b = arma::mean(b);
  double sab = 0.0, saa = 0.0, sbb = 0.0;
  for (arma::uword i = 0; i < n; ++i) {
    const double da = a[i] - mean_a, db = b[i] - mean_b;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (!(saa > 0) || !(sbb > 0)) return 0.0;
  return sab / std::sqrt(saa * sbb);
}

double MeanSignedT(const arma::vec& run_t, const Network& network) {
  if (network.units.empty()) return 0.0;
  double sum = 0.0;
  for (size_t i = 0; i < network.units.size(); ++i) {
    sum += run_t[network.units[i]] * Sign(network.t[i]);
  }
  return sum / static_cast<double>(network.units.size());
}

HeldOutResult ClassifyRun(const RunInput& run,
                          const std::vector<HeldOutCandidate>& candidates,
                          const std::vector<Network>& networks,
                          const std::vector<StatMap>& condition_maps) {
  HeldOutResult out;
  out.run_id = run.run_id;
  out.true_condition = run.condition;
  for (const HeldOutCandidate& c : candidates) {
    const Network& net = networks[c.network];
    HeldOutScore score;
    score.condition = c.condition;
    score.network = c.network;
    score.mean_t = MeanSignedT(run.map.t, net);
    score.correlation =
        PearsonCorrelation(run.map.t, condition_maps[net.map_index].t);
    out.scores.push_back(score);
  }
  if (out.scores.empty()) return out;
  out.predicted =
      out.scores[ArgMax(out.scores,
                        [](const HeldOutScore& s) { return s.mean_t; })]
          .condition;
  out.predicted_by_correlation =
      out.scores[ArgMax(out.scores,
                        [](const HeldOutScore& s) { return s.correlation; })]
          .condition;
  return out;
}

}  // namespace fnprobe::analysis
