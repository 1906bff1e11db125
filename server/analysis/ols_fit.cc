#include "server/analysis/ols_fit.h"

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"

namespace fnprobe::analysis {

absl::StatusOr<DesignFactor> FactorDesign(const arma::mat& x) {
  if (x.n_rows == 0 || x.n_cols == 0) {
    return absl::InvalidArgumentError("design: X is empty");
  }
  arma::mat u, v;
  arma::vec s;
  try {
    if (!arma::svd_econ(u, s, v, x)) {
      return absl::InternalError("design: SVD of X did not converge");
    }
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("design: SVD of X: ", e.what()));
  }
  const double cutoff = 1e-15 * s.max();
  const arma::uvec kept = arma::find(s > cutoff);
  DesignFactor out;
  out.num_rows = x.n_rows;
  out.rank = kept.n_elem;
  if (out.rank < x.n_cols) {
    return absl::InvalidArgumentError(
        absl::StrCat("design: X is singular (rank ", out.rank, " < ", x.n_cols,
                     " columns)"));
  }
  if (out.rank >= x.n_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("design: no residual degrees of freedom (", x.n_rows,
                     " rows, rank ", out.rank, ")"));
  }
  const arma::mat vk = v.cols(kept);
  const arma::vec sk = s.elem(kept);
  out.xtx = x.t() * x;
  out.xtx_pinv = vk * arma::diagmat(1.0 / arma::square(sk)) * vk.t();
  return out;
}

OlsFit SolveFromSufficientStatistics(const DesignFactor& design,
                                     const arma::mat& xty,
                                     const arma::vec& sum_y2) {
  OlsFit fit;
  fit.beta = design.xtx_pinv * xty;
  const arma::mat xtx_beta = design.xtx * fit.beta;
  const arma::rowvec cross = arma::sum(fit.beta % xty, 0);
  const arma::rowvec quad = arma::sum(fit.beta % xtx_beta, 0);
  fit.rss =
      arma::clamp(sum_y2 - 2.0 * cross.t() + quad.t(), 0.0, arma::datum::inf);
  fit.df = static_cast<double>(design.num_rows - design.rank);
  fit.sigma2 = fit.rss / fit.df;
  fit.xtx_pinv = design.xtx_pinv;
  return fit;
}

absl::StatusOr<OlsFit> FitOls(const arma::mat& x, const arma::mat& y) {
  if (x.n_rows != y.n_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("ols: X has ", x.n_rows, " rows but Y has ", y.n_rows));
  }
  FNPROBE_ASSIGN_OR_RETURN(DesignFactor design, FactorDesign(x));
  OlsFit fit;
  fit.beta = design.xtx_pinv * (x.t() * y);
  fit.rss = arma::sum(arma::square(y - x * fit.beta), 0).t();
  fit.df = static_cast<double>(design.num_rows - design.rank);
  fit.sigma2 = fit.rss / fit.df;
  fit.xtx_pinv = design.xtx_pinv;
  return fit;
}

}  // namespace fnprobe::analysis
