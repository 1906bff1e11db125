// Symmetric (parallel) FastICA (Hyvärinen 1999) on whitened data, the
// fixed-point iteration scikit-learn's FastICA(algorithm="parallel") runs:
//
//   W ← sym(W₀);  repeat:  Y = Z Wᵀ;
//                          W⁺ = sym( g(Y)ᵀ Z / V − diag(mean g'(Y)) W )
//                          until max_i | |⟨w⁺_i, w_i⟩| − 1 | < tol
//
// with sym(W) = (W Wᵀ)^(-1/2) W, Z the V x K whitened data (units are the
// samples) and g one of
//   logcosh: g(u) = tanh(a u),         g'(u) = a (1 − tanh²(a u))
//   cube:    g(u) = u³,                g'(u) = 3 u²
//   exp:     g(u) = u exp(−u²/2),      g'(u) = (1 − u²) exp(−u²/2)
//
// W is orthogonal, so the sources Z Wᵀ have unit variance and are
// uncorrelated; correlations between two solutions' components are simply
// W₁ W₂ᵀ.
//
// Determinism: W₀ comes from the seed (SeededGaussian); the nonlinearity is
// evaluated per component column, each by one thread in a fixed order, so
// the result does not depend on the thread count. Same seed, same data,
// same BLAS → the same bytes.
//
// Thread-safety: free function; uses options.threads threads internally.
#ifndef FNPROBE_SERVER_ANALYSIS_ICA_FAST_ICA_H_
#define FNPROBE_SERVER_ANALYSIS_ICA_FAST_ICA_H_

#include <armadillo>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe::ica {

enum class Contrast { kLogcosh, kCube, kExp };

// "logcosh", "cube", "exp" (any case) → Contrast; INVALID_ARGUMENT else.
absl::StatusOr<Contrast> ParseContrast(absl::string_view name);
std::string ContrastName(Contrast fun);

struct FastIcaOptions {
  Contrast fun = Contrast::kLogcosh;
  double alpha = 1.0;  // logcosh's a, in [1, 2] as scikit-learn requires
  int max_iter = 200;
  double tol = 1e-4;
  uint64_t seed = 0;
  int threads = 0;  // 0: one per hardware thread (at most K)
  // Starting W (K x K, made orthogonal); empty: random from `seed`.
  arma::mat initial;
};

struct FastIcaRun {
  arma::mat unmixing;  // K x K, orthogonal; sources = whitened * unmixingᵀ
  int iterations = 0;
  bool converged = false;
  double last_change = 0;  // the convergence measure at the last iteration
};

// Runs symmetric FastICA on `whitened` (V x K, whitenedᵀ whitened / V = I).
// Does not fail on non-convergence: the run says so (converged = false)
// and keeps the last W.
FastIcaRun RunSymmetricFastIca(const arma::mat& whitened,
                               const FastIcaOptions& options);

// (W Wᵀ)^(-1/2) W: the orthogonal matrix nearest to W's row space.
arma::mat SymmetricDecorrelation(const arma::mat& w);

}  // namespace fnprobe::ica

#endif  // FNPROBE_SERVER_ANALYSIS_ICA_FAST_ICA_H_
