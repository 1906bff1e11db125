#include "server/analysis/ols_fit.h"

#include <exception>
#include <vector>

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
                                     const double* yt_x, const double* sum_y2,
                                     size_t v) {
  // beta = (X'X)^+ X'Y; rss = sum y^2 - 2 beta'X'Y + beta'X'X beta, clamped
  // at 0 (NaN stays NaN), fused into one pass over the units without p x V
  // temporaries.
  const size_t p = design.xtx.n_cols;
  OlsFit fit;
  fit.beta.set_size(p, v);
  fit.rss.set_size(v);
  const double* pinv = design.xtx_pinv.memptr();  // Column-major p x p.
  const double* xtx = design.xtx.memptr();
  std::vector<double> c(p), xtx_beta(p);
  for (size_t u = 0; u < v; ++u) {
    for (size_t k = 0; k < p; ++k) c[k] = yt_x[k * v + u];
    double* beta = fit.beta.colptr(u);
    for (size_t i = 0; i < p; ++i) beta[i] = 0;
    for (size_t k = 0; k < p; ++k) {
      for (size_t i = 0; i < p; ++i) beta[i] += pinv[k * p + i] * c[k];
    }
    for (size_t i = 0; i < p; ++i) xtx_beta[i] = 0;
    for (size_t k = 0; k < p; ++k) {
      for (size_t i = 0; i < p; ++i) xtx_beta[i] += xtx[k * p + i] * beta[k];
    }
    double cross = 0, quad = 0;
    for (size_t i = 0; i < p; ++i) {
      cross += beta[i] * c[i];
      quad += beta[i] * xtx_beta[i];
    }
    const double rss = sum_y2[u] - 2.0 * cross + quad;
    fit.rss[u] = rss < 0 ? 0.0 : rss;
  }
  fit.df = static_cast<double>(design.num_rows - design.rank);
  fit.sigma2 = fit.rss / fit.df;
  fit.xtx_pinv = design.xtx_pinv;
  return fit;
}

OlsFit SolveFromSufficientStatistics(const DesignFactor& design,
                                     const arma::mat& xty,
                                     const arma::vec& sum_y2) {
  const arma::mat yt_x = xty.t();
  return SolveFromSufficientStatistics(design, yt_x.memptr(), sum_y2.memptr(),
                                       xty.n_cols);
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
