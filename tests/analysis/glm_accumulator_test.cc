// GlmAccumulator: streamed sufficient statistics give the batch OLS fit
// whatever the row order or row precision; misuse is reported, not fatal.
#include "server/analysis/glm_accumulator.h"

#include <algorithm>
#include <armadillo>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <tuple>
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

// Random data of `units` units: a shared offset (so that sum y^2 is far from
// the residual sum of squares) plus noise, float32, as T x V.
arma::fmat RandomData(arma::uword t, arma::uword units, unsigned seed) {
  arma::arma_rng::set_seed(seed);
  arma::fmat y(t, units, arma::fill::randn);
  y += 10.0f;
  return y;
}

// A design of `p` columns: intercept, a boxcar, then cosines.
arma::mat CosineDesign(arma::uword t, arma::uword p) {
  arma::mat x(t, p);
  for (arma::uword i = 0; i < t; ++i) {
    x(i, 0) = 1;
    if (p > 1) x(i, 1) = (i / 10) % 2;
    for (arma::uword k = 2; k < p; ++k) {
      x(i, k) = std::cos(M_PI * (k - 1) * (i + 0.5) / t);
    }
  }
  return x;
}

// max |a - b| / scale, with scale(k, v) = sum_t |x_tk y_tv|: the error
// bound of a float64 dot product is a multiple of eps times that (entries of
// X'Y near zero make a plain relative difference meaningless).
double MaxScaledDiff(const arma::mat& a, const arma::mat& b,
                     const arma::mat& scale) {
  const arma::mat d =
      arma::abs(a - b) / arma::clamp(scale, 1e-300, arma::datum::inf);
  return d.max();
}

// The statistics X'Y and sum y^2 in float64 from the float32 data, directly,
// to `tolerance` in units of sum |x y| (sum y^2 for sum y^2).
void ExpectStatisticsMatch(const GlmAccumulator& acc, const arma::mat& x,
                           const arma::fmat& y, double tolerance) {
  const arma::mat yd = arma::conv_to<arma::mat>::from(y);
  const arma::mat want_xty = x.t() * yd;
  const arma::mat scale = arma::abs(x).t() * arma::abs(yd);
  const arma::vec want_sum_y2 = arma::sum(arma::square(yd), 0).t();
  EXPECT_LE(MaxScaledDiff(acc.XtY(), want_xty, scale), tolerance);
  EXPECT_LE(testing::MaxRelativeDiff(acc.SumSquares(), want_sum_y2), tolerance);
}

// AddRows in blocks of every size class (in place, and staged below
// kMinStageRows), mixed with Add, in shuffled order, with float32 and
// float64 rows: the statistics match the direct float64 computation to
// 1e-13 of sum |x y| for every design width (one to three column groups)
// and unit count (vector strips plus a scalar tail), on every kernel
// (portable, AVX2, the best the CPU has).
class GlmAccumulatorShapesTest
    : public ::testing::TestWithParam<
          std::tuple<int, int, glm_internal::KernelForTesting>> {};

