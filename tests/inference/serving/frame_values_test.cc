#include "server/inference/serving/frame_values.h"

#include <memory>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fnprobe {
namespace {

using ::testing::ElementsAre;

// Two rows of width 6, each value 10 * row + column.
std::shared_ptr<const std::vector<float>> Step() {
  auto v = std::make_shared<std::vector<float>>();
  for (int r = 0; r < 2; ++r) {
    for (int c = 0; c < 6; ++c) v->push_back(static_cast<float>(10 * r + c));
  }
  return v;
}

TEST(FrameValuesTest, SharedRowIsCutByItsRunsWithoutCopyingWhenContiguous) {
  const auto step = Step();
  const FrameValues two_runs(
      step, 6, std::make_shared<const ColumnRuns>(ColumnRuns{{1, 2}, {4, 2}}));
  EXPECT_TRUE(two_runs.shared());
  EXPECT_EQ(two_runs.size(), 4);
  std::vector<float> scratch;
  EXPECT_THAT(two_runs.Contiguous(&scratch), ElementsAre(11, 12, 14, 15));
  EXPECT_THAT(two_runs.ToVector(), ElementsAre(11, 12, 14, 15));

  const FrameValues one_run(
      step, 0, std::make_shared<const ColumnRuns>(ColumnRuns{{2, 3}}));
  std::vector<float> unused;
  absl::Span<const float> view = one_run.Contiguous(&unused);
  EXPECT_EQ(view.data(), step->data() + 2);  // the step's own memory
  EXPECT_THAT(view, ElementsAre(2, 3, 4));
  EXPECT_TRUE(unused.empty());
}

TEST(FrameValuesTest, OwnedAndEmptyValues) {
  const FrameValues owned(std::vector<float>{1, 2, 3});
  EXPECT_FALSE(owned.shared());
  EXPECT_THAT(owned.ToVector(), ElementsAre(1, 2, 3));
  const FrameValues none;
  EXPECT_TRUE(none.empty());
  std::vector<float> scratch;
  EXPECT_TRUE(none.Contiguous(&scratch).empty());
}

}  // namespace
}  // namespace fnprobe
