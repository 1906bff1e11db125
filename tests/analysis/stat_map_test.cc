// StatMap: maps from OLS and AR(1) fits against TStatistic and known
// Student-t p-values, zero-variance units, fixed effects against a
// hand-computed two-run example, and the blob codec (round trip, every
// truncation, corruption).
#include "server/analysis/stat_map.h"

#include <armadillo>
#include <cmath>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/ar1.h"
#include "server/analysis/contrast.h"
#include "server/analysis/ols_fit.h"
#include "server/analysis/p_values.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::analysis {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;

// A boxcar, a linear trend and the constant, T = 40.
arma::mat SmallDesign() {
  const arma::uword t = 40;
  arma::mat x(t, 3);
  for (arma::uword i = 0; i < t; ++i) {
    x(i, 0) = (i >= 10 && i < 30) ? 1.0 : 0.0;
    x(i, 1) = static_cast<double>(i) / t;
    x(i, 2) = 1.0;
  }
  return x;
}

// Noise, an effect of 2 in unit 0, and a constant unit 3.
arma::mat SmallData(const arma::mat& x) {
  arma::arma_rng::set_seed(11);
  arma::mat y = arma::randn(x.n_rows, 4);
  y.col(0) += 2.0 * x.col(0);
  y.col(3).fill(0.0);
  return y;
}

// A one-column fit with effect `beta`, sigma2 `s2`, unit design variance.
OlsFit OneColumnFit(const arma::rowvec& beta, const arma::vec& s2, double df) {
  OlsFit fit;
  fit.beta = beta;
  fit.sigma2 = s2;
  fit.rss = s2 * df;
  fit.xtx_pinv = arma::mat(1, 1, arma::fill::ones);
  fit.df = df;
  return fit;
}

TEST(MapFromOlsTest, MatchesTStatisticAndEffectVariance) {
  const arma::mat x = SmallDesign();
  auto fit = FitOls(x, SmallData(x));
  ASSERT_THAT(fit, IsOk());
  const arma::vec c{1, 0, 0};
  auto map = MapFromOls(*fit, c, "A > rest");
  ASSERT_THAT(map, IsOk());
  auto t = TStatistic(*fit, c);
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(map->contrast, "A > rest");
  EXPECT_EQ(map->noise_model, "OLS");
  EXPECT_EQ(map->dof, 37.0);
  EXPECT_TRUE(
      arma::approx_equal(map->effect, fit->beta.row(0).t(), "reldiff", 1e-12));
  const double factor = arma::as_scalar(c.t() * fit->xtx_pinv * c);
  EXPECT_TRUE(arma::approx_equal(
      map->variance.head(3), fit->sigma2.head(3) * factor, "reldiff", 1e-12));
  EXPECT_TRUE(arma::approx_equal(map->t.head(3), t->head(3), "reldiff", 1e-12));
  EXPECT_TRUE(arma::approx_equal(map->p.head(3),
                                 TPValues(t->head(3), 37.0, Tail::kTwoSided),
                                 "reldiff", 1e-12));
  EXPECT_GT(map->t[0], 4.0);  // the planted effect
}

// Two-sided Student t: p(|T| >= 2 | df 10) = 0.07338803477 (mpmath).
TEST(MapFromOlsTest, TwoSidedPMatchesStudentT) {
  auto map = MapFromOls(OneColumnFit({2.0, -2.0}, {1.0, 1.0}, 10),
                        arma::vec{1.0}, "c");
  ASSERT_THAT(map, IsOk());
  EXPECT_DOUBLE_EQ(map->t[0], 2.0);
  EXPECT_DOUBLE_EQ(map->t[1], -2.0);
  EXPECT_NEAR(map->p[0], 0.0733880347707404, 1e-12);
  EXPECT_NEAR(map->p[1], 0.0733880347707404, 1e-12);
}

// Constant data (sigma2 0) and broken fits (non-finite) carry no evidence.
TEST(MapFromOlsTest, ZeroOrNonFiniteVarianceGivesTZeroPOne) {
  auto map = MapFromOls(OneColumnFit({0.0, 3.0, 1.0, arma::datum::nan},
                                     {0.0, 0.0, arma::datum::nan, 1.0}, 10),
                        arma::vec{1.0}, "c");
  ASSERT_THAT(map, IsOk());
  for (arma::uword u = 0; u < 4; ++u) {
    EXPECT_EQ(map->t[u], 0.0) << u;
    EXPECT_EQ(map->p[u], 1.0) << u;
    EXPECT_EQ(map->variance[u], 0.0) << u;
  }
  EXPECT_EQ(map->effect[1], 3.0);  // a noise-free effect keeps its size
  EXPECT_EQ(map->effect[3], 0.0);  // a non-finite one does not
}

