// GlmAccumulator: streaming OLS for V units over a fixed design X (T x p).
// Frames arrive one time point at a time, in any order; it keeps only the
// sufficient statistics X'Y (p x V) and per-unit sum of y^2 (V), never the
// T x V data. Rows are staged into a small float64 block (V x kBlockRows,
// one contiguous column per row) and folded into X'Y with one GEMM per block.
//
// Invariant: each time point is added at most once; Fit() needs all T.
// Thread-safety: not thread-safe; const methods may run concurrently with
// each other but not with Add.
#ifndef FNPROBE_SERVER_ANALYSIS_GLM_ACCUMULATOR_H_
#define FNPROBE_SERVER_ANALYSIS_GLM_ACCUMULATOR_H_

#include <armadillo>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/analysis/ols_fit.h"

namespace fnprobe::analysis {

class GlmAccumulator {
 public:
  // Rows staged before one GEMM into X'Y.
  static constexpr arma::uword kBlockRows = 16;

  // An accumulator for `num_units` units over design `x`. INVALID_ARGUMENT
  // for num_units == 0 and for FactorDesign's errors (singular design, no
  // residual degrees of freedom).
  static absl::StatusOr<GlmAccumulator> Create(const arma::mat& x,
                                               int64_t num_units);

  GlmAccumulator(GlmAccumulator&&) = default;
  GlmAccumulator& operator=(GlmAccumulator&&) = default;

  // Adds the data y (num_units values) of time point t. OUT_OF_RANGE for
  // t outside [0, T); INVALID_ARGUMENT if n != num_units; ALREADY_EXISTS if
  // t was added before. On error nothing changes.
  absl::Status Add(int64_t t, const float* y, int64_t n);
  absl::Status Add(int64_t t, const double* y, int64_t n);

  // The OLS fit of everything added. FAILED_PRECONDITION until all T time
  // points have been added.
  absl::StatusOr<OlsFit> Fit() const;

  // X'Y (p x V) so far, including staged rows.
  arma::mat XtY() const;
  const arma::vec& SumSquares() const { return sum_y2_; }
  const DesignFactor& design_factor() const { return design_; }
  int64_t rows_added() const { return rows_added_; }
  int64_t num_units() const { return static_cast<int64_t>(sum_y2_.n_elem); }

 private:
  GlmAccumulator(const arma::mat& x, DesignFactor design, int64_t num_units);

  absl::Status CheckRow(int64_t t, int64_t n) const;
  template <typename T>
  absl::Status AddRow(int64_t t, const T* y, int64_t n);
  void FlushBlock();

  // Constant after construction.
  arma::mat x_;
  DesignFactor design_;

  arma::mat yt_x_;     // V x p: (X'Y)' of the flushed rows.
  arma::vec sum_y2_;   // V
  arma::mat block_y_;  // V x kBlockRows: staged rows, one per column.
  arma::mat block_x_;  // kBlockRows x p: their design rows.
  arma::uword staged_ = 0;
  std::vector<bool> seen_;
  int64_t rows_added_ = 0;
};

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_GLM_ACCUMULATOR_H_
