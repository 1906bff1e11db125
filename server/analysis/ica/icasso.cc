#include "server/analysis/ica/icasso.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace fnprobe::ica {

std::vector<int> AverageLinkage(const arma::mat& similarity, int num_clusters) {
  const int n = static_cast<int>(similarity.n_rows);
  // Between-cluster similarity sums; average = sum / (size_a * size_b).
  arma::mat sums = similarity;
  std::vector<int> size(n, 1);
  std::vector<int> parent(n);  // the cluster (its first item) of each item
  std::vector<bool> active(n, true);
  for (int i = 0; i < n; ++i) parent[i] = i;
  int clusters = n;
  while (clusters > std::max(num_clusters, 1)) {
    int best_a = -1, best_b = -1;
    double best = -std::numeric_limits<double>::infinity();
    for (int a = 0; a < n; ++a) {
      if (!active[a]) continue;
      for (int b = a + 1; b < n; ++b) {
        if (!active[b]) continue;
        const double avg =
            sums(a, b) / (static_cast<double>(size[a]) * size[b]);
        if (avg > best) {
          best = avg;
          best_a = a;
          best_b = b;
        }
      }
    }
    // Merge b into a.
    for (int c = 0; c < n; ++c) {
      if (!active[c] || c == best_a || c == best_b) continue;
      sums(best_a, c) += sums(best_b, c);
      sums(c, best_a) = sums(best_a, c);
    }
    size[best_a] += size[best_b];
    active[best_b] = false;
    for (int i = 0; i < n; ++i) {
      if (parent[i] == best_b) parent[i] = best_a;
    }
    --clusters;
  }
  // Renumber 0.. in order of each cluster's smallest item.
  std::map<int, int> number;
  std::vector<int> out(n);
  for (int i = 0; i < n; ++i) {
    auto [it, inserted] =
        number.emplace(parent[i], static_cast<int>(number.size()));
    out[i] = it->second;
  }
  return out;
}

IcassoResult ClusterRestarts(const std::vector<arma::mat>& unmixings) {
  const int r = static_cast<int>(unmixings.size());
  const int k = static_cast<int>(unmixings.front().n_rows);
  const int n = r * k;
  arma::mat all(n, k);
  for (int i = 0; i < r; ++i) all.rows(i * k, i * k + k - 1) = unmixings[i];
  // Rows of each W are unit vectors, so this is |corr| of the sources.
  arma::mat sim = arma::abs(all * all.t());
  sim.diag().ones();

  IcassoResult out;
  out.cluster = AverageLinkage(sim, k);
  const int num_clusters =
      1 + *std::max_element(out.cluster.begin(), out.cluster.end());
  out.stability.zeros(num_clusters);
  out.centrotype.assign(num_clusters, -1);
  for (int c = 0; c < num_clusters; ++c) {
    std::vector<arma::uword> in, outside;
    for (int i = 0; i < n; ++i) {
      (out.cluster[i] == c ? in : outside).push_back(i);
    }
    const arma::uvec in_idx(in), out_idx(outside);
    const arma::mat block = sim.submat(in_idx, in_idx);
    const double m = static_cast<double>(in.size());
    const double intra =
        in.size() > 1 ? (arma::accu(block) - m) / (m * (m - 1)) : 0.0;
    const double extra =
        outside.empty()
            ? 0.0
            : arma::mean(arma::vectorise(sim.submat(in_idx, out_idx)));
    out.stability(c) = intra - extra;
    // Centrotype: the member most similar to the rest of its cluster.
    const arma::vec row_sums = arma::sum(block, 1);
    out.centrotype[c] = static_cast<int>(in[row_sums.index_max()]);
  }

  out.run_score.zeros(r);
  for (int run = 0; run < r; ++run) {
    arma::vec best(num_clusters, arma::fill::zeros);
    for (int j = 0; j < k; ++j) {
      const int item = run * k + j;
      const int c = out.cluster[item];
      best(c) = std::max(best(c), sim(item, out.centrotype[c]));
    }
    out.run_score(run) = arma::accu(best);
  }
  out.best_run = static_cast<int>(out.run_score.index_max());
  out.best_run_stability.set_size(k);
  for (int j = 0; j < k; ++j) {
    out.best_run_stability(j) =
        out.stability(out.cluster[out.best_run * k + j]);
  }
  return out;
}

}  // namespace fnprobe::ica
