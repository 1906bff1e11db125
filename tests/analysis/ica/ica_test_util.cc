#include "tests/analysis/ica/ica_test_util.h"

#include <cstdlib>
#include <iostream>
#include <random>

#include "server/analysis/ica/hungarian.h"
#include "server/analysis/ica/pca_reduction.h"

namespace fnprobe::ica::testing {

std::string FixturePath(const std::string& name) {
  return std::string(FNPROBE_TEST_DATA_DIR) + "/ica/" + name;
}

PlantedFixture LoadPlantedFixture() {
  PlantedFixture f;
  for (auto [m, name] :
       {std::pair<arma::fmat*, const char*>{&f.x, "X.arma_f32"},
        {&f.sources, "sources.arma_f32"},
        {&f.timecourses, "timecourses.arma_f32"}}) {
    if (!m->load(FixturePath(name), arma::arma_binary)) {
      std::cerr << "cannot load the ICA fixture " << FixturePath(name) << "\n";
      std::abort();
    }
  }
  return f;
}

arma::fmat ToFrames(const arma::fmat& x) { return x.t(); }

arma::vec MatchedAbsCorrelation(const arma::mat& maps,
                                const arma::mat& planted) {
  // |corr| between every planted source (row) and component (column).
  arma::mat corr = arma::abs(arma::cor(planted.t(), maps));
  const std::vector<int> match = MaxWeightMatching(corr);
  arma::vec out(planted.n_rows, arma::fill::zeros);
  for (arma::uword i = 0; i < planted.n_rows; ++i) {
    if (match[i] >= 0) out(i) = corr(i, match[i]);
  }
  return out;
}

arma::fmat GaussianFrames(arma::uword units, arma::uword time_points,
                          uint64_t seed) {
  return arma::conv_to<arma::fmat>::from(
      SeededGaussian(units, time_points, seed));
}

arma::fmat PlantedFrames(arma::uword units, arma::uword time_points, int k,
                         double noise, uint64_t seed, arma::mat* planted) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  // Sparse sources: 5% of units carry a Laplacian value, the rest zero
  // plus a little Gaussian jitter, so each map has a heavy positive tail.
  arma::mat s(k, units);
  const arma::mat jitter = SeededGaussian(k, units, seed + 1) * 0.1;
  for (int c = 0; c < k; ++c) {
    for (arma::uword v = 0; v < units; ++v) {
      double value = jitter(c, v);
      if (u(rng) < 0.05) value += 3.0 - std::log(u(rng) + 1e-300);
      s(c, v) = value;
    }
  }
  const arma::mat a = SeededGaussian(time_points, k, seed + 2);
  arma::mat x = a * s + noise * SeededGaussian(time_points, units, seed + 3);
  if (planted != nullptr) *planted = s;
  return arma::conv_to<arma::fmat>::from(x.t());
}

}  // namespace fnprobe::ica::testing
