#include "server/analysis/thresholds.h"

#include <algorithm>

namespace fnprobe::analysis {

arma::uvec BonferroniSelect(const arma::vec& p, double alpha) {
  const double n = static_cast<double>(p.n_elem);
  return arma::find(arma::clamp(p * n, 0.0, 1.0) <= alpha);
}

arma::vec FdrBhQValues(const arma::vec& p) {
  return FdrBhQValues(p, arma::sort_index(p));
}

arma::vec FdrBhQValues(const arma::vec& p, const arma::uvec& order) {
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

arma::uvec FdrBhSelect(const arma::vec& p, double alpha) {
  return FdrBhSelect(p, arma::sort_index(p), alpha);
}

arma::uvec FdrBhSelect(const arma::vec& p, const arma::uvec& order,
                       double alpha) {
  const arma::uword n = p.n_elem;
  arma::uword count = 0;
  for (arma::uword k = 0; k < n; ++k) {
    const double ecdf = static_cast<double>(k + 1) / n;
    if (p[order[k]] <= ecdf * alpha) count = k + 1;
  }
  if (count == 0) return arma::uvec();
  return arma::sort(order.head(count));
}

}  // namespace fnprobe::analysis
