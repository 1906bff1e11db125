#include "server/inference/serving/step_values_pool.h"

#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace fnprobe {
namespace {

TEST(StepValuesPoolTest,
     BufferComesBackWithItsCapacityOnlyWhenTheLastHolderLetsGo) {
  StepValuesPool pool(2);
  std::vector<float> buffer = pool.Take();
  EXPECT_EQ(buffer.capacity(), 0u);  // nothing returned yet: a new one
  buffer.assign(1000, 1.5f);
  const float* memory = buffer.data();
  std::shared_ptr<const std::vector<float>> shared =
      pool.Share(std::move(buffer));
  std::shared_ptr<const std::vector<float>> frame = shared;
  shared.reset();
  EXPECT_EQ(pool.free_buffers(), 0u);  // a frame still holds it
  EXPECT_EQ((*frame)[999], 1.5f);
  std::thread([f = std::move(frame)]() mutable { f.reset(); }).join();
  EXPECT_EQ(pool.free_buffers(), 1u);
  std::vector<float> again = pool.Take();
  EXPECT_EQ(again.data(), memory);  // the same memory, not a new buffer
  EXPECT_GE(again.capacity(), 1000u);
}

TEST(StepValuesPoolTest, KeepsAtMostMaxFreeAndOutlivedBuffersAreFreed) {
  std::vector<std::shared_ptr<const std::vector<float>>> held;
  {
    StepValuesPool pool(1);
    for (int i = 0; i < 3; ++i) held.push_back(pool.Share({1, 2, 3}));
    held.pop_back();
    held.pop_back();
    EXPECT_EQ(pool.free_buffers(), 1u);
  }
  held.clear();  // the pool is gone: freed, no crash (ASan would tell)
}

}  // namespace
}  // namespace fnprobe
