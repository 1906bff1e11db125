// Block-permutation max-t threshold and the Bonferroni / FDR helpers.
#include "server/analysis/block_permutation.h"

#include <armadillo>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/p_values.h"
#include "server/analysis/thresholds.h"
#include "tests/analysis/glm_fixture.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::analysis {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::StatusIs;

class BlockPermutationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    x_ = testing::LoadX("boxcar_cosine128");
    y_ = testing::LoadY();
    contrast_ = arma::vec(x_.n_cols, arma::fill::zeros);
    contrast_[0] = 1;
    options_.block_length = 20;  // One off/A/off/B block each.
    options_.condition_columns = {0, 1};
    options_.num_permutations = 200;
    options_.seed = 42;
  }
  arma::mat x_, y_;
  arma::vec contrast_;
  BlockPermutationOptions options_;
};

// Same seed, same maxima; another seed, other maxima.
TEST_F(BlockPermutationTest, DeterministicForSeed) {
  auto a = BlockPermutationMaxT(x_, y_, contrast_, options_);
  auto b = BlockPermutationMaxT(x_, y_, contrast_, options_);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_TRUE(arma::all(a->max_t == b->max_t));
  EXPECT_EQ(a->threshold, b->threshold);
  options_.seed = 43;
  auto c = BlockPermutationMaxT(x_, y_, contrast_, options_);
  ASSERT_THAT(c, IsOk());
  EXPECT_FALSE(arma::all(a->max_t == c->max_t));
}

// The family-wise threshold is at least the uncorrected one-sided t
// threshold at the same alpha.
TEST_F(BlockPermutationTest, AtLeastUncorrectedThreshold) {
  auto r = BlockPermutationMaxT(x_, y_, contrast_, options_);
  ASSERT_THAT(r, IsOk());
  const double uncorrected = TQuantileUpper(0.05, x_.n_rows - x_.n_cols);
  EXPECT_GE(r->threshold, uncorrected);
  EXPECT_EQ(r->max_t.n_elem, 200u);
}

TEST_F(BlockPermutationTest, RejectsBadOptions) {
  BlockPermutationOptions bad = options_;
  bad.block_length = 200;
  EXPECT_THAT(BlockPermutationMaxT(x_, y_, contrast_, bad),
              StatusIs(absl::StatusCode::kInvalidArgument));
  bad = options_;
  bad.condition_columns = {99};
  EXPECT_THAT(BlockPermutationMaxT(x_, y_, contrast_, bad),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(BlockPermutationMaxT(x_, y_.rows(0, 99), contrast_, options_),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Hand-checked BH: p = .01 .04 .03 .20 over 4 units.
TEST(ThresholdsTest, FdrAndBonferroniByHand) {
  const arma::vec p = {0.01, 0.04, 0.03, 0.20};
  const arma::vec q = FdrBhQValues(p);
  EXPECT_NEAR(q[0], 0.04, 1e-15);
  EXPECT_NEAR(q[1], 0.04 * 4 / 3, 1e-15);
  EXPECT_NEAR(q[2], 0.04 * 4 / 3, 1e-15);
  EXPECT_NEAR(q[3], 0.20, 1e-15);
  EXPECT_THAT(
      arma::conv_to<std::vector<arma::uword>>::from(FdrBhSelect(p, 0.05)),
      ::testing::ElementsAre(0));
  EXPECT_THAT(
      arma::conv_to<std::vector<arma::uword>>::from(FdrBhSelect(p, 0.06)),
      ::testing::ElementsAre(0, 1, 2));
  EXPECT_THAT(
      arma::conv_to<std::vector<arma::uword>>::from(BonferroniSelect(p, 0.05)),
      ::testing::ElementsAre(0));
}

}  // namespace
}  // namespace fnprobe::analysis
