// GlmAccumulator: streamed sufficient statistics give the batch OLS fit
// whatever the row order or row precision; misuse is reported, not fatal.
#include "server/analysis/glm_accumulator.h"

#include <algorithm>
#include <armadillo>
#include <numeric>
#include <random>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/contrast.h"
#include "server/analysis/ols_fit.h"
#include "tests/analysis/glm_fixture.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::analysis {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::StatusIs;

class GlmAccumulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    x_ = testing::LoadX("spm_cosine128");
    y_ = testing::LoadY();
  }
  arma::mat x_, y_;
};

// Rows in a shuffled order (fixed seed) give the batch fit to rounding.
TEST_F(GlmAccumulatorTest, RandomRowOrderMatchesBatchOls) {
  auto batch = FitOls(x_, y_);
  ASSERT_THAT(batch, IsOk());
  auto acc = GlmAccumulator::Create(x_, y_.n_cols);
  ASSERT_THAT(acc, IsOk());
  std::vector<arma::uword> order(y_.n_rows);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(7);
  std::shuffle(order.begin(), order.end(), rng);
  const arma::mat yt = y_.t();
  for (arma::uword t : order) {
    ASSERT_THAT(acc->Add(t, yt.colptr(t), yt.n_rows), IsOk());
  }
  auto fit = acc->Fit();
  ASSERT_THAT(fit, IsOk());
  EXPECT_LE(testing::MaxRelativeDiff(fit->beta, batch->beta), 1e-10);
  EXPECT_LE(testing::MaxRelativeDiff(fit->sigma2, batch->sigma2), 1e-10);
  EXPECT_EQ(fit->df, batch->df);
}

// float32 rows are widened exactly: the fit equals the batch fit of the
// float-rounded data.
TEST_F(GlmAccumulatorTest, Float32RowsMatchBatchOfRoundedData) {
  const arma::fmat yf = arma::conv_to<arma::fmat>::from(y_);
  auto batch = FitOls(x_, arma::conv_to<arma::mat>::from(yf));
  ASSERT_THAT(batch, IsOk());
  auto acc = GlmAccumulator::Create(x_, yf.n_cols);
  ASSERT_THAT(acc, IsOk());
  const arma::fmat yt = yf.t();
  for (arma::uword t = yt.n_cols; t-- > 0;) {
    ASSERT_THAT(acc->Add(t, yt.colptr(t), yt.n_rows), IsOk());
  }
  auto fit = acc->Fit();
  ASSERT_THAT(fit, IsOk());
  EXPECT_LE(testing::MaxRelativeDiff(fit->beta, batch->beta), 1e-10);
  EXPECT_LE(testing::MaxRelativeDiff(fit->sigma2, batch->sigma2), 1e-10);
  auto t_stream = TStatistic(*fit, arma::vec{1, 0, 0, 0, 0, 0, 0});
  auto t_batch = TStatistic(*batch, arma::vec{1, 0, 0, 0, 0, 0, 0});
  ASSERT_THAT(t_stream, IsOk());
  ASSERT_THAT(t_batch, IsOk());
  EXPECT_LE(testing::MaxRelativeDiff(*t_stream, *t_batch), 1e-10);
}

// Sizes, ranges, duplicates and early Fit are errors that change nothing.
TEST_F(GlmAccumulatorTest, RejectsMisuse) {
  auto acc = GlmAccumulator::Create(x_, 3);
  ASSERT_THAT(acc, IsOk());
  const double row[3] = {1, 2, 3};
  EXPECT_THAT(acc->Add(0, row, 2),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(acc->Add(-1, row, 3), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(acc->Add(x_.n_rows, row, 3),
              StatusIs(absl::StatusCode::kOutOfRange));
  ASSERT_THAT(acc->Add(5, row, 3), IsOk());
  EXPECT_THAT(acc->Add(5, row, 3), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(acc->rows_added(), 1);
  EXPECT_THAT(acc->Fit(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

// A design with a repeated column is singular; one with p >= T has no
// residual degrees of freedom; zero units is invalid.
TEST_F(GlmAccumulatorTest, RejectsBadDesigns) {
  arma::mat singular = arma::join_rows(x_, x_.col(0));
  EXPECT_THAT(GlmAccumulator::Create(singular, 4),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("singular")));
  EXPECT_THAT(GlmAccumulator::Create(arma::mat(3, 3, arma::fill::eye), 4),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(GlmAccumulator::Create(x_, 0),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(FitOls(x_, y_.rows(0, 9)),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Contrasts of the wrong length or dependent F rows are rejected.
TEST_F(GlmAccumulatorTest, RejectsBadContrasts) {
  auto fit = FitOls(x_, y_);
  ASSERT_THAT(fit, IsOk());
  EXPECT_THAT(TStatistic(*fit, arma::vec{1, 0}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  arma::mat dependent(2, x_.n_cols, arma::fill::zeros);
  dependent(0, 0) = dependent(1, 0) = 1;
  EXPECT_THAT(FStatistic(*fit, dependent),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fnprobe::analysis
