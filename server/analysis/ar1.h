// nipy's AR(1) GLM (GeneralLinearModel with model="ar1"): an OLS fit gives
// per-unit lag-1 residual autocorrelation rho = sum r[t]r[t-1] / sum r[t]^2,
// truncated toward zero to a multiple of 0.01; units sharing a binned rho are
// refitted on the prewhitened design and data (row t: x_t - rho x_{t-1};
// row 0 left unscaled, exactly as nipy's ARModel.whiten does: the
// Prais-Winsten sqrt(1 - rho^2) scaling does not reproduce nipy's results
// and is deliberately not applied); df = T - p.
//
// Plain values and free functions; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_AR1_H_
#define FNPROBE_SERVER_ANALYSIS_AR1_H_

#include <armadillo>
#include <vector>

#include "absl/status/statusor.h"
#include "server/analysis/ols_fit.h"

namespace fnprobe::analysis {

// The units sharing one binned rho and their whitened fit.
struct Ar1Group {
  double rho = 0.0;
  arma::uvec units;  // Column indices into Y, ascending.
  OlsFit fit;        // Over those units only.
};

// Invariant: the groups partition 0..V-1; groups ascend by rho.
struct Ar1Fit {
  arma::vec rho;         // V, raw lag-1 autocorrelation of OLS residuals.
  arma::vec binned_rho;  // V
  arma::mat beta;        // p x V, whitened estimates.
  arma::vec sigma2;      // V
  double df = 0.0;
  std::vector<Ar1Group> groups;
};

// Fits Y (T x V). INVALID_ARGUMENT for mismatched sizes or a singular design.
absl::StatusOr<Ar1Fit> FitAr1(const arma::mat& x, const arma::mat& y);
absl::StatusOr<Ar1Fit> FitAr1(const arma::mat& x, const arma::fmat& y);

// The AR(1) design or data, whitened with coefficient rho (nipy: row 0 kept,
// row t minus rho times row t-1).
arma::mat WhitenAr1(const arma::mat& m, double rho);

// Per-unit t and F for the whitened fits (see contrast.h).
absl::StatusOr<arma::vec> TStatistic(const Ar1Fit& fit, const arma::vec& c);
absl::StatusOr<arma::vec> FStatistic(const Ar1Fit& fit, const arma::mat& c);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_AR1_H_
