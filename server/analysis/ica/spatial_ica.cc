#include "server/analysis/ica/spatial_ica.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/analysis/ica/icasso.h"

namespace fnprobe::ica {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Seed streams: 0 for the randomized SVD, 1 + r for restart r's start,
// kBootstrapStream + r for its resample of units.
constexpr uint64_t kPcaStream = 0;
constexpr uint64_t kBootstrapStream = 1ULL << 32;

// V indices drawn uniformly with replacement, deterministic per seed.
arma::uvec BootstrapUnits(arma::uword v, uint64_t seed) {
  std::mt19937_64 engine(seed);
  arma::uvec idx(v);
  for (arma::uword i = 0; i < v; ++i) idx(i) = engine() % v;
  return idx;
}

// C^(-1/2) of a symmetric positive definite matrix.
arma::mat InverseSqrt(const arma::mat& c) {
  arma::vec s;
  arma::mat u;
  arma::eig_sym(s, u, c);
  s = arma::clamp(s, std::numeric_limits<double>::min(),
                  std::numeric_limits<double>::max());
  return u * arma::diagmat(1.0 / arma::sqrt(s)) * u.t();
}

// Z-scores each column of `maps`, fixes its sign to a non-negative
// skewness and rescales `mixing` so mixing · mapsᵀ is unchanged.
void StandardizeMaps(arma::mat& maps, arma::mat& mixing,
                     std::vector<IcaComponent>& components) {
  const double n = static_cast<double>(maps.n_rows);
  for (arma::uword k = 0; k < maps.n_cols; ++k) {
    double* col = maps.colptr(k);
    double sum = 0;
    for (arma::uword i = 0; i < maps.n_rows; ++i) sum += col[i];
    const double mean = sum / n;
    double ss = 0, cube = 0;
    for (arma::uword i = 0; i < maps.n_rows; ++i) {
      const double d = col[i] - mean;
      ss += d * d;
    }
    const double sd = std::sqrt(ss / n);
    const double inv_sd = sd > 0 ? 1.0 / sd : 0.0;
    for (arma::uword i = 0; i < maps.n_rows; ++i) {
      col[i] = (col[i] - mean) * inv_sd;
      cube += col[i] * col[i] * col[i];
    }
    const double skew = cube / n;
    const double sign = skew < 0 ? -1.0 : 1.0;
    if (sign < 0) maps.col(k) *= -1.0;
    mixing.col(k) *= sd * sign;
    components[k].skewness = skew * sign;
  }
}

template <typename eT>
absl::StatusOr<IcaResult> Run(arma::Mat<eT>& frames,
                              const IcaOptions& options) {
  absl::Status valid = ValidateIcaOptions(options);
  if (!valid.ok()) return valid;
  const arma::uword v = frames.n_rows, t = frames.n_cols;
  if (t < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spatial ICA needs at least 2 time points; the data have ", t));
  }
  if (v < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spatial ICA needs at least 3 units (the samples); the data have ", v));
  }
  const arma::uword max_k = std::min<arma::uword>(t, v - 1);
  if (static_cast<arma::uword>(options.components) > max_k) {
    return absl::InvalidArgumentError(absl::StrCat(
        "components (", options.components,
        ") exceed the rank the centred data can have, min(time points, "
        "units - 1) = ",
        max_k, " for ", t, " time points x ", v, " units"));
  }

  IcaResult result;
  const auto pca_start = Clock::now();
  double total_ss = 0;
  absl::Status centred = CenterFrames(frames, &total_ss);
  if (!centred.ok()) return centred;
  PcaOptions pca_options;
  pca_options.components = options.components;
  pca_options.method = options.pca;
  pca_options.oversampling = options.oversampling;
  pca_options.power_iterations = options.power_iterations;
  pca_options.seed = MixSeed(options.seed, kPcaStream);
  absl::StatusOr<PcaReduction> pca = ReducePca(frames, total_ss, pca_options);
  if (!pca.ok()) return pca.status();
  result.pca_seconds = SecondsSince(pca_start);
  result.randomized_pca = pca->randomized;
  result.pca_explained_variance =
      total_ss > 0 ? arma::accu(arma::square(pca->singular_values)) / total_ss
                   : 0.0;

  const auto ica_start = Clock::now();
  const int k = options.components;
  FastIcaOptions fo;
  fo.fun = options.fun;
  fo.alpha = options.alpha;
  fo.max_iter = options.max_iter;
  fo.tol = options.tol;
  fo.threads = options.threads;
  // Each run's unmixing in the full data's whitened coordinates, rows of
  // unit norm (then row products are the sources' correlations).
  std::vector<arma::mat> unmixings;
  for (int r = 0; r < options.restarts; ++r) {
    fo.seed = MixSeed(options.seed, 1 + static_cast<uint64_t>(r));
    const bool resample = r > 0 && options.bootstrap;
    FastIcaRun run;
    if (!resample) {
      run = RunSymmetricFastIca(pca->whitened, fo);
    } else {
      arma::mat zb = pca->whitened.rows(
          BootstrapUnits(v, MixSeed(options.seed, kBootstrapStream + r)));
      // Re-whiten the resample; its unmixing W_b maps back as W_b M.
      const arma::mat m = InverseSqrt(zb.t() * zb / static_cast<double>(v));
      zb *= m;
      run = RunSymmetricFastIca(zb, fo);
      run.unmixing = arma::normalise(arma::mat(run.unmixing * m), 2, 1);
    }
    result.iterations.push_back(run.iterations);
    result.converged.push_back(run.converged);
    unmixings.push_back(std::move(run.unmixing));
  }
  arma::vec stability(k);
  stability.fill(std::numeric_limits<double>::quiet_NaN());
  if (options.restarts > 1) {
    IcassoResult icasso = ClusterRestarts(unmixings);
    result.chosen_restart = icasso.best_run;
    stability = icasso.best_run_stability;
  }
  arma::mat w = unmixings[result.chosen_restart];
  if (result.chosen_restart > 0 && options.bootstrap) {
    // Refine the resample's solution on all units: FastICA from there
    // converges in a few iterations to the full data's nearby optimum,
    // and W is exactly orthogonal again.
    fo.initial = w;
    FastIcaRun refined = RunSymmetricFastIca(pca->whitened, fo);
    result.refine_iterations = refined.iterations;
    w = std::move(refined.unmixing);
  }

  // Sources S = Z Wᵀ (unit variance). With Z = sqrt(V) Ṽ_K (the unit-side
  // singular vectors) and W orthogonal, X_c ≈ U_K Σ_K Ṽ_Kᵀ
  // = (U_K Σ_K Wᵀ / sqrt(V)) Sᵀ: that factor is the mixing matrix.
  arma::mat maps = pca->whitened * w.t();
  arma::mat mixing = pca->time_vectors * arma::diagmat(pca->singular_values) *
                     w.t() / std::sqrt(static_cast<double>(v));
  std::vector<IcaComponent> components(k);
  StandardizeMaps(maps, mixing, components);
  for (int c = 0; c < k; ++c) {
    components[c].stability = stability(c);
    components[c].explained_variance =
        total_ss > 0 ? arma::accu(arma::square(mixing.col(c))) *
                           static_cast<double>(v) / total_ss
                     : 0.0;
  }

  // Largest explained variance first; stable, so ties keep FastICA's order.
  std::vector<int> order(k);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return components[a].explained_variance > components[b].explained_variance;
  });
  result.maps.set_size(v, k);
  result.mixing.set_size(t, k);
  for (int c = 0; c < k; ++c) {
    result.maps.col(c) = maps.col(order[c]);
    result.mixing.col(c) = mixing.col(order[c]);
    result.components.push_back(std::move(components[order[c]]));
    result.components.back().network = NetworkUnits(result.maps, c, options.z);
  }
  result.ica_seconds = SecondsSince(ica_start);
  return result;
}

}  // namespace