TEST_P(GlmAccumulatorShapesTest, BlocksAndRowsGiveTheDirectStatistics) {
  const auto [p, units, kernel] = GetParam();
  glm_internal::SetKernelForTesting(kernel);
  constexpr arma::uword kT = 300;
  const arma::mat x = CosineDesign(kT, p);
  const arma::fmat y = RandomData(kT, units, 3);
  const arma::fmat yt = y.t();  // Column t is frame t.
  const arma::mat ytd = arma::conv_to<arma::mat>::from(yt);
  std::vector<int64_t> order(kT);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(5);
  std::shuffle(order.begin(), order.end(), rng);
  // Gather frames in `order` into one contiguous block of rows.
  arma::fmat rows(units, kT);
  arma::mat rows_d(units, kT);
  for (arma::uword i = 0; i < kT; ++i) {
    rows.col(i) = yt.col(order[i]);
    rows_d.col(i) = ytd.col(order[i]);
  }
  auto acc = GlmAccumulator::Create(x, units);
  ASSERT_THAT(acc, IsOk());
  // Blocks of 70 and 5 rows (float32), 40 (float64), single rows of both.
  arma::uword i = 0;
  ASSERT_THAT(acc->AddRows(&order[i], rows.colptr(i), 70, units), IsOk());
  i += 70;
  ASSERT_THAT(acc->AddRows(&order[i], rows.colptr(i), 5, units), IsOk());
  i += 5;
  ASSERT_THAT(acc->AddRows(&order[i], rows_d.colptr(i), 40, units), IsOk());
  i += 40;
  for (; i < 200; ++i) {
    ASSERT_THAT(acc->Add(order[i], rows.colptr(i), units), IsOk());
  }
  for (; i < 260; ++i) {
    ASSERT_THAT(acc->Add(order[i], rows_d.colptr(i), units), IsOk());
  }
  ASSERT_THAT(acc->AddRows(&order[i], rows.colptr(i), kT - i, units), IsOk());
  EXPECT_EQ(acc->rows_added(), static_cast<int64_t>(kT));
  ExpectStatisticsMatch(*acc, x, y, 1e-13);

  auto fit = acc->Fit();
  ASSERT_THAT(fit, IsOk());
  auto batch = FitOls(x, arma::conv_to<arma::mat>::from(y));
  ASSERT_THAT(batch, IsOk());
  EXPECT_LE(testing::MaxRelativeDiff(fit->beta, batch->beta), 1e-9);
  EXPECT_LE(testing::MaxRelativeDiff(fit->sigma2, batch->sigma2), 1e-9);
  glm_internal::SetKernelForTesting(glm_internal::KernelForTesting::kBest);
}

INSTANTIATE_TEST_SUITE_P(
    DesignWidthsAndUnits, GlmAccumulatorShapesTest,
    ::testing::Combine(
        ::testing::Values(1, 7, 8, 11, 17), ::testing::Values(1, 16, 83),
        ::testing::Values(glm_internal::KernelForTesting::kPortable,
                          glm_internal::KernelForTesting::kAvx2,
                          glm_internal::KernelForTesting::kBest)));

// Float32 rows are folded with float64 arithmetic: the statistics equal
// those of the same rows given as float64 to float64 rounding (1e-14 of
// sum |x y|), and the statistics seen before all rows arrive include the
// staged ones.
TEST_F(GlmAccumulatorTest, Float32AndFloat64RowsAgree) {
  constexpr arma::uword kT = 400, kUnits = 1000;
  const arma::mat x = CosineDesign(kT, 8);
  const arma::fmat yt = RandomData(kT, kUnits, 9).t();
  const arma::mat ytd = arma::conv_to<arma::mat>::from(yt);
  const arma::mat scale = arma::abs(x).t() * arma::abs(ytd).t();
  auto f32 = GlmAccumulator::Create(x, kUnits);
  auto f64 = GlmAccumulator::Create(x, kUnits);
  ASSERT_THAT(f32, IsOk());
  ASSERT_THAT(f64, IsOk());
  for (arma::uword t = 0; t < kT; ++t) {
    ASSERT_THAT(f32->Add(t, yt.colptr(t), kUnits), IsOk());
    ASSERT_THAT(f64->Add(t, ytd.colptr(t), kUnits), IsOk());
    if (t == 100) {  // Partly staged.
      const arma::mat part = ytd.cols(0, t);
      EXPECT_LE(MaxScaledDiff(f32->XtY(), x.rows(0, t).t() * part.t(), scale),
                1e-14);
      EXPECT_LE(testing::MaxRelativeDiff(f32->SumSquares(),
                                         arma::sum(arma::square(part), 1)),
                1e-14);
    }
  }
  EXPECT_LE(MaxScaledDiff(f32->XtY(), f64->XtY(), scale), 1e-14);
  EXPECT_LE(testing::MaxRelativeDiff(f32->SumSquares(), f64->SumSquares()),
            1e-14);
}

