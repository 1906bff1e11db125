// glm_comparison.h: Pearson r against a two-pass formula and known values
// (a block regressor against itself, its negation, an orthogonal one),
// every error path, and Dice against the set formula.
#include "server/analysis/ica/glm_comparison.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include "server/analysis/ica/pca_reduction.h"

namespace fnprobe::ica {
namespace {

using ::testing::HasSubstr;

TEST(TimeCourseCorrelationTest, KnownValues) {
  const std::vector<double> block = {0, 0, 1, 1, 0, 0, 1, 1};
  const std::vector<double> neg = {5, 5, 3, 3, 5, 5, 3, 3};
  const std::vector<double> orth = {1, -1, 1, -1, 1, -1, 1, -1};
  EXPECT_DOUBLE_EQ(*TimeCourseCorrelation(block, block), 1.0);
  EXPECT_DOUBLE_EQ(*TimeCourseCorrelation(block, neg), -1.0);
  EXPECT_NEAR(*TimeCourseCorrelation(block, orth), 0.0, 1e-15);
}

TEST(TimeCourseCorrelationTest, AgreesWithArmadillo) {
  const arma::mat x = SeededGaussian(300, 2, 5);
  const arma::vec a = x.col(0), b = 0.6 * x.col(0) + 0.8 * x.col(1) + 3;
  const double expected = arma::as_scalar(arma::cor(a, b));
  EXPECT_NEAR(*TimeCourseCorrelation(absl::MakeConstSpan(a.memptr(), a.n_elem),
                                     absl::MakeConstSpan(b.memptr(), b.n_elem)),
              expected, 1e-12);
  EXPECT_NEAR(expected, 0.6, 0.1);
}

TEST(TimeCourseCorrelationTest, Errors) {
  const std::vector<double> a = {1, 2, 3}, b = {1, 2}, c = {4, 4, 4};
  EXPECT_THAT(TimeCourseCorrelation(a, b).status().message(),
              HasSubstr("3 time points, the regressor 2"));
  EXPECT_THAT(
      TimeCourseCorrelation(std::vector<double>{1}, std::vector<double>{2})
          .status()
          .message(),
      HasSubstr("at least 2"));
  EXPECT_THAT(TimeCourseCorrelation(a, c).status().message(),
              HasSubstr("regressor is constant"));
  EXPECT_THAT(TimeCourseCorrelation(c, a).status().message(),
              HasSubstr("time course is constant"));
  const std::vector<double> bad = {1, std::nan(""), 3};
  EXPECT_THAT(TimeCourseCorrelation(bad, a).status().message(),
              HasSubstr("not finite"));
  // A constant series whose mean does not round exactly.
  const std::vector<double> tenth(7, 0.1);
  EXPECT_FALSE(
      TimeCourseCorrelation(tenth, std::vector<double>{1, 2, 3, 4, 5, 6, 7})
          .ok());
}

TEST(TimeCourseCorrelationsTest, MatrixMatchesPairs) {
  const arma::mat mixing = SeededGaussian(50, 3, 1);
  const arma::mat regressors = SeededGaussian(50, 2, 2);
  auto r = TimeCourseCorrelations(mixing, regressors);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->n_rows, 3u);
  ASSERT_EQ(r->n_cols, 2u);
  EXPECT_TRUE(
      arma::approx_equal(*r, arma::cor(mixing, regressors), "absdiff", 1e-12));
  arma::mat constant = regressors;
  constant.col(1).fill(2.0);
  EXPECT_THAT(TimeCourseCorrelations(mixing, constant).status().message(),
              HasSubstr("component 0, regressor 1"));
  EXPECT_FALSE(TimeCourseCorrelations(mixing, regressors.rows(0, 10)).ok());
}

TEST(NetworkDiceTest, AgreesWithSetFormula) {
  const std::vector<int64_t> a = {1, 3, 5, 7, 9}, b = {3, 4, 5, 6};
  std::vector<int64_t> common;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(),
                        std::back_inserter(common));
  EXPECT_DOUBLE_EQ(NetworkDice(a, b),
                   2.0 * common.size() / (a.size() + b.size()));
  EXPECT_DOUBLE_EQ(NetworkDice(a, b), 4.0 / 9.0);
  EXPECT_DOUBLE_EQ(NetworkDice(a, a), 1.0);
  EXPECT_DOUBLE_EQ(NetworkDice({}, {}), 0.0);
  EXPECT_DOUBLE_EQ(NetworkDice(a, {}), 0.0);
}

}  // namespace
}  // namespace fnprobe::ica