absl::Status ValidateIcaOptions(const IcaOptions& o) {
  if (o.components < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("components must be at least 1; got ", o.components));
  }
  if (o.restarts < 1 || o.restarts > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("restarts must be in [1, 1000]; got ", o.restarts));
  }
  if (o.max_iter < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max-iter must be at least 1; got ", o.max_iter));
  }
  if (!(o.tol > 0) || !std::isfinite(o.tol)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tol must be a positive number; got ", o.tol));
  }
  if (!(o.z > 0) || !std::isfinite(o.z)) {
    return absl::InvalidArgumentError(
        absl::StrCat("z must be a positive number; got ", o.z));
  }
  if (!(o.alpha >= 1 && o.alpha <= 2)) {
    return absl::InvalidArgumentError(
        absl::StrCat("alpha must be in [1, 2]; got ", o.alpha));
  }
  if (o.oversampling < 0 || o.power_iterations < 0 ||
      o.power_iterations > 100) {
    return absl::InvalidArgumentError(
        "oversampling must be >= 0 and power iterations in [0, 100]");
  }
  return absl::OkStatus();
}

std::vector<arma::uword> NetworkUnits(const arma::mat& maps, int component,
                                      double threshold) {
  std::vector<arma::uword> units;
  const double* col = maps.colptr(component);
  for (arma::uword i = 0; i < maps.n_rows; ++i) {
    if (std::abs(col[i]) > threshold) units.push_back(i);
  }
  return units;
}

absl::StatusOr<IcaResult> RunSpatialIca(arma::fmat frames,
                                        const IcaOptions& options) {
  return Run(frames, options);
}

absl::StatusOr<IcaResult> RunSpatialIca(arma::mat frames,
                                        const IcaOptions& options) {
  return Run(frames, options);
}

}  // namespace fnprobe::ica
