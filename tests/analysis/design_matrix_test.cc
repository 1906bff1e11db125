// DesignMatrixBuilder and its parts: events parsing, option validation, HRF
// names, drift shapes. Parity with nipy is in glm_parity_test.
#include "server/analysis/design_matrix.h"

#include <armadillo>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::analysis {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ParseEventsTsvTest, ReadsColumnsInAnyOrder) {
  auto events =
      ParseEventsTsv("trial_type\tonset\tduration\nB\t4\t2\nA\t0\t1\n");
  ASSERT_THAT(events, IsOk());
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].trial_type, "B");
  EXPECT_EQ((*events)[0].onset, 4);
  EXPECT_EQ((*events)[1].duration, 1);
}

TEST(ParseEventsTsvTest, RejectsMissingColumnsAndBadNumbers) {
  EXPECT_THAT(ParseEventsTsv("onset\ttrial_type\n1\tA\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      ParseEventsTsv("onset\tduration\ttrial_type\nx\t1\tA\n"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("line 2")));
  EXPECT_THAT(ParseEventsTsv(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ParseHrfModelTest, KnowsNipyNamesAndRejectsOthers) {
  EXPECT_EQ(*ParseHrfModel("fir"), HrfModel::kNone);
  EXPECT_EQ(*ParseHrfModel("spm"), HrfModel::kSpm);
  EXPECT_EQ(*ParseHrfModel("canonical"), HrfModel::kGlover);
  EXPECT_THAT(ParseHrfModel("gamma"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("gamma")));
}

// Conditions sort by name; boxcars are 1 inside the block; names follow
// nipy; the last column is the constant.
TEST(DesignMatrixBuilderTest, BoxcarWithoutDrift) {
  DesignOptions options;
  options.num_frames = 20;
  options.hrf = HrfModel::kNone;
  options.drift = DriftModel::kNone;
  auto design = DesignMatrixBuilder(options).Build({{10, 5, "B"}, {2, 4, "A"}});
  ASSERT_THAT(design, IsOk());
  EXPECT_THAT(design->column_names,
              ElementsAre("A_delay_0", "B_delay_0", "constant"));
  EXPECT_EQ(design->x(3, 0), 1.0);
  EXPECT_EQ(design->x(12, 1), 1.0);
  EXPECT_EQ(design->x(0, 0), 0.0);
  EXPECT_TRUE(arma::all(design->x.col(2) == 1.0));
}

// The HRF regressor peaks some seconds after the onset, and a tr of 0.5 s
// keeps the shape in seconds.
TEST(DesignMatrixBuilderTest, GloverResponseLagsOnset) {
  DesignOptions options;
  options.num_frames = 60;
  options.drift = DriftModel::kPolynomial;
  options.polynomial_order = 2;
  auto design = DesignMatrixBuilder(options).Build({{10, 1, "A"}});
  ASSERT_THAT(design, IsOk());
  EXPECT_THAT(design->column_names,
              ElementsAre("A", "drift_1", "drift_2", "constant"));
  const arma::uword peak = design->x.col(0).index_max();
  EXPECT_GE(peak, 14u);
  EXPECT_LE(peak, 17u);

  options.tr = 0.5;
  options.num_frames = 120;
  auto half = DesignMatrixBuilder(options).Build({{10, 1, "A"}});
  ASSERT_THAT(half, IsOk());
  const double peak_s = half->x.col(0).index_max() * 0.5;
  EXPECT_NEAR(peak_s, static_cast<double>(peak), 1.0);
}

TEST(DesignMatrixBuilderTest, RejectsBadOptions) {
  DesignOptions options;
  options.num_frames = 1;
  EXPECT_THAT(DesignMatrixBuilder(options).Build({}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options.num_frames = 10;
  options.tr = 0;
  EXPECT_THAT(DesignMatrixBuilder(options).Build({}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options.tr = 1;
  EXPECT_THAT(DesignMatrixBuilder(options).Build({{1, -1, "A"}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  options.cosine_cutoff_s = 0;
  EXPECT_THAT(DesignMatrixBuilder(options).Build({{1, 1, "A"}}),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fnprobe::analysis
