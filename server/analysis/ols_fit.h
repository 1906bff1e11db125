// Ordinary least squares for V units sharing one design X (T x p): the
// design's pseudo-inverse Gram matrix, and estimates either from sufficient
// statistics (X'Y, per-unit sum of y^2; what GlmAccumulator streams) or from
// the data itself. Matches nipy's OLSModel (pinv-based) to rounding.
//
// Plain values and free functions; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_OLS_FIT_H_
#define FNPROBE_SERVER_ANALYSIS_OLS_FIT_H_

#include <armadillo>

#include "absl/status/statusor.h"

namespace fnprobe::analysis {

// X'X and its pseudo-inverse, from the SVD of X (numpy's pinv cut-off:
// singular values <= 1e-15 * max are dropped).
// Invariant: rank == p (FactorDesign rejects rank-deficient designs).
struct DesignFactor {
  arma::mat xtx;       // p x p
  arma::mat xtx_pinv;  // p x p
  arma::uword num_rows = 0;
  arma::uword rank = 0;
};

// Estimates for V units. df = T - rank, sigma2 = rss / df.
struct OlsFit {
  arma::mat beta;      // p x V
  arma::vec rss;       // V
  arma::vec sigma2;    // V
  arma::mat xtx_pinv;  // p x p, the unscaled covariance of beta.
  double df = 0.0;
};

// INVALID_ARGUMENT for an empty design, a rank-deficient (singular) design or
// one with no residual degrees of freedom; INTERNAL if the SVD fails.
absl::StatusOr<DesignFactor> FactorDesign(const arma::mat& x);

// beta = (X'X)^+ X'Y; rss = sum y^2 - 2 beta'X'Y + beta'X'X beta per unit,
// clamped at 0. REQUIRES: xty is p x V and sum_y2 has V entries.
OlsFit SolveFromSufficientStatistics(const DesignFactor& design,
                                     const arma::mat& xty,
                                     const arma::vec& sum_y2);

// As above, from Y'X kept unit-major as GlmAccumulator keeps it (V x p,
// column-major: entry (u, k) at yt_x[k * v + u]) and `v` sums of y^2.
OlsFit SolveFromSufficientStatistics(const DesignFactor& design,
                                     const double* yt_x, const double* sum_y2,
                                     size_t v);

// Batch fit of Y (T x V); residuals computed directly. INVALID_ARGUMENT on
// mismatched rows, plus FactorDesign's errors.
absl::StatusOr<OlsFit> FitOls(const arma::mat& x, const arma::mat& y);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_OLS_FIT_H_
