// fnprobe_ica's library: recovery of the planted fixture (every source at
// |corr| >= 0.95 after Hungarian matching, as the reference's peer does at
// 0.996), the null (Gaussian noise: networks at the Gaussian tail rate,
// low stability), determinism, and every error path.
#include "server/analysis/ica/spatial_ica.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "server/analysis/ica/hungarian.h"
#include "server/analysis/ica/icasso.h"
#include "tests/analysis/ica/ica_test_util.h"

namespace fnprobe::ica {
namespace {

using ::fnprobe::ica::testing::GaussianFrames;
using ::fnprobe::ica::testing::LoadPlantedFixture;
using ::fnprobe::ica::testing::MatchedAbsCorrelation;
using ::fnprobe::ica::testing::PlantedFrames;
using ::fnprobe::ica::testing::ToFrames;
using ::testing::HasSubstr;

IcaOptions FixtureOptions() {
  IcaOptions o;
  o.components = 4;
  return o;
}

bool SameBytes(const arma::mat& a, const arma::mat& b) {
  return a.n_rows == b.n_rows && a.n_cols == b.n_cols &&
         std::memcmp(a.memptr(), b.memptr(), a.n_elem * sizeof(double)) == 0;
}

// --- parity with the planted fixture ---------------------------------------

struct ParityCase {
  Contrast fun;
  PcaMethod pca;
  uint64_t seed;
};

class FixtureParityTest : public ::testing::TestWithParam<ParityCase> {};

TEST_P(FixtureParityTest, RecoversEveryPlantedSource) {
  const auto fixture = LoadPlantedFixture();
  ASSERT_EQ(fixture.x.n_rows, 200u);
  ASSERT_EQ(fixture.x.n_cols, 1500u);
  IcaOptions o = FixtureOptions();
  o.fun = GetParam().fun;
  o.pca = GetParam().pca;
  o.seed = GetParam().seed;
  auto result = RunSpatialIca(ToFrames(fixture.x), o);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->maps.n_rows, 1500u);
  ASSERT_EQ(result->maps.n_cols, 4u);
  ASSERT_EQ(result->mixing.n_rows, 200u);
  ASSERT_EQ(result->mixing.n_cols, 4u);
  const arma::vec corr = MatchedAbsCorrelation(
      result->maps, arma::conv_to<arma::mat>::from(fixture.sources));
  for (arma::uword i = 0; i < corr.n_elem; ++i) {
    EXPECT_GE(corr(i), 0.95) << "planted source " << i;
  }
  // The time courses come back too (same matching, |corr| of columns).
  const arma::vec tc = MatchedAbsCorrelation(
      result->mixing, arma::conv_to<arma::mat>::from(fixture.timecourses.t()));
  EXPECT_GE(tc.min(), 0.95);
  std::cout << "fixture " << ContrastName(o.fun) << " seed " << o.seed
            << (result->randomized_pca ? " randomized" : " exact")
            << ": matched |corr| min " << corr.min() << " mean "
            << arma::mean(corr) << ", iterations " << result->iterations[0]
            << "\n";
}

INSTANTIATE_TEST_SUITE_P(
    ContrastsSeedsAndReductions, FixtureParityTest,
    ::testing::Values(ParityCase{Contrast::kLogcosh, PcaMethod::kAuto, 0},
                      ParityCase{Contrast::kLogcosh, PcaMethod::kAuto, 1},
                      ParityCase{Contrast::kLogcosh, PcaMethod::kAuto, 12345},
                      ParityCase{Contrast::kCube, PcaMethod::kAuto, 0},
                      ParityCase{Contrast::kExp, PcaMethod::kAuto, 0},
                      ParityCase{Contrast::kLogcosh, PcaMethod::kRandomized, 0},
                      ParityCase{Contrast::kLogcosh, PcaMethod::kExact, 7}));

TEST(SpatialIcaTest, FixtureMapsAreZScoredWithPositiveTails) {
  const auto fixture = LoadPlantedFixture();
  auto result = RunSpatialIca(ToFrames(fixture.x), FixtureOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  double previous = 2;
  for (arma::uword c = 0; c < 4; ++c) {
    const arma::vec m = result->maps.col(c);
    EXPECT_NEAR(arma::mean(m), 0.0, 1e-9);
    EXPECT_NEAR(std::sqrt(arma::mean(arma::square(m))), 1.0, 1e-9);
    EXPECT_GT(arma::accu(arma::pow(m, 3)), 0.0) << "long tail positive";
    const IcaComponent& comp = result->components[c];
    EXPECT_GT(comp.skewness, 0);
    EXPECT_TRUE(std::isnan(comp.stability)) << "one restart: no stability";
    EXPECT_LE(comp.explained_variance, previous) << "sorted by variance";
    previous = comp.explained_variance;
    // The network is exactly the units beyond the threshold.
    EXPECT_EQ(comp.network.size(), arma::accu(arma::abs(m) > kDefaultNetworkZ));
    EXPECT_GT(comp.network.size(), 0u);
  }
  EXPECT_GT(result->pca_explained_variance, 0.5);
  EXPECT_LE(result->pca_explained_variance, 1.0);
}

TEST(SpatialIcaTest, MixingTimesMapsReconstructsTheCentredData) {
  const auto fixture = LoadPlantedFixture();
  arma::mat x = arma::conv_to<arma::mat>::from(fixture.x);
  x.each_col() -= arma::mean(x, 1);
  auto result = RunSpatialIca(ToFrames(fixture.x), FixtureOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  const arma::mat approx = result->mixing * result->maps.t();
  // Residual = the variance outside the 4-dimensional subspace.
  const double kept =
      1.0 - arma::accu(arma::square(x - approx)) / arma::accu(arma::square(x));
  EXPECT_NEAR(kept, result->pca_explained_variance, 1e-5);
  double summed = 0;
  for (const auto& c : result->components) summed += c.explained_variance;
  EXPECT_NEAR(summed, result->pca_explained_variance, 1e-5);
}

TEST(SpatialIcaTest, RestartsGiveHighStabilityOnPlantedSources) {
  const auto fixture = LoadPlantedFixture();
  IcaOptions o = FixtureOptions();
  o.restarts = 8;
  auto result = RunSpatialIca(ToFrames(fixture.x), o);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(result->iterations.size(), 8u);
  for (const auto& c : result->components) {
    EXPECT_GT(c.stability, 0.9);
    EXPECT_LE(c.stability, 1.0 + 1e-12);
  }
  const arma::vec corr = MatchedAbsCorrelation(
      result->maps, arma::conv_to<arma::mat>::from(fixture.sources));
  EXPECT_GE(corr.min(), 0.95);
}

TEST(SpatialIcaTest, DoublePrecisionInputRecoversTheFixtureToo) {
  const auto fixture = LoadPlantedFixture();
  auto result = RunSpatialIca(
      arma::conv_to<arma::mat>::from(ToFrames(fixture.x)), FixtureOptions());
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_GE(MatchedAbsCorrelation(
                result->maps, arma::conv_to<arma::mat>::from(fixture.sources))
                .min(),
            0.95);
}

TEST(SpatialIcaTest, LargerPlantedProblemWithRandomizedPca) {
  arma::mat planted;
  arma::fmat frames = PlantedFrames(20000, 600, 6, 1.0, 99, &planted);
  IcaOptions o;
  o.components = 6;
  auto result = RunSpatialIca(std::move(frames), o);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->randomized_pca);
  const arma::vec corr = MatchedAbsCorrelation(result->maps, planted);
  EXPECT_GE(corr.min(), 0.95) << corr.t();
}

// --- the null ----------------------------------------------------------------

// On pure Gaussian noise no unit belongs to a network beyond the rate
// |z| > 3.6 has for a Gaussian: 2 (1 - Φ(3.6)) = 3.18e-4 per unit and
// component. K V trials; bound at the binomial mean ± 5 standard
// deviations (a one-in-a-million band), checked on the real count.
TEST(SpatialIcaNullTest, NetworksAppearAtTheGaussianTailRate) {
  const arma::uword v = 40000, t = 200;
  const int k = 10;
  IcaOptions o;
  o.components = k;
  auto result = RunSpatialIca(GaussianFrames(v, t, 2024), o);
  ASSERT_TRUE(result.ok()) << result.status();
  const double p = std::erfc(3.6 / std::sqrt(2.0));  // two-sided tail
  EXPECT_NEAR(p, 3.18e-4, 1e-6);
  const double n = static_cast<double>(v) * k;
  const double mean = n * p, sd = std::sqrt(n * p * (1 - p));
  arma::uword count = 0;
  for (const auto& c : result->components) count += c.network.size();
  std::cout << "null: " << count << " of " << n << " unit-components beyond "
            << "|z| 3.6 (rate " << count / n << "; Gaussian " << p
            << ", expected " << mean << " +- " << sd << ")\n";
  EXPECT_GE(static_cast<double>(count), mean - 5 * sd);
  EXPECT_LE(static_cast<double>(count), mean + 5 * sd);
  // No component looks like a planted one: every map is near-Gaussian.
  for (const auto& c : result->components) EXPECT_LT(c.skewness, 0.2);
}

TEST(SpatialIcaNullTest, StabilityIsLowOnNoiseAndHighOnPlantedSources) {
  IcaOptions o;
  o.components = 6;
  o.restarts = 10;
  auto noise = RunSpatialIca(GaussianFrames(5000, 100, 7), o);
  ASSERT_TRUE(noise.ok()) << noise.status();
  arma::mat planted;
  auto signal = RunSpatialIca(PlantedFrames(5000, 100, 6, 1.0, 7, &planted), o);
  ASSERT_TRUE(signal.ok()) << signal.status();
  arma::vec iq_noise(6), iq_signal(6);
  for (int c = 0; c < 6; ++c) {
    iq_noise(c) = noise->components[c].stability;
    iq_signal(c) = signal->components[c].stability;
  }
  std::cout << "stability Iq, noise: " << iq_noise.t()
            << "stability Iq, planted: " << iq_signal.t();
  // Planted components come back from every resample (Iq 0.99 here);
  // noise components do not (Iq 0.43-0.73 here, mean 0.59). In 6
  // dimensions chance alone gives clusters of |corr| ~0.7 against ~0.35
  // outside, hence noise's Iq is well above 0.
  EXPECT_GT(iq_signal.min(), 0.95);
  EXPECT_LT(arma::mean(iq_noise), 0.7);
  EXPECT_LT(arma::mean(iq_noise), iq_signal.min() - 0.25);
}

// --- determinism
// ---------------------------------------------------------------

TEST(SpatialIcaTest, SameSeedSameBytesDifferentSeedDifferentStart) {
  const auto fixture = LoadPlantedFixture();
  IcaOptions o = FixtureOptions();
  o.seed = 42;
  o.restarts = 3;
  auto a = RunSpatialIca(ToFrames(fixture.x), o);
  auto b = RunSpatialIca(ToFrames(fixture.x), o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_TRUE(SameBytes(a->maps, b->maps));
  EXPECT_TRUE(SameBytes(a->mixing, b->mixing));
  EXPECT_EQ(a->iterations, b->iterations);
  o.seed = 43;
  auto c = RunSpatialIca(ToFrames(fixture.x), o);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(SameBytes(a->maps, c->maps));
}

TEST(SpatialIcaTest, ThreadCountDoesNotChangeTheBytes) {
  arma::mat planted;
  const arma::fmat frames = PlantedFrames(60000, 50, 5, 1.0, 3, &planted);
  IcaOptions o;
  o.components = 5;
  o.pca = PcaMethod::kRandomized;
  o.threads = 1;
  auto one = RunSpatialIca(frames, o);
  o.threads = 4;
  auto four = RunSpatialIca(frames, o);
  ASSERT_TRUE(one.ok() && four.ok());
  EXPECT_TRUE(SameBytes(one->maps, four->maps));
  EXPECT_TRUE(SameBytes(one->mixing, four->mixing));
}

// --- errors
// --------------------------------------------------------------------

TEST(SpatialIcaErrorTest, ComponentsBeyondTheRankBound) {
  auto r = RunSpatialIca(GaussianFrames(50, 10, 1), [] {
    IcaOptions o;
    o.components = 11;
    return o;
  }());
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("components (11)"));
  EXPECT_THAT(r.status().message(), HasSubstr("10 time points x 50 units"));
}

TEST(SpatialIcaErrorTest, ComponentsBeyondTheNumericalRank) {
  // Rank 3 exactly (after centring): K = 5 has two empty directions.
  const arma::mat a = SeededGaussian(40, 3, 1), s = SeededGaussian(3, 500, 2);
  for (PcaMethod pca : {PcaMethod::kExact, PcaMethod::kRandomized}) {
    IcaOptions o;
    o.components = 5;
    o.pca = pca;
    auto r = RunSpatialIca(arma::mat((a * s).t()), o);
    ASSERT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(r.status().message(), HasSubstr("numerical rank"));
    o.components = 3;
    EXPECT_TRUE(RunSpatialIca(arma::mat((a * s).t()), o).ok());
  }
}

TEST(SpatialIcaErrorTest, NonFiniteValuesAreNamed) {
  for (float bad : {std::nanf(""), std::numeric_limits<float>::infinity()}) {
    arma::fmat frames = GaussianFrames(100, 20, 5);
    frames(17, 9) = bad;  // unit 17, time point 9
    auto r = RunSpatialIca(frames, [] {
      IcaOptions o;
      o.components = 3;
      return o;
    }());
    ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(r.status().message(), HasSubstr("time point 9, unit 17"));
  }
}

TEST(SpatialIcaErrorTest, TooFewTimePointsOrUnits) {
  IcaOptions o;
  o.components = 1;
  auto one_time = RunSpatialIca(GaussianFrames(100, 1, 1), o);
  EXPECT_THAT(one_time.status().message(), HasSubstr("at least 2 time points"));
  auto two_units = RunSpatialIca(GaussianFrames(2, 10, 1), o);
  EXPECT_THAT(two_units.status().message(), HasSubstr("at least 3 units"));
}

TEST(SpatialIcaErrorTest, BadOptions) {
  const arma::fmat frames = GaussianFrames(100, 20, 1);
  auto run = [&](auto edit) {
    IcaOptions o;
    o.components = 2;
    edit(o);
    return RunSpatialIca(frames, o).status();
  };
  EXPECT_THAT(run([](IcaOptions& o) { o.components = 0; }).message(),
              HasSubstr("components must be at least 1"));
  EXPECT_THAT(run([](IcaOptions& o) { o.restarts = 0; }).message(),
              HasSubstr("restarts"));
  EXPECT_THAT(run([](IcaOptions& o) { o.max_iter = 0; }).message(),
              HasSubstr("max-iter"));
  EXPECT_THAT(run([](IcaOptions& o) { o.tol = -1; }).message(),
              HasSubstr("tol"));
  EXPECT_THAT(run([](IcaOptions& o) { o.z = std::nan(""); }).message(),
              HasSubstr("z must be"));
  EXPECT_THAT(ParseContrast("tanh").status().message(),
              HasSubstr("logcosh, cube or exp"));
  EXPECT_EQ(*ParseContrast("CUBE"), Contrast::kCube);
}

TEST(SpatialIcaTest, NonConvergenceIsReportedNotAnError) {
  const auto fixture = LoadPlantedFixture();
  IcaOptions o = FixtureOptions();
  o.max_iter = 1;
  o.tol = 1e-15;
  auto r = RunSpatialIca(ToFrames(fixture.x), o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->iterations[0], 1);
  EXPECT_FALSE(r->converged[0]);
}

// --- pieces
// --------------------------------------------------------------------

TEST(HungarianTest, FindsTheBestAssignmentNotTheGreedyOne) {
  // Greedy takes (0,0) = 10 and then (1,1) = 1: 11. Best is 9 + 9 = 18.
  const arma::mat w = {{10, 9}, {9, 1}};
  EXPECT_EQ(MaxWeightMatching(w), (std::vector<int>{1, 0}));
  const arma::mat wide = {{1, 5, 2}, {4, 6, 1}};
  EXPECT_EQ(MaxWeightMatching(wide), (std::vector<int>{1, 0}));
  EXPECT_EQ(MaxWeightMatching(arma::mat(wide.t())),
            (std::vector<int>{1, 0, -1}));
}

TEST(IcassoTest, AverageLinkageSeparatesTwoObviousGroups) {
  const arma::mat sim = {
      {1, .9, .1, .1}, {.9, 1, .1, .2}, {.1, .1, 1, .8}, {.1, .2, .8, 1}};
  EXPECT_EQ(AverageLinkage(sim, 2), (std::vector<int>{0, 0, 1, 1}));
  EXPECT_EQ(AverageLinkage(sim, 4), (std::vector<int>{0, 1, 2, 3}));
}

TEST(IcassoTest, IdenticalRestartsAreFullyStable) {
  const arma::mat w = SymmetricDecorrelation(SeededGaussian(3, 3, 9));
  // Same components, permuted and sign-flipped in the second run.
  arma::mat w2 = -w.rows(arma::uvec{2, 0, 1});
  IcassoResult r = ClusterRestarts({w, w2});
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(r.best_run_stability(c), 1.0, 1e-12);
  }
}

}  // namespace
}  // namespace fnprobe::ica
