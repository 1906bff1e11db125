#include "server/analysis/contrast.h"

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace fnprobe::analysis {

absl::StatusOr<arma::vec> TStatistic(const OlsFit& fit, const arma::vec& c) {
  if (c.n_elem != fit.beta.n_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("contrast: has ", c.n_elem, " entries, design has ",
                     fit.beta.n_rows, " columns"));
  }
  const double variance_factor = arma::as_scalar(c.t() * fit.xtx_pinv * c);
  if (!(variance_factor > 0)) {
    return absl::InvalidArgumentError("contrast: c'(X'X)^+c is not positive");
  }
  const arma::vec effect = (c.t() * fit.beta).t();
  return effect / arma::sqrt(fit.sigma2 * variance_factor);
}

absl::StatusOr<arma::vec> FStatistic(const OlsFit& fit, const arma::mat& c) {
  if (c.n_cols != fit.beta.n_rows || c.n_rows == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("contrast: matrix is ", c.n_rows, " x ", c.n_cols,
                     ", design has ", fit.beta.n_rows, " columns"));
  }
  arma::mat inv_cov;
  try {
    const arma::mat cov = c * fit.xtx_pinv * c.t();
    if (!arma::inv_sympd(inv_cov, cov)) {
      return absl::InvalidArgumentError(
          "contrast: C (X'X)^+ C' is singular (rows not independent)");
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("contrast: ", e.what()));
  }
  const arma::mat effect = c * fit.beta;  // q x V
  const arma::rowvec quad = arma::sum((inv_cov * effect) % effect, 0);
  return quad.t() / (static_cast<double>(c.n_rows) * fit.sigma2);
}

}  // namespace fnprobe::analysis
