#include "server/analysis/ica/glm_comparison.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "server/analysis/network_overlap.h"

namespace fnprobe::ica {
namespace {

// Centres `x` and returns its sum of squares; INVALID_ARGUMENT naming
// `what` for a non-finite value.
absl::StatusOr<double> Centre(absl::Span<const double> x, const char* what,
                              std::vector<double>* centred) {
  double sum = 0;
  for (double v : x) {
    if (!std::isfinite(v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("the ", what, " has a value that is not finite"));
    }
    sum += v;
  }
  const double mean = sum / static_cast<double>(x.size());
  centred->resize(x.size());
  double ss = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    (*centred)[i] = x[i] - mean;
    ss += (*centred)[i] * (*centred)[i];
  }
  // Relative to the values' scale, so that rounding in the mean of a
  // constant series does not pass for variance.
  double scale = 0;
  for (double v : x) scale = std::max(scale, std::abs(v));
  if (ss <= 1e-24 * scale * scale * static_cast<double>(x.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the ", what, " is constant: its correlation is undefined"));
  }
  return ss;
}

}  // namespace

absl::StatusOr<double> TimeCourseCorrelation(
    absl::Span<const double> time_course, absl::Span<const double> regressor) {
  if (time_course.size() != regressor.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the time course has ", time_course.size(),
                     " time points, the regressor ", regressor.size()));
  }
  if (time_course.size() < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("a correlation needs at least 2 time points; got ",
                     time_course.size()));
  }
  std::vector<double> a, b;
  auto ssa = Centre(time_course, "time course", &a);
  if (!ssa.ok()) return ssa.status();
  auto ssb = Centre(regressor, "regressor", &b);
  if (!ssb.ok()) return ssb.status();
  double cross = 0;
  for (size_t i = 0; i < a.size(); ++i) cross += a[i] * b[i];
  // Clamped: rounding can put a perfect correlation a hair beyond 1.
  return std::clamp(cross / std::sqrt(*ssa * *ssb), -1.0, 1.0);
}

absl::StatusOr<arma::mat> TimeCourseCorrelations(const arma::mat& mixing,
                                                 const arma::mat& regressors) {
  if (mixing.n_rows != regressors.n_rows) {
    return absl::InvalidArgumentError(
        absl::StrCat("the mixing matrix has ", mixing.n_rows,
                     " time points, the regressors ", regressors.n_rows));
  }
  arma::mat out(mixing.n_cols, regressors.n_cols);
  for (arma::uword k = 0; k < mixing.n_cols; ++k) {
    for (arma::uword c = 0; c < regressors.n_cols; ++c) {
      auto r = TimeCourseCorrelation(
          absl::MakeConstSpan(mixing.colptr(k), mixing.n_rows),
          absl::MakeConstSpan(regressors.colptr(c), regressors.n_rows));
      if (!r.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "component ", k, ", regressor ", c, ": ", r.status().message()));
      }
      out(k, c) = *r;
    }
  }
  return out;
}

double NetworkDice(const std::vector<int64_t>& ica_units,
                   const std::vector<int64_t>& glm_units) {
  return analysis::UnitOverlap(ica_units, glm_units).dice;
}

}  // namespace fnprobe::ica