// Constant units through real fits: all zero (exact), and nonzero
// constants, whose residuals are rounding (sigma2 ~1e-29, not 0) and would
// otherwise give t of order 1 to 5. A unit with tiny but real variation
// (1e-7 relative, f32-sized) keeps its statistic.
TEST(MapFromOlsTest, ConstantUnitsThroughFitsAreTZeroPOne) {
  const arma::mat x = SmallDesign();
  arma::mat y = SmallData(x);
  y.col(1).fill(5.0);
  y.col(2).fill(-1234.5);
  arma::vec tiny = 1e-7 * arma::randn(x.n_rows);
  y = arma::join_rows(y, 3.0 + tiny + 2e-7 * x.col(0));
  auto fit = FitOls(x, y);
  ASSERT_THAT(fit, IsOk());
  auto map = MapFromOls(*fit, arma::vec{1, 0, 0}, "c");
  ASSERT_THAT(map, IsOk());
  for (arma::uword u : {1u, 2u, 3u}) {
    EXPECT_EQ(map->t[u], 0.0) << u;
    EXPECT_EQ(map->p[u], 1.0) << u;
    EXPECT_EQ(map->variance[u], 0.0) << u;
  }
  auto t = TStatistic(*fit, arma::vec{1, 0, 0});
  ASSERT_THAT(t, IsOk());
  EXPECT_NEAR(map->t[4], (*t)[4], 1e-9 * std::abs((*t)[4]));
  EXPECT_GT(std::abs(map->t[4]), 2.0);

  auto ar1 = FitAr1(x, y);
  ASSERT_THAT(ar1, IsOk());
  auto ar1_map = MapFromAr1(*ar1, arma::vec{1, 0, 0}, "c");
  ASSERT_THAT(ar1_map, IsOk());
  for (arma::uword u : {1u, 2u, 3u}) EXPECT_EQ(ar1_map->t[u], 0.0) << u;
  EXPECT_NE(ar1_map->t[4], 0.0);
}

