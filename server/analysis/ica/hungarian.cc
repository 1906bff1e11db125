#include "server/analysis/ica/hungarian.h"

#include <limits>

namespace fnprobe::ica {
namespace {

// Minimum-cost assignment of every row to a distinct column, rows <= cols
// (e-maxx's potentials formulation, 1-based internally).
std::vector<int> MinCostRowsToColumns(const arma::mat& cost) {
  const int n = static_cast<int>(cost.n_rows);
  const int m = static_cast<int>(cost.n_cols);
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0), v(m + 1, 0);
  std::vector<int> p(m + 1, 0), way(m + 1, 0);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::vector<double> minv(m + 1, inf);
    std::vector<bool> used(m + 1, false);
    do {
      used[j0] = true;
      const int i0 = p[j0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= m; ++j) {
        if (used[j]) continue;
        const double cur = cost(i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int j = 0; j <= m; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> row_to_col(n, -1);
  for (int j = 1; j <= m; ++j) {
    if (p[j] != 0) row_to_col[p[j] - 1] = j - 1;
  }
  return row_to_col;
}

}  // namespace

std::vector<int> MaxWeightMatching(const arma::mat& weights) {
  if (weights.n_rows <= weights.n_cols) return MinCostRowsToColumns(-weights);
  const std::vector<int> col_to_row = MinCostRowsToColumns(-weights.t());
  std::vector<int> out(weights.n_rows, -1);
  for (size_t c = 0; c < col_to_row.size(); ++c) {
    if (col_to_row[c] >= 0) out[col_to_row[c]] = static_cast<int>(c);
  }
  return out;
}

}  // namespace fnprobe::ica
