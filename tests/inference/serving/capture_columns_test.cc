#include "server/inference/serving/capture_columns.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference/model/hook_points.h"
#include "tests/inference/serving/fake_engine.h"

namespace fnprobe {
namespace {

using ::testing::ElementsAre;
using ::testing::Pair;

// The tiny model's hook points, in model order.
std::vector<HookSpec> Points() {
  return ModelHookPoints(FakeEngine::TinyConfig());
}

TEST(CaptureColumnsTest, UnionIsInModelOrderAndCutsEachLayoutBack) {
  const std::vector<HookSpec> p = Points();
  ASSERT_GE(p.size(), 4u);
  // Two requests asking for interleaved hook points, out of step.
  const Layout a({p[0], p[2]});
  const Layout b({p[1], p[2], p[3]});
  CaptureColumns columns(FakeEngine::TinyConfig());
  EXPECT_TRUE(columns.Update({&b, &a, &b}));
  ASSERT_EQ(columns.capture().size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(columns.capture().hooks()[i], p[i]);

  // Row 1 of a two-row capture whose value is its own column index + 100.
  const int64_t w = columns.capture().width();
  std::vector<float> values(2 * w);
  for (int64_t c = 0; c < w; ++c) {
    values[c] = static_cast<float>(c);
    values[w + c] = static_cast<float>(100 + c);
  }
  ColumnCache cache_a, cache_b;
  const int64_t w0 = p[0].width, w1 = p[1].width, w2 = p[2].width;
  EXPECT_THAT(*columns.Columns(a, &cache_a),
              ElementsAre(Pair(0, w0), Pair(w0 + w1, w2)));
  // b's hook points are adjacent in the capture: one run.
  EXPECT_THAT(*columns.Columns(b, &cache_b),
              ElementsAre(Pair(w0, w1 + w2 + p[3].width)));
  const std::vector<float> row = columns.CutRow(values.data(), 1, a, &cache_a);
  ASSERT_EQ(static_cast<int64_t>(row.size()), a.width());
  EXPECT_EQ(row.front(), 100.0f);
  EXPECT_EQ(row[w0], static_cast<float>(100 + w0 + w1));
  EXPECT_EQ(row.back(), static_cast<float>(100 + w0 + w1 + w2 - 1));
}

TEST(CaptureColumnsTest, CacheIsRecomputedOnlyWhenTheCaptureChanges) {
  const std::vector<HookSpec> p = Points();
  const Layout a({p[2]});
  const Layout b({p[0]});
  CaptureColumns columns(FakeEngine::TinyConfig());
  ColumnCache cache;
  ASSERT_TRUE(columns.Update({&a}));
  EXPECT_THAT(*columns.Columns(a, &cache), ElementsAre(Pair(0, p[2].width)));
  EXPECT_FALSE(columns.Update({&a, &a}));  // same union: cache kept
  const uint64_t version = cache.version;
  columns.Columns(a, &cache);
  EXPECT_EQ(cache.version, version);
  // b joins: a's hook point now lies after b's.
  EXPECT_TRUE(columns.Update({&a, &b}));
  EXPECT_THAT(*columns.Columns(a, &cache),
              ElementsAre(Pair(p[0].width, p[2].width)));
  EXPECT_NE(cache.version, version);
}

}  // namespace
}  // namespace fnprobe
