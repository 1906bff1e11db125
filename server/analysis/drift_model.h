// Low-frequency drift regressors for the GLM design, after nipy 0.5
// (nipy/modalities/fmri/design_matrix.py): a DCT-II cosine basis below a
// cut-off period, or polynomials orthogonalized in increasing order; the
// constant column always comes last.
//
// Free functions over values; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_DRIFT_MODEL_H_
#define FNPROBE_SERVER_ANALYSIS_DRIFT_MODEL_H_

#include <armadillo>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fnprobe::analysis {

enum class DriftModel {
  kNone,        // Constant only (nipy "blank").
  kCosine,      // Cosines with periods >= the cut-off, plus constant.
  kPolynomial,  // Orthogonalized t^1..t^order, plus constant.
};

// Drift columns (T x d) and their names: drift_1 .. drift_{d-1}, constant.
struct DriftColumns {
  arma::mat columns;
  std::vector<std::string> names;
};

// Builds the drift block for `frame_times` (seconds, >= 2 increasing entries
// for kCosine and kPolynomial). INVALID_ARGUMENT for a non-positive cut-off
// or a negative order; INTERNAL if the linear algebra fails.
absl::StatusOr<DriftColumns> MakeDrift(DriftModel model,
                                       const std::vector<double>& frame_times,
                                       double cutoff_period_s, int order);

// nipy _orthogonalize: each column minus its projection on the preceding
// columns (not normalized). May throw std::runtime_error from Armadillo;
// callers convert.
void OrthogonalizeColumns(arma::mat& x);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_DRIFT_MODEL_H_
