// component_network.h: networks read off z-maps (checked against a direct
// scan and against spatial_ica.h's NetworkUnits), z-scoring (against
// numpy's ddof = 0 formula), and the peak orientation (the product
// mixing · mapsᵀ unchanged).
#include "server/analysis/ica/component_network.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "server/analysis/ica/pca_reduction.h"

namespace fnprobe::ica {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ComponentNetworkUnitsTest, ThresholdsAbsoluteZStrictly) {
  const std::vector<double> z = {0.0, 3.6, 3.61, -3.7, -3.6, 10.0, -0.5};
  EXPECT_THAT(ComponentNetworkUnits(z, 3.6), ElementsAre(2, 3, 5));
  EXPECT_THAT(ComponentNetworkUnits(z, 3.6, 1000),
              ElementsAre(1002, 1003, 1005));
  EXPECT_THAT(ComponentNetworkUnits(z, 100.0), IsEmpty());
  EXPECT_THAT(ComponentNetworkUnits({}, 3.6), IsEmpty());
}

TEST(ComponentNetworkUnitsTest, DefaultThresholdIsLius) {
  const std::vector<double> z = {3.59, 3.61};
  EXPECT_THAT(ComponentNetworkUnits(z), ElementsAre(1));
}

TEST(ComponentNetworkUnitsTest, NanNeverJoins) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_THAT(ComponentNetworkUnits(std::vector<double>{nan, 5.0, -inf}, 3.6),
              ElementsAre(1, 2));
}

TEST(ComponentNetworksTest, MatchesNetworkUnitsColumnByColumn) {
  arma::mat maps = SeededGaussian(500, 6, 7) * 1.8;
  const auto networks = ComponentNetworks(maps, 3.6, 0);
  ASSERT_EQ(networks.size(), 6u);
  size_t total = 0;
  for (int k = 0; k < 6; ++k) {
    const auto expected = NetworkUnits(maps, k, 3.6);
    ASSERT_EQ(networks[k].size(), expected.size()) << k;
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(networks[k][i], static_cast<int64_t>(expected[i]));
    }
    total += expected.size();
  }
  EXPECT_GT(total, 0u);  // the scale makes some units pass
}

TEST(ZScoreMapsTest, PopulationMomentsPerColumn) {
  arma::mat maps = SeededGaussian(400, 3, 11);
  maps.col(0) = maps.col(0) * 5 + 2;
  maps.col(2).fill(7.0);  // constant
  const arma::mat raw = maps;
  ZScoreMaps(&maps);
  for (int k = 0; k < 2; ++k) {
    // Second way: the formula by hand.
    const double mean = arma::accu(raw.col(k)) / 400;
    double ss = 0;
    for (double v : raw.col(k)) ss += (v - mean) * (v - mean);
    const double sd = std::sqrt(ss / 400);
    for (arma::uword i = 0; i < 400; ++i) {
      ASSERT_NEAR(maps(i, k), (raw(i, k) - mean) / sd, 1e-12);
    }
    EXPECT_NEAR(arma::mean(maps.col(k)), 0.0, 1e-12);
    EXPECT_NEAR(arma::stddev(maps.col(k), 1), 1.0, 1e-12);
  }
  EXPECT_TRUE(arma::all(maps.col(2) == 0));
}

TEST(OrientMapsByPeakTest, FlipsNegativePeaksAndTheirTimeCourses) {
  arma::mat maps = {{1.0, -1.0, 0.5}, {-4.0, 2.0, 0.1}, {2.0, 0.5, -0.2}};
  arma::mat mixing = SeededGaussian(10, 3, 3);
  const arma::mat product = mixing * maps.t();
  const arma::mat mixing_before = mixing;
  OrientMapsByPeak(&maps, &mixing);
  EXPECT_DOUBLE_EQ(maps(1, 0), 4.0);  // column 0: peak -4 flipped
  EXPECT_DOUBLE_EQ(maps(1, 1), 2.0);  // column 1: peak 2 kept
  EXPECT_DOUBLE_EQ(maps(0, 2), 0.5);  // column 2: peak 0.5 kept
  EXPECT_TRUE(
      arma::approx_equal(mixing.col(0), -mixing_before.col(0), "absdiff", 0));
  EXPECT_TRUE(arma::approx_equal(mixing.cols(1, 2), mixing_before.cols(1, 2),
                                 "absdiff", 0));
  EXPECT_TRUE(arma::approx_equal(mixing * maps.t(), product, "absdiff", 1e-12));
  // Networks do not depend on the sign.
  arma::mat flipped = -maps;
  EXPECT_EQ(ComponentNetworks(flipped, 1.5), ComponentNetworks(maps, 1.5));
  OrientMapsByPeak(&flipped, nullptr);
  EXPECT_TRUE(arma::approx_equal(flipped, maps, "absdiff", 0));
}

}  // namespace
}  // namespace fnprobe::ica
