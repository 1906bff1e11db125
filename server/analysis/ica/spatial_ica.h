// Spatial ICA of a language model's activations (Liu et al. 2025): units
// are the samples, time points (token positions) the features. The data X
// is T time points x V units; the result is K spatial maps (sources, one
// value per unit) and their time courses (the mixing matrix), with the
// centred data X_c ≈ mixing · mapsᵀ.
//
// Steps: centre each time point over units; reduce to K principal
// components and whiten (pca_reduction.h: exact Gram eigendecomposition or
// randomized SVD); symmetric FastICA (fast_ica.h), R times from seeds
// derived from options.seed (after the first, on bootstrap resamples of
// units); with R > 1, ICASSO-style clustering of the R x K components
// (icasso.h) picks the most stable restart, refined on all units, and gives
// each component its stability index Iq.
//
// Output conventions:
//   - maps are z-scored per component over units (mean 0, population
//     standard deviation 1, i.e. numpy's std with ddof = 0);
//   - signs are fixed so that each map's skewness is >= 0 (the long tail,
//     where a network's units lie, is positive); the mixing column flips
//     with it;
//   - components are ordered by the variance they explain, largest first;
//   - mixing (T x K) is scaled so that X_c ≈ mixing · mapsᵀ (in the
//     reduced subspace).
//   - a component's network is the units with |z| > options.z (Liu: 3.6).
//
// Memory: the data are taken by value and centred in place; callers that
// no longer need their matrix pass it with std::move and no V x T copy is
// made. Working memory beyond the data is O((V + T) · K).
//
// Thread-safety: RunSpatialIca is a free function; concurrent calls on
// different data are safe.
#ifndef FNPROBE_SERVER_ANALYSIS_ICA_SPATIAL_ICA_H_
#define FNPROBE_SERVER_ANALYSIS_ICA_SPATIAL_ICA_H_

#include <armadillo>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/analysis/ica/fast_ica.h"
#include "server/analysis/ica/pca_reduction.h"

namespace fnprobe::ica {

// Liu et al.'s network threshold on component z-maps.
inline constexpr double kDefaultNetworkZ = 3.6;

struct IcaOptions {
  int components = 20;  // K
  Contrast fun = Contrast::kLogcosh;
  double alpha = 1.0;  // logcosh's a, in [1, 2]
  uint64_t seed = 0;
  int restarts = 1;  // R; stability indices need R >= 2
  // ICASSO's "both" mode: restarts after the first also estimate on a
  // bootstrap resample of units, so that stability reflects sampling and
  // not only the starting point (on a fixed sample, pure noise has
  // reproducible optima too). The kept run is then refined on all units.
  bool bootstrap = true;
  int max_iter = 200;
  double tol = 1e-4;
  double z = kDefaultNetworkZ;  // network threshold on |z|
  PcaMethod pca = PcaMethod::kAuto;
  int oversampling = 10;     // randomized SVD: L = K + max(this, K / 2)
  int power_iterations = 3;  // randomized SVD passes
  int threads = 0;           // FastICA threads; 0 = one per hardware thread
};

// INVALID_ARGUMENT naming the first bad option.
absl::Status ValidateIcaOptions(const IcaOptions& options);

struct IcaComponent {
  double stability = 0;              // Iq; NaN when restarts == 1
  double explained_variance = 0;     // fraction of the centred data's
  double skewness = 0;               // of the map, >= 0 after the sign fix
  std::vector<arma::uword> network;  // units with |z| > z, ascending
};

struct IcaResult {
  // V x K: column k is component k's z-scored spatial map. Its bytes are
  // the row-major K x V sources array (sources.npy).
  arma::mat maps;
  // T x K: component time courses.
  arma::mat mixing;
  std::vector<IcaComponent> components;  // K, in the order of maps' columns
  double pca_explained_variance = 0;     // fraction kept by the K-dim subspace
  bool randomized_pca = false;
  int chosen_restart = 0;
  std::vector<int> iterations;  // per restart
  std::vector<bool> converged;  // per restart
  // FastICA iterations refining a chosen bootstrap run on all units (0
  // when the chosen run already used all units).
  int refine_iterations = 0;
  double pca_seconds = 0;  // centring and reduction
  double ica_seconds = 0;  // FastICA, restarts, clustering, maps
};

// Runs spatial ICA on `frames`: a V x T matrix, one column per time point
// (the bytes of a row-major T x V array). Errors: INVALID_ARGUMENT for bad
// options, T < 2, V < 3, K > min(T, V - 1), NaN or infinite values;
// FAILED_PRECONDITION when K exceeds the data's numerical rank.
absl::StatusOr<IcaResult> RunSpatialIca(arma::fmat frames,
                                        const IcaOptions& options);
absl::StatusOr<IcaResult> RunSpatialIca(arma::mat frames,
                                        const IcaOptions& options);

// Units with |z| > threshold in column `component` of `maps`, ascending.
std::vector<arma::uword> NetworkUnits(const arma::mat& maps, int component,
                                      double threshold);

}  // namespace fnprobe::ica

#endif  // FNPROBE_SERVER_ANALYSIS_ICA_SPATIAL_ICA_H_
