// Contrast statistics on an OLS fit: t for a contrast vector c (p), F for a
// contrast matrix C (q x p), as nipy's Tcontrast / Fcontrast compute them:
//   t = c'b / sqrt(sigma2 c'(X'X)^+ c)
//   F = (Cb)' (C (X'X)^+ C')^-1 (Cb) / (q sigma2)
//
// Free functions; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_CONTRAST_H_
#define FNPROBE_SERVER_ANALYSIS_CONTRAST_H_

#include <armadillo>

#include "absl/status/statusor.h"
#include "server/analysis/ols_fit.h"

namespace fnprobe::analysis {

// Per-unit t (V). INVALID_ARGUMENT if c does not have p entries or is zero.
absl::StatusOr<arma::vec> TStatistic(const OlsFit& fit, const arma::vec& c);

// Per-unit F (V), with df (q, fit.df). INVALID_ARGUMENT if C does not have p
// columns or C (X'X)^+ C' is singular.
absl::StatusOr<arma::vec> FStatistic(const OlsFit& fit, const arma::mat& c);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_CONTRAST_H_