// Fit's fused solve gives SolveFromSufficientStatistics' result from the
// same statistics, to rounding.
TEST_F(GlmAccumulatorTest, FitEqualsSolveFromSufficientStatistics) {
  constexpr arma::uword kT = 300, kUnits = 77;
  for (arma::uword p : {1, 8, 13}) {
    const arma::mat x = CosineDesign(kT, p);
    const arma::fmat yt = RandomData(kT, kUnits, 12).t();
    auto acc = GlmAccumulator::Create(x, kUnits);
    ASSERT_THAT(acc, IsOk());
    for (arma::uword t = 0; t < kT; ++t) {
      ASSERT_THAT(acc->Add(t, yt.colptr(t), kUnits), IsOk());
    }
    auto fit = acc->Fit();
    ASSERT_THAT(fit, IsOk());
    const OlsFit want = SolveFromSufficientStatistics(
        acc->design_factor(), acc->XtY(), acc->SumSquares());
    EXPECT_LE(arma::abs(fit->beta - want.beta).max(),
              1e-13 * arma::abs(want.beta).max());
    // rss cancels down from sum y^2: compare on that scale.
    EXPECT_LE(arma::abs(fit->rss - want.rss).max(),
              1e-13 * acc->SumSquares().max());
    EXPECT_LE(testing::MaxRelativeDiff(fit->sigma2, want.sigma2), 1e-9);
    EXPECT_EQ(fit->df, want.df);
    EXPECT_TRUE(
        arma::approx_equal(fit->xtx_pinv, want.xtx_pinv, "absdiff", 0.0));
  }
}

// Folding on several threads splits the units; each unit's sums are formed
// in the same order, so the results are bitwise those of one thread.
TEST_F(GlmAccumulatorTest, ThreadsGiveIdenticalResults) {
  constexpr arma::uword kT = 256, kUnits = 5003;
  const arma::mat x = CosineDesign(kT, 8);
  const arma::fmat yt = RandomData(kT, kUnits, 4).t();
  std::vector<int64_t> t(kT);
  std::iota(t.begin(), t.end(), 0);
  auto one = GlmAccumulator::Create(x, kUnits);
  auto three = GlmAccumulator::Create(x, kUnits);
  ASSERT_THAT(one, IsOk());
  ASSERT_THAT(three, IsOk());
  one->set_num_threads(1);
  three->set_num_threads(3);
  EXPECT_EQ(three->num_threads(), 3);
  ASSERT_THAT(one->AddRows(t.data(), yt.memptr(), kT, kUnits), IsOk());
  ASSERT_THAT(three->AddRows(t.data(), yt.memptr(), kT, kUnits), IsOk());
  EXPECT_TRUE(arma::all(arma::vectorise(one->XtY() == three->XtY())));
  EXPECT_TRUE(arma::all(one->SumSquares() == three->SumSquares()));
}

// A rejected block changes nothing: not the statistics, not the record of
// which time points were added.
TEST_F(GlmAccumulatorTest, AddRowsIsAllOrNothing) {
  auto acc = GlmAccumulator::Create(x_, 3);
  ASSERT_THAT(acc, IsOk());
  const float rows[4 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  const int64_t repeated[4] = {1, 2, 1, 3};
  EXPECT_THAT(acc->AddRows(repeated, rows, 4, 3),
              StatusIs(absl::StatusCode::kAlreadyExists));
  const int64_t outside[4] = {1, 2, 3, static_cast<int64_t>(x_.n_rows)};
  EXPECT_THAT(acc->AddRows(outside, rows, 4, 3),
              StatusIs(absl::StatusCode::kOutOfRange));
  const int64_t fine[4] = {1, 2, 3, 4};
  EXPECT_THAT(acc->AddRows(fine, rows, 4, 2),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(acc->AddRows(fine, rows, -1, 3),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(acc->rows_added(), 0);
  EXPECT_TRUE(arma::all(arma::vectorise(acc->XtY()) == 0));
  ASSERT_THAT(acc->AddRows(fine, rows, 0, 3), IsOk());
  ASSERT_THAT(acc->AddRows(fine, rows, 4, 3), IsOk());
  EXPECT_EQ(acc->rows_added(), 4);
  const int64_t again[1] = {3};
  EXPECT_THAT(acc->AddRows(again, rows, 1, 3),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT(acc->Add(3, rows, 3), StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_EQ(acc->rows_added(), 4);
  EXPECT_DOUBLE_EQ(acc->SumSquares()(0), 1 + 16 + 49 + 100);
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