TEST(MapFromOlsTest, RejectsBadContrasts) {
  const OlsFit fit = OneColumnFit({1.0}, {1.0}, 5);
  EXPECT_THAT(
      MapFromOls(fit, arma::vec{1.0, 0.0}, "c"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("2 entries")));
  EXPECT_THAT(MapFromOls(fit, arma::vec{0.0}, "c"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(MapFromAr1Test, MatchesAr1TStatistic) {
  const arma::mat x = SmallDesign();
  arma::mat y = SmallData(x);
  y.col(3) = arma::randn(x.n_rows);  // AR(1) needs residuals everywhere
  for (arma::uword t = 1; t < y.n_rows; ++t) y.row(t) += 0.5 * y.row(t - 1);
  auto fit = FitAr1(x, y);
  ASSERT_THAT(fit, IsOk());
  const arma::vec c{1, 0, 0};
  auto map = MapFromAr1(*fit, c, "A > rest");
  ASSERT_THAT(map, IsOk());
  auto t = TStatistic(*fit, c);
  ASSERT_THAT(t, IsOk());
  EXPECT_EQ(map->noise_model, "AR1");
  EXPECT_EQ(map->dof, fit->df);
  EXPECT_TRUE(arma::approx_equal(map->t, *t, "reldiff", 1e-12));
  EXPECT_TRUE(
      arma::approx_equal(map->effect, fit->beta.row(0).t(), "reldiff", 1e-12));
  EXPECT_TRUE(arma::approx_equal(map->p, TPValues(*t, fit->df, Tail::kTwoSided),
                                 "reldiff", 1e-12));
  EXPECT_THAT(MapFromAr1(*fit, arma::vec{1.0}, "c"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

StatMap Map(const arma::vec& effect, const arma::vec& variance, double dof) {
  StatMap m;
  m.contrast = "A > rest";
  m.effect = effect;
  m.variance = variance;
  m.t = arma::vec(effect.n_elem, arma::fill::zeros);
  m.p = arma::vec(effect.n_elem, arma::fill::ones);
  m.dof = dof;
  return m;
}

// Unit 0: equal weights: effect 2, variance 1/2, t 2 sqrt 2.
// Unit 1: weights 1/4 and 1: effect (1/2 + 2) / (5/4) = 2, variance 4/5.
// Unit 2: zero variance in run 1: run 2 alone (effect 5, variance 2).
// Unit 3: zero variance everywhere: t 0, p 1, variance 0, mean effect 4.
// dof 10 + 12 = 22; p by mpmath.
TEST(FixedEffectsTest, HandComputedTwoRuns) {
  const StatMap a = Map({1, 2, 7, 3}, {1, 4, 0, 0}, 10);
  const StatMap b = Map({3, 2, 5, 5}, {1, 1, 2, 0}, 12);
  auto fe = FixedEffects({&a, &b});
  ASSERT_THAT(fe, IsOk());
  EXPECT_EQ(fe->contrast, "A > rest");
  EXPECT_EQ(fe->dof, 22.0);
  EXPECT_TRUE(
      arma::approx_equal(fe->effect, arma::vec{2, 2, 5, 4}, "absdiff", 1e-12));
  EXPECT_TRUE(arma::approx_equal(fe->variance, arma::vec{0.5, 0.8, 2, 0},
                                 "absdiff", 1e-12));
  EXPECT_NEAR(fe->t[0], 2.0 * std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(fe->t[1], 2.0 / std::sqrt(0.8), 1e-12);
  EXPECT_NEAR(fe->t[2], 5.0 / std::sqrt(2.0), 1e-12);
  EXPECT_EQ(fe->t[3], 0.0);
  EXPECT_NEAR(fe->p[0], 0.00978222569311237, 1e-12);
  EXPECT_NEAR(fe->p[1], 0.0358124407293632, 1e-12);
  EXPECT_EQ(fe->p[3], 1.0);
}

TEST(FixedEffectsTest, OneRunIsItself) {
  const StatMap a = Map({1, -3}, {4, 1}, 10);
  auto fe = FixedEffects({&a});
  ASSERT_THAT(fe, IsOk());
  EXPECT_TRUE(arma::approx_equal(fe->t, arma::vec{0.5, -3}, "absdiff", 1e-12));
  EXPECT_EQ(fe->dof, 10.0);
}

TEST(FixedEffectsTest, RejectsNoMapsAndDifferentSizes) {
  EXPECT_THAT(FixedEffects({}), StatusIs(absl::StatusCode::kInvalidArgument));
  const StatMap a = Map({1, 2}, {1, 1}, 10);
  const StatMap b = Map({1, 2, 3}, {1, 1, 1}, 10);
  EXPECT_THAT(FixedEffects({&a, &b}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("map 1")));
  EXPECT_THAT(FixedEffects({&a, nullptr}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

StatMap Sample() {
  auto map = MapFromOls(OneColumnFit({2.0, -1.5, 0.25}, {1.0, 0.0, 4.0}, 10),
                        arma::vec{1.0}, "pathology > rest");
  EXPECT_OK(map);
  return *map;
}

TEST(StatMapCodecTest, RoundTripsExactly) {
  const StatMap map = Sample();
  auto back = DecodeStatMap(EncodeStatMap(map));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->contrast, "pathology > rest");
  EXPECT_EQ(back->noise_model, "OLS");
  EXPECT_EQ(back->dof, 10.0);
  EXPECT_TRUE(arma::approx_equal(back->effect, map.effect, "absdiff", 0.0));
  EXPECT_TRUE(arma::approx_equal(back->variance, map.variance, "absdiff", 0));
  EXPECT_TRUE(arma::approx_equal(back->t, map.t, "absdiff", 0.0));
  EXPECT_TRUE(arma::approx_equal(back->p, map.p, "absdiff", 0.0));
}

TEST(StatMapCodecTest, EmptyMapRoundTrips) {
  StatMap empty;
  auto back = DecodeStatMap(EncodeStatMap(empty));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->effect.n_elem, 0u);
}

// Layout: 4 magic + 4 version + 8 units + 8 dof + (4 + 16) contrast
// + (4 + 3) noise + 3 units x 4 arrays x 8 + 8 checksum.
TEST(StatMapCodecTest, LayoutIsLittleEndianWithKnownSize) {
  const std::string blob = EncodeStatMap(Sample());
  EXPECT_EQ(blob.size(), 4u + 4 + 8 + 8 + 20 + 7 + 96 + 8);
  EXPECT_EQ(blob.substr(0, 4), "FNSM");
  EXPECT_EQ(blob[4], 1);  // version, low byte first
  EXPECT_EQ(blob[8], 3);  // units
}

TEST(StatMapCodecTest, EveryTruncationIsDataLoss) {
  const std::string blob = EncodeStatMap(Sample());
  for (size_t n = 0; n < blob.size(); ++n) {
    EXPECT_THAT(DecodeStatMap(blob.substr(0, n)),
                StatusIs(absl::StatusCode::kDataLoss))
        << n << " bytes";
  }
  EXPECT_THAT(DecodeStatMap(blob + "x"), StatusIs(absl::StatusCode::kDataLoss));
}

TEST(StatMapCodecTest, EveryFlippedByteIsDataLoss) {
  const std::string blob = EncodeStatMap(Sample());
  for (size_t i = 0; i < blob.size(); ++i) {
    std::string bad = blob;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    EXPECT_THAT(DecodeStatMap(bad), StatusIs(absl::StatusCode::kDataLoss))
        << "byte " << i;
  }
}

TEST(StatMapCodecTest, HugeUnitCountIsDataLossNotAllocation) {
  std::string blob = EncodeStatMap(Sample());
  for (int i = 8; i < 16; ++i) blob[i] = static_cast<char>(0xff);
  EXPECT_THAT(DecodeStatMap(blob), StatusIs(absl::StatusCode::kDataLoss,
                                            HasSubstr("size disagrees")));
  EXPECT_THAT(DecodeStatMap("not a stat map at all"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("magic")));
}

}  // namespace
}  // namespace fnprobe::analysis
