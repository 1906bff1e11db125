// Comparing spatial ICA with the GLM on the same activations (issue 14):
// does a component's time course follow a condition's regressor, and does
// its network overlap that condition's GLM network?
//
// Time courses are mixing columns (IcaResult::mixing, T x K); regressors are
// design-matrix columns over the same T time points. The correlation is
// Pearson's r, so neither scale nor offset matters, but the component's sign
// does: orient the maps first (RunSpatialIca's skewness convention, or
// OrientMapsByPeak) so that r > 0 means the network's units rise with the
// condition.
//
// Thread-safety: free functions without state.
#ifndef FNPROBE_SERVER_ANALYSIS_ICA_GLM_COMPARISON_H_
#define FNPROBE_SERVER_ANALYSIS_ICA_GLM_COMPARISON_H_

#include <armadillo>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace fnprobe::ica {

// Pearson correlation of a time course with a regressor. INVALID_ARGUMENT
// when the lengths differ, are below 2, a value is not finite, or either
// series is constant (r is undefined, and 0 would read as "unrelated").
absl::StatusOr<double> TimeCourseCorrelation(
    absl::Span<const double> time_course, absl::Span<const double> regressor);

// K x C matrix of TimeCourseCorrelation between every column of `mixing`
// (T x K) and every column of `regressors` (T x C), with the same errors
// (naming the column).
absl::StatusOr<arma::mat> TimeCourseCorrelations(const arma::mat& mixing,
                                                 const arma::mat& regressors);

// Dice 2|A n B| / (|A| + |B|) of an ICA network with a GLM network (0 when
// both are empty), via analysis::UnitOverlap. REQUIRES: both ascending
// without duplicates (as ComponentNetworkUnits and analysis::Network are).
double NetworkDice(const std::vector<int64_t>& ica_units,
                   const std::vector<int64_t>& glm_units);

}  // namespace fnprobe::ica

#endif  // FNPROBE_SERVER_ANALYSIS_ICA_GLM_COMPARISON_H_
