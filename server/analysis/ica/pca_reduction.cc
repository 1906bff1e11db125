#include "server/analysis/ica/pca_reduction.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "absl/strings/str_cat.h"

namespace fnprobe::ica {
namespace {

// Below this many time points (or units) the exact Gram matrix is cheap
// enough that the randomized approximation buys nothing.
constexpr arma::uword kExactBelow = 500;

// A singular value this far below the largest is rounding noise in the
// data's precision: whitening would blow it up into a fake component.
// The Gram matrix squares the condition number, so its eigenvalues resolve
// singular values only down to about sqrt(machine epsilon) of the largest.
template <typename eT>
constexpr double RankTolerance() {
  return std::is_same_v<eT, float> ? 1e-3 : 1e-6;
}

// Orthonormal basis of the columns of `y` (thin QR), float64.
arma::mat Orthonormalize(const arma::mat& y) {
  arma::mat q, r;
  arma::qr_econ(q, r, y);
  return q;
}

template <typename eT>
arma::Mat<eT> Cast(const arma::mat& m) {
  if constexpr (std::is_same_v<eT, double>) {
    return m;
  } else {
    return arma::conv_to<arma::Mat<eT>>::from(m);
  }
}

template <typename eT>
arma::mat ToDouble(arma::Mat<eT>&& m) {
  if constexpr (std::is_same_v<eT, double>) {
    return std::move(m);
  } else {
    return arma::conv_to<arma::mat>::from(m);
  }
}

absl::Status CheckRank(const arma::vec& singular_values, double tolerance) {
  const arma::uword k = singular_values.n_elem;
  const double largest = singular_values(0);
  const double last = singular_values(k - 1);
  if (!(largest > 0) || !(last > tolerance * largest)) {
    return absl::FailedPreconditionError(
        absl::StrCat("components (", k,
                     ") exceed the numerical rank of the centred data: "
                     "singular value ",
                     k, " is ", last, ", the largest ", largest,
                     "; ask for fewer components"));
  }
  return absl::OkStatus();
}

// Exact: eigendecomposition of the smaller Gram matrix.
template <typename eT>
absl::StatusOr<PcaReduction> ReduceExact(const arma::Mat<eT>& frames, int k,
                                         PcaReduction out) {
  const arma::uword v = frames.n_rows, t = frames.n_cols;
  const double sqrt_v = std::sqrt(static_cast<double>(v));
  const bool time_side = t <= v;
  // syrk in the data's precision; eig_sym wants float64.
  arma::mat gram = time_side ? ToDouble<eT>(frames.t() * frames)
                             : ToDouble<eT>(frames * frames.t());
  arma::vec eigval;
  arma::mat eigvec;
  if (!arma::eig_sym(eigval, eigvec, gram)) {
    return absl::InternalError("eigendecomposition of the Gram matrix failed");
  }
  // eig_sym sorts ascending; keep the K largest, descending.
  const arma::uword n = eigval.n_elem;
  arma::uvec top(k);
  for (int i = 0; i < k; ++i) top(i) = n - 1 - i;
  arma::vec sv = arma::sqrt(
      arma::clamp(eigval.elem(top), 0.0, std::numeric_limits<double>::max()));
  out.singular_values = sv;
  absl::Status rank = CheckRank(sv, RankTolerance<eT>());
  if (!rank.ok()) return rank;
  arma::mat vectors = eigvec.cols(top);
  if (time_side) {
    out.time_vectors = vectors;
    out.whitened = ToDouble<eT>(frames * Cast<eT>(vectors));
    out.whitened.each_row() %= (sqrt_v / sv).t();
  } else {
    out.whitened = vectors * sqrt_v;
    out.time_vectors = ToDouble<eT>(frames.t() * Cast<eT>(vectors));
    out.time_vectors.each_row() /= sv.t();
  }
  return out;
}

// Randomized SVD with the basis Q on the unit side (V x L).
template <typename eT>
absl::StatusOr<PcaReduction> ReduceRandomized(const arma::Mat<eT>& frames,
                                              int k, int l, int power,
                                              uint64_t seed, PcaReduction out) {
  const arma::uword v = frames.n_rows;
  const double sqrt_v = std::sqrt(static_cast<double>(v));
  const arma::Mat<eT> omega = Cast<eT>(SeededGaussian(frames.n_cols, l, seed));
  arma::mat q = Orthonormalize(ToDouble<eT>(frames * omega));
  for (int i = 0; i < power; ++i) {
    // Re-orthonormalise on both sides so the small singular directions are
    // not lost to rounding (Halko et al., algorithm 4.4).
    const arma::mat p = Orthonormalize(ToDouble<eT>(frames.t() * Cast<eT>(q)));
    q = Orthonormalize(ToDouble<eT>(frames * Cast<eT>(p)));
  }
  // frames ≈ Q Qᵀ frames = Q btᵀ with bt = framesᵀ Q (T x L).
  const arma::mat bt = ToDouble<eT>(frames.t() * Cast<eT>(q));  // T x L
  arma::mat ub, vb;
  arma::vec s;
  // bt = vb diag(s) ubᵀ; frames ≈ (Q ub) diag(s) vbᵀ.
  if (!arma::svd_econ(vb, s, ub, bt)) {
    return absl::InternalError("SVD of the projected data failed");
  }
  out.singular_values = s.head(k);
  absl::Status rank = CheckRank(out.singular_values, RankTolerance<eT>());
  if (!rank.ok()) return rank;
  out.time_vectors = vb.head_cols(k);
  out.whitened = q * ub.head_cols(k) * sqrt_v;
  return out;
}

}  // namespace

uint64_t MixSeed(uint64_t seed, uint64_t stream) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

arma::mat SeededGaussian(arma::uword rows, arma::uword cols, uint64_t seed) {
  std::mt19937_64 engine(seed);
  // 53 random bits into (0, 1]: never 0, so the log below is finite.
  auto uniform = [&engine] {
    return (static_cast<double>(engine() >> 11) + 1.0) * 0x1.0p-53;
  };
  arma::mat out(rows, cols);
  const arma::uword n = out.n_elem;
  for (arma::uword i = 0; i < n; i += 2) {
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    const double theta = 2.0 * M_PI * uniform();
    out(i) = r * std::cos(theta);
    if (i + 1 < n) out(i + 1) = r * std::sin(theta);
  }
  return out;
}

template <typename eT>
absl::Status CenterFrames(arma::Mat<eT>& frames, double* total_sum_squares) {
  double ss = 0;
  const arma::uword v = frames.n_rows;
  for (arma::uword t = 0; t < frames.n_cols; ++t) {
    eT* col = frames.colptr(t);
    double sum = 0;
    for (arma::uword u = 0; u < v; ++u) sum += col[u];
    if (!std::isfinite(sum)) {
      for (arma::uword u = 0; u < v; ++u) {
        if (!std::isfinite(col[u])) {
          return absl::InvalidArgumentError(absl::StrCat(
              "the data hold a non-finite value (", col[u], ") at time point ",
              t, ", unit ", u, "; NaN and infinity are not allowed"));
        }
      }
    }
    const double mean = sum / static_cast<double>(v);
    const eT mean_e = static_cast<eT>(mean);
    double col_ss = 0;
    for (arma::uword u = 0; u < v; ++u) {
      col[u] -= mean_e;
      col_ss += static_cast<double>(col[u]) * col[u];
    }
    ss += col_ss;
  }
  *total_sum_squares = ss;
  return absl::OkStatus();
}

template <typename eT>
absl::StatusOr<PcaReduction> ReducePca(const arma::Mat<eT>& frames,
                                       double total_sum_squares,
                                       const PcaOptions& options) {
  const arma::uword v = frames.n_rows, t = frames.n_cols;
  const int k = options.components;
  const arma::uword max_k = std::min<arma::uword>(t, v > 0 ? v - 1 : 0);
  if (k < 1 || static_cast<arma::uword>(k) > max_k) {
    return absl::InvalidArgumentError(absl::StrCat(
        "components must be in [1, min(time points, units - 1)] = [1, ", max_k,
        "] for ", t, " time points x ", v, " units; got ", k));
  }
  PcaReduction out;
  out.total_sum_squares = total_sum_squares;
  const arma::uword small = std::min(t, v);
  const int l = static_cast<int>(
      std::min<arma::uword>(small, k + std::max(options.oversampling, k / 2)));
  bool randomized = options.method == PcaMethod::kRandomized;
  if (options.method == PcaMethod::kAuto) {
    randomized = small > kExactBelow && static_cast<arma::uword>(4 * l) < small;
  }
  // The randomized sketch cannot be wider than the data; then it is exact
  // anyway, so do the exact thing.
  if (randomized && static_cast<arma::uword>(l) >= small) randomized = false;
  out.randomized = randomized;
  if (randomized) {
    return ReduceRandomized(frames, k, l, std::max(0, options.power_iterations),
                            options.seed, std::move(out));
  }
  return ReduceExact(frames, k, std::move(out));
}

template absl::Status CenterFrames<float>(arma::fmat&, double*);
template absl::Status CenterFrames<double>(arma::mat&, double*);
template absl::StatusOr<PcaReduction> ReducePca<float>(const arma::fmat&,
                                                       double,
                                                       const PcaOptions&);
template absl::StatusOr<PcaReduction> ReducePca<double>(const arma::mat&,
                                                        double,
                                                        const PcaOptions&);

}  // namespace fnprobe::ica
