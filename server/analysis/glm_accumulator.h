// GlmAccumulator: streaming OLS for V units over a fixed design X (T x p).
// Frames arrive one time point at a time (Add) or in blocks (AddRows), in
// any order; it keeps only the sufficient statistics X'Y (p x V) and the
// per-unit sum of y^2 (V), never the T x V data.
//
// Arithmetic is float64 throughout: float32 rows are widened in registers
// (exactly) and every product and sum is formed in float64, so float32 and
// float64 input give the same statistics to float64 rounding. A fused kernel
// (AVX-512 or AVX2 where the CPU has it) folds a block of rows into X'Y and
// sum y^2 in one pass over the data; Add stages rows in a block of at most
// kStageBytes per input precision, AddRows folds its rows in place.
//
// Invariant: each time point is added at most once; Fit() needs all T.
// Thread-safety: not thread-safe; const methods may run concurrently with
// each other but not with Add/AddRows. Folding a block may use up to
// num_threads() threads internally.
#ifndef FNPROBE_SERVER_ANALYSIS_GLM_ACCUMULATOR_H_
#define FNPROBE_SERVER_ANALYSIS_GLM_ACCUMULATOR_H_

#include <armadillo>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/analysis/ols_fit.h"

namespace fnprobe::analysis {

class GlmAccumulator {
 public:
  // Bytes of rows staged by Add (per input precision) before they are
  // folded into the statistics: between kMinStageRows and kMaxStageRows
  // rows.
  static constexpr int64_t kStageBytes = int64_t{32} << 20;
  static constexpr int64_t kMinStageRows = 16;
  static constexpr int64_t kMaxStageRows = 256;

  // An accumulator for `num_units` units over design `x`. INVALID_ARGUMENT
  // for num_units == 0 and for FactorDesign's errors (singular design, no
  // residual degrees of freedom).
  static absl::StatusOr<GlmAccumulator> Create(const arma::mat& x,
                                               int64_t num_units);

  GlmAccumulator(GlmAccumulator&&) = default;
  GlmAccumulator& operator=(GlmAccumulator&&) = default;

  // Adds the data y (num_units values) of time point t. OUT_OF_RANGE for
  // t outside [0, T); INVALID_ARGUMENT if n != num_units; ALREADY_EXISTS if
  // t was added before. On error nothing changes. The row is copied.
  absl::Status Add(int64_t t, const float* y, int64_t n);
  absl::Status Add(int64_t t, const double* y, int64_t n);

  // Adds `count` rows at once: row r is rows[r * n, (r + 1) * n), the data
  // of time point t[r] (for example a chunk of the activation store). The
  // same as `count` calls of Add, but all or nothing: Add's errors for any
  // row, ALREADY_EXISTS for a time point repeated within the block, and
  // INVALID_ARGUMENT for count < 0 change nothing. Blocks of at least
  // kMinStageRows rows are folded in place (not copied); smaller ones are
  // staged as by Add.
  absl::Status AddRows(const int64_t* t, const float* rows, int64_t count,
                       int64_t n);
  absl::Status AddRows(const int64_t* t, const double* rows, int64_t count,
                       int64_t n);

  // Threads that fold a block of rows, each taking a share of the units: 0
  // (the default) means one per hardware thread; 1 keeps all work on the
  // calling thread. Small blocks always run on the calling thread.
  void set_num_threads(int num_threads) { num_threads_ = num_threads; }
  int num_threads() const { return num_threads_; }

  // The OLS fit of everything added. FAILED_PRECONDITION until all T time
  // points have been added.
  absl::StatusOr<OlsFit> Fit() const;

  // X'Y (p x V) and the per-unit sum of y^2 (V) so far, staged rows
  // included.
  arma::mat XtY() const;
  arma::vec SumSquares() const;
  const DesignFactor& design_factor() const { return design_; }
  int64_t rows_added() const { return rows_added_; }
  int64_t num_units() const { return num_units_; }

 private:
  // Memory from AllocateBlock (not zeroed; huge-page advised when large).
  struct FreeBlock {
    void operator()(void* p) const;
  };
  template <typename T>
  using Block = std::unique_ptr<T[], FreeBlock>;

  // Rows of one input precision waiting to be folded.
  template <typename T>
  struct Stage {
    Block<T> rows;  // capacity x V, row-major; allocated on first use.
    std::vector<int64_t> time_points;
  };

  GlmAccumulator(const arma::mat& x, DesignFactor design, int64_t num_units);

  absl::Status CheckRow(int64_t t, int64_t n) const;
  template <typename T>
  absl::Status AddRow(int64_t t, const T* y, int64_t n);
  template <typename T>
  absl::Status AddBlock(const int64_t* t, const T* rows, int64_t count,
                        int64_t n);
  // Copies a checked row into its stage; folds the stage when full.
  template <typename T>
  void StageRow(int64_t t, const T* y);
  template <typename T>
  Stage<T>& StageFor();
  // Rows a stage of element type T holds.
  template <typename T>
  int64_t StageCapacity() const;
  // Folds `count` rows (row r at rows + r * n, time point t[r]) into the
  // V x p matrix `yt_x` (column-major) and `sum_y2`.
  template <typename T>
  void Fold(const int64_t* t, const T* rows, int64_t count, double* yt_x,
            double* sum_y2) const;
  template <typename T>
  void FlushStage();
  // X'Y (p x V, column-major) and sum y^2 (V), staged rows included.
  void Totals(double* xty, double* sum_y2) const;

  // Constant after construction.
  arma::mat x_;   // T x p
  arma::mat xt_;  // p x T: design rows as contiguous columns.
  DesignFactor design_;
  int64_t num_units_ = 0;
  int64_t stage_capacity_ = 0;  // Rows.

  Block<double> yt_x_;    // V x p, column-major: (X'Y)' of folded rows.
  Block<double> sum_y2_;  // V
  Stage<float> stage_f32_;
  Stage<double> stage_f64_;
  std::vector<bool> seen_;
  int64_t rows_added_ = 0;
  int num_threads_ = 0;
};

namespace glm_internal {

// For tests: folds use at most this kernel (the best the CPU has when it
// lacks the one asked for). kBest restores the default.
enum class KernelForTesting { kPortable, kAvx2, kBest };
void SetKernelForTesting(KernelForTesting kernel);

}  // namespace glm_internal
}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_GLM_ACCUMULATOR_H_
