#include "server/analysis/ar1.h"

#include <cmath>
#include <cstdint>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/analysis/contrast.h"

namespace fnprobe::analysis {
namespace {

arma::vec ResidualAutocorrelation(const arma::mat& resid) {
  const arma::uword t = resid.n_rows;
  const arma::rowvec lagged =
      arma::sum(resid.rows(1, t - 1) % resid.rows(0, t - 2), 0);
  const arma::rowvec energy = arma::sum(arma::square(resid), 0);
  return (lagged / energy).t();
}

// Units keyed by int(rho * 100), in ascending order.
std::map<int64_t, std::vector<arma::uword>> BinUnits(const arma::vec& rho) {
  std::map<int64_t, std::vector<arma::uword>> bins;
  for (arma::uword v = 0; v < rho.n_elem; ++v) {
    bins[static_cast<int64_t>(rho[v] * 100)].push_back(v);
  }
  return bins;
}

absl::StatusOr<Ar1Group> FitGroup(const arma::mat& x, const arma::mat& y,
                                  double rho,
                                  const std::vector<arma::uword>& units) {
  Ar1Group group;
  group.rho = rho;
  group.units = arma::uvec(units);
  FNPROBE_ASSIGN_OR_RETURN(
      group.fit,
      FitOls(WhitenAr1(x, rho), WhitenAr1(y.cols(group.units), rho)));
  return group;
}

// Scatters one per-group statistic back to unit order.
template <typename StatFn>
absl::StatusOr<arma::vec> Scatter(const Ar1Fit& fit, StatFn stat) {
  arma::vec out(fit.beta.n_cols, arma::fill::value(arma::datum::nan));
  for (const Ar1Group& g : fit.groups) {
    FNPROBE_ASSIGN_OR_RETURN(arma::vec values, stat(g.fit));
    out.elem(g.units) = values;
  }
  return out;
}

absl::StatusOr<Ar1Fit> FitAr1Impl(const arma::mat& x, const arma::mat& y) {
  FNPROBE_ASSIGN_OR_RETURN(OlsFit ols, FitOls(x, y));
  Ar1Fit fit;
  fit.rho = ResidualAutocorrelation(y - x * ols.beta);
  fit.binned_rho.set_size(y.n_cols);
  fit.beta.set_size(x.n_cols, y.n_cols);
  fit.sigma2.set_size(y.n_cols);
  for (const auto& [key, units] : BinUnits(fit.rho)) {
    const double rho = static_cast<double>(key) * 1. / 100;
    FNPROBE_ASSIGN_OR_RETURN(Ar1Group group, FitGroup(x, y, rho, units));
    fit.binned_rho.elem(group.units).fill(rho);
    fit.beta.cols(group.units) = group.fit.beta;
    fit.sigma2.elem(group.units) = group.fit.sigma2;
    fit.df = group.fit.df;
    fit.groups.push_back(std::move(group));
  }
  return fit;
}

}  // namespace

arma::mat WhitenAr1(const arma::mat& m, double rho) {
  arma::mat out = m;
  if (m.n_rows == 0) return out;
  // Row 0 stays as it is: nipy's ARModel.whiten does not scale it by
  // sqrt(1 - rho^2), and the reference fixture follows nipy.
  out.rows(1, m.n_rows - 1) -= rho * m.rows(0, m.n_rows - 2);
  return out;
}

absl::StatusOr<Ar1Fit> FitAr1(const arma::mat& x, const arma::mat& y) {
  if (x.n_rows != y.n_rows || y.n_rows < 3 || y.n_cols == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ar1: X is ", x.n_rows, " x ", x.n_cols, ", Y is ", y.n_rows, " x ",
        y.n_cols, " (need equal rows, >= 3, and >= 1 unit)"));
  }
  try {
    return FitAr1Impl(x, y);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("ar1: ", e.what()));
  }
}

absl::StatusOr<Ar1Fit> FitAr1(const arma::mat& x, const arma::fmat& y) {
  return FitAr1(x, arma::conv_to<arma::mat>::from(y));
}

absl::StatusOr<arma::vec> TStatistic(const Ar1Fit& fit, const arma::vec& c) {
  return Scatter(fit, [&](const OlsFit& f) { return TStatistic(f, c); });
}

absl::StatusOr<arma::vec> FStatistic(const Ar1Fit& fit, const arma::mat& c) {
  return Scatter(fit, [&](const OlsFit& f) { return FStatistic(f, c); });
}

}  // namespace fnprobe::analysis
