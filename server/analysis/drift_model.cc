#include "server/analysis/drift_model.h"

#include <cmath>
#include <exception>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace fnprobe::analysis {
namespace {

arma::mat CosineDrift(double period_cut, const std::vector<double>& times) {
  const arma::uword len = times.size();
  const double hfcut = 1. / period_cut;
  const double dt = times[1] - times[0];
  const long order =
      std::max(1L, static_cast<long>(std::floor(2 * len * hfcut * dt)));
  arma::mat drift(len, order, arma::fill::zeros);
  const double nfct = std::sqrt(2.0 / len);
  for (long k = 1; k < order; ++k) {
    for (arma::uword t = 0; t < len; ++t) {
      drift(t, k - 1) = nfct * std::cos((M_PI / len) * (t + .5) * k);
    }
  }
  drift.col(order - 1).fill(1.0);
  return drift;
}

arma::mat PolynomialDrift(int order, const std::vector<double>& times) {
  const arma::uword len = times.size();
  arma::mat pol(len, order + 1);
  const double tmax = times.back();
  for (int k = 0; k <= order; ++k) {
    for (arma::uword t = 0; t < len; ++t) {
      pol(t, k) = std::pow(times[t] / tmax, k);
    }
  }
  OrthogonalizeColumns(pol);
  return arma::join_rows(pol.cols(1, order), pol.col(0));
}

}  // namespace

void OrthogonalizeColumns(arma::mat& x) {
  for (arma::uword i = 1; i < x.n_cols; ++i) {
    const arma::mat previous = x.cols(0, i - 1);
    x.col(i) -= previous * (arma::pinv(previous) * x.col(i));
  }
}

absl::StatusOr<DriftColumns> MakeDrift(DriftModel model,
                                       const std::vector<double>& frame_times,
                                       double cutoff_period_s, int order) {
  if (model != DriftModel::kNone && frame_times.size() < 2) {
    return absl::InvalidArgumentError("drift: needs at least two frames");
  }
  DriftColumns out;
  try {
    switch (model) {
      case DriftModel::kNone:
        out.columns.ones(frame_times.size(), 1);
        break;
      case DriftModel::kCosine:
        if (!(cutoff_period_s > 0)) {
          return absl::InvalidArgumentError(
              absl::StrCat("drift: cosine cut-off period must be > 0 s, got ",
                           cutoff_period_s));
        }
        out.columns = CosineDrift(cutoff_period_s, frame_times);
        break;
      case DriftModel::kPolynomial:
        if (order < 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              "drift: polynomial order must be >= 0, got ", order));
        }
        out.columns = order == 0
                          ? arma::mat(frame_times.size(), 1, arma::fill::ones)
                          : PolynomialDrift(order, frame_times);
        break;
    }
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("drift: ", e.what()));
  }
  for (arma::uword k = 1; k < out.columns.n_cols; ++k) {
    out.names.push_back(absl::StrCat("drift_", k));
  }
  out.names.push_back("constant");
  return out;
}

}  // namespace fnprobe::analysis
