#include "server/analysis/glm_accumulator.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"

namespace fnprobe::analysis {

absl::StatusOr<GlmAccumulator> GlmAccumulator::Create(const arma::mat& x,
                                                      int64_t num_units) {
  if (num_units <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "glm accumulator: num_units must be > 0, got ", num_units));
  }
  FNPROBE_ASSIGN_OR_RETURN(DesignFactor design, FactorDesign(x));
  return GlmAccumulator(x, std::move(design), num_units);
}

GlmAccumulator::GlmAccumulator(const arma::mat& x, DesignFactor design,
                               int64_t num_units)
    : x_(x),
      design_(std::move(design)),
      yt_x_(num_units, x.n_cols, arma::fill::zeros),
      sum_y2_(num_units, arma::fill::zeros),
      block_y_(num_units, kBlockRows),
      block_x_(kBlockRows, x.n_cols),
      seen_(x.n_rows, false) {}

absl::Status GlmAccumulator::CheckRow(int64_t t, int64_t n) const {
  if (t < 0 || t >= static_cast<int64_t>(x_.n_rows)) {
    return absl::OutOfRangeError(absl::StrCat("glm accumulator: time point ", t,
                                              " outside [0, ", x_.n_rows, ")"));
  }
  if (n != num_units()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "glm accumulator: row has ", n, " units, expected ", num_units()));
  }
  if (seen_[t]) {
    return absl::AlreadyExistsError(
        absl::StrCat("glm accumulator: time point ", t, " already added"));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status GlmAccumulator::AddRow(int64_t t, const T* y, int64_t n) {
  FNPROBE_RETURN_IF_ERROR(CheckRow(t, n));
  double* dst = block_y_.colptr(staged_);
  double* sums = sum_y2_.memptr();
  for (int64_t v = 0; v < n; ++v) {
    const double value = static_cast<double>(y[v]);
    dst[v] = value;
    sums[v] += value * value;
  }
  block_x_.row(staged_) = x_.row(t);
  seen_[t] = true;
  ++rows_added_;
  if (++staged_ == kBlockRows) FlushBlock();
  return absl::OkStatus();
}

absl::Status GlmAccumulator::Add(int64_t t, const float* y, int64_t n) {
  return AddRow(t, y, n);
}

absl::Status GlmAccumulator::Add(int64_t t, const double* y, int64_t n) {
  return AddRow(t, y, n);
}

void GlmAccumulator::FlushBlock() {
  if (staged_ == 0) return;
  if (staged_ == kBlockRows) {
    yt_x_ += block_y_ * block_x_;
  } else {
    yt_x_ += block_y_.head_cols(staged_) * block_x_.head_rows(staged_);
  }
  staged_ = 0;
}

arma::mat GlmAccumulator::XtY() const {
  if (staged_ == 0) return yt_x_.t();
  return (yt_x_ + block_y_.head_cols(staged_) * block_x_.head_rows(staged_))
      .t();
}

absl::StatusOr<OlsFit> GlmAccumulator::Fit() const {
  if (rows_added_ != static_cast<int64_t>(x_.n_rows)) {
    return absl::FailedPreconditionError(
        absl::StrCat("glm accumulator: ", rows_added_, " of ", x_.n_rows,
                     " time points added"));
  }
  return SolveFromSufficientStatistics(design_, XtY(), sum_y2_);
}

}  // namespace fnprobe::analysis
