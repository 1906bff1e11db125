#include "server/analysis/ica/component_network.h"

#include <cmath>

namespace fnprobe::ica {

std::vector<int64_t> ComponentNetworkUnits(absl::Span<const double> z_map,
                                           double z_threshold,
                                           int64_t unit_offset) {
  std::vector<int64_t> units;
  for (size_t v = 0; v < z_map.size(); ++v) {
    // `>` is false for NaN, so a NaN unit never joins.
    if (std::abs(z_map[v]) > z_threshold) {
      units.push_back(unit_offset + static_cast<int64_t>(v));
    }
  }
  return units;
}

std::vector<std::vector<int64_t>> ComponentNetworks(const arma::mat& maps,
                                                    double z_threshold,
                                                    int64_t unit_offset) {
  std::vector<std::vector<int64_t>> out;
  out.reserve(maps.n_cols);
  for (arma::uword k = 0; k < maps.n_cols; ++k) {
    out.push_back(
        ComponentNetworkUnits(absl::MakeConstSpan(maps.colptr(k), maps.n_rows),
                              z_threshold, unit_offset));
  }
  return out;
}

void ZScoreMaps(arma::mat* maps) {
  for (arma::uword k = 0; k < maps->n_cols; ++k) {
    auto col = maps->col(k);
    const double mean = arma::mean(col);
    col -= mean;
    const double sd = std::sqrt(arma::dot(col, col) / col.n_elem);
    if (sd > 0 && std::isfinite(sd)) {
      col /= sd;
    } else {
      col.zeros();
    }
  }
}

void OrientMapsByPeak(arma::mat* maps, arma::mat* mixing) {
  for (arma::uword k = 0; k < maps->n_cols; ++k) {
    if (maps->n_rows == 0) return;
    const arma::uword peak = arma::index_max(arma::abs(maps->col(k)));
    if ((*maps)(peak, k) >= 0) continue;
    maps->col(k) *= -1;
    if (mixing != nullptr) mixing->col(k) *= -1;
  }
}

}  // namespace fnprobe::ica
