// Per-unit moments of an experiment's stored activations (unit_moments.h):
// against the mean and variance computed directly from the values written
// to the runs' activation files by the store's own writer; only done runs
// count; past the cap every k-th row; a hook point the experiment did not
// capture is refused.
#include "server/analysis/worker/unit_moments.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/analysis/storage/activation_store.h"
#include "tests/analysis/worker/store_test_fixture.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::worker {
namespace {

using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;

class UnitMomentsTest : public store_test::StoreTest {
 protected:
  // Unit u at row t of run r: a large offset (so that a one-pass sum of
  // squares in float would lose the variance) plus a pattern whose spread
  // differs by unit.
  static float Value(int r, int t, int u) {
    return 1000.0f + static_cast<float>(u) +
           static_cast<float>((u + 1) * std::sin(0.7 * t + 1.3 * r + u));
  }

  // Writes run `index`'s activation file (float32, its plan's time points)
  // where Finished() says it is, marks it done and remembers its rows.
  void WriteAndFinish(int index, const Layout& layout) {
    const FinishedRun run = Finished(index, layout);
    ActivationWriterOptions options;
    options.dtype = DType::kF32;
    options.sync = false;
    auto writer =
        ActivationWriter::Create(run.file.path, layout.width(), options);
    ASSERT_OK(writer);
    for (int64_t t = 0; t < run.time_points; ++t) {
      std::vector<float> row(layout.width());
      for (int64_t u = 0; u < layout.width(); ++u) {
        row[u] = Value(index, static_cast<int>(t), static_cast<int>(u));
      }
      ASSERT_OK((*writer)->Append(t, row.data()));
      rows_.push_back(row);
    }
    ASSERT_OK((*writer)->Finish().status());
    ASSERT_OK(store_->experiments().MarkRunStarted(run_ids_[index]));
    ASSERT_OK(store_->experiments().MarkRunDone(run_ids_[index], run));
  }

  std::vector<std::vector<float>> rows_;  // every written row, in order
};

TEST_F(UnitMomentsTest, MatchesTheValuesWrittenToTheDoneRuns) {
  const int64_t id = Create();
  const Layout layout = store_test::SmallLayout();
  WriteAndFinish(0, layout);
  WriteAndFinish(3, layout);  // runs 1, 2, 4, 5 stay pending: not read
  ASSERT_OK_AND_ASSIGN(
      const auto moments,
      UnitMoments(store_->experiments(), id,
                  {"final_norm", "blocks.0.mlp_post", "final_norm"}));
  ASSERT_EQ(moments.size(), 2u);
  // blocks.0.mlp_post is units 4..9 of the layout, final_norm 16..19.
  for (const auto& [hook, first, width] :
       std::vector<std::tuple<std::string, int, int>>{
           {"blocks.0.mlp_post", 4, 6}, {"final_norm", 16, 4}}) {
    const HookMoments& m = moments.at(hook);
    ASSERT_EQ(m.mean.size(), static_cast<size_t>(width)) << hook;
    ASSERT_EQ(m.variance.size(), static_cast<size_t>(width)) << hook;
    EXPECT_EQ(m.rows, static_cast<int64_t>(rows_.size()));
    EXPECT_EQ(m.stride, 1);
    for (int u = 0; u < width; ++u) {
      double sum = 0;
      for (const auto& row : rows_) sum += row[first + u];
      const double mean = sum / rows_.size();
      double ss = 0;
      for (const auto& row : rows_) {
        ss += (row[first + u] - mean) * (row[first + u] - mean);
      }
      const double variance = ss / rows_.size();
      EXPECT_NEAR(m.mean[u], mean, 1e-9 * std::abs(mean)) << hook << u;
      EXPECT_NEAR(m.variance[u], variance, 1e-9 * variance) << hook << u;
      // The units' spreads differ (amplitude u + 1): a real variance.
      EXPECT_GT(variance, 0.1 * (first + u + 1) * (first + u + 1)) << hook;
    }
  }
  EXPECT_EQ(rows_.size(), 48u);  // two runs of 24 time points
}

// Past the cap, every k-th stored row across the runs: 48 rows x 10 units
// (blocks.0.mlp_post and final_norm) = 480 values, capped at 200, is
// stride 3 (rows 0, 3, ..., 45: 16 rows).
TEST_F(UnitMomentsTest, CapUsesEveryKthRow) {
  const int64_t id = Create();
  const Layout layout = store_test::SmallLayout();
  WriteAndFinish(2, layout);
  WriteAndFinish(5, layout);
  ASSERT_OK_AND_ASSIGN(
      const auto moments,
      UnitMoments(store_->experiments(), id,
                  {"blocks.0.mlp_post", "final_norm"}, /*max_values=*/200));
  const HookMoments& m = moments.at("final_norm");
  EXPECT_EQ(m.stride, 3);
  EXPECT_EQ(m.rows, 16);
  for (int u = 0; u < 4; ++u) {
    double sum = 0, ss = 0;
    for (size_t r = 0; r < rows_.size(); r += 3) sum += rows_[r][16 + u];
    const double mean = sum / 16;
    for (size_t r = 0; r < rows_.size(); r += 3) {
      ss += (rows_[r][16 + u] - mean) * (rows_[r][16 + u] - mean);
    }
    EXPECT_NEAR(m.mean[u], mean, 1e-9 * std::abs(mean)) << u;
    EXPECT_NEAR(m.variance[u], ss / 16, 1e-9 * ss / 16) << u;
  }
}

TEST_F(UnitMomentsTest, RefusesAHookNotCapturedAndAnExperimentWithoutRuns) {
  const int64_t id = Create();
  // No run done: no layout yet.
  EXPECT_FALSE(UnitMoments(store_->experiments(), id, {"final_norm"}).ok());
  const Layout layout = store_test::SmallLayout();
  WriteAndFinish(1, layout);
  EXPECT_THAT(UnitMoments(store_->experiments(), id, {"blocks.7.mlp_post"}),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("did not capture blocks.7.mlp_post")));
}

}  // namespace
}  // namespace fnprobe::worker
