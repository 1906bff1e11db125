#include "server/analysis/worker/heap_policy.h"

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fnprobe::worker {
namespace {

// Allocates `count` blocks of 1 MiB, writes every byte (so they are
// resident) and frees them again.
void AllocateTouchAndFree(int count) {
  std::vector<char*> blocks;
  for (int i = 0; i < count; ++i) {
    char* block = static_cast<char*>(std::malloc(1 << 20));
    ASSERT_NE(block, nullptr);
    std::memset(block, i + 1, 1 << 20);
    blocks.push_back(block);
  }
  // Read back, so that the writes (and the blocks) cannot be elided.
  volatile int sum = 0;
  for (char* block : blocks) sum = sum + block[12345];
  EXPECT_NE(sum, 0);
  for (char* block : blocks) std::free(block);
}

// With the policy, 1 MiB blocks come from the heap and stay resident once
// freed (glibc's default would have mapped and unmapped each one), ready
// for the next job; ReleaseFreeMemory gives them back.
TEST(HeapPolicyTest, FreedBlocksAreKeptUntilReleased) {
#ifndef __GLIBC__
  GTEST_SKIP() << "glibc's malloc only";
#endif
  KeepFreedMemoryWhileBusy();
  const double baseline = ReleaseFreeMemory(true).rss_after;
  AllocateTouchAndFree(128);
  const HeapRelease released = ReleaseFreeMemory(true);
  EXPECT_TRUE(released.trimmed);
  EXPECT_GT(released.rss_before, baseline + 100) << released.ToString();
  EXPECT_LT(released.rss_after, released.rss_before - 100)
      << released.ToString();
  EXPECT_NE(released.ToString().find("MB after trim"), std::string::npos);
}

TEST(HeapPolicyTest, WithoutTrimNothingIsReleased) {
  const HeapRelease kept = ReleaseFreeMemory(false);
  EXPECT_FALSE(kept.trimmed);
  EXPECT_EQ(kept.rss_after, kept.rss_before);
  EXPECT_NE(kept.ToString().find("(not trimmed)"), std::string::npos);
}

}  // namespace
}  // namespace fnprobe::worker
