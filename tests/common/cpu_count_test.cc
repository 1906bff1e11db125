#include "common/cpu_count.h"

#include <sched.h>

#include <thread>

#include "gtest/gtest.h"

namespace fnprobe {
namespace {

TEST(CpuCountTest, IsWithinTheMachine) {
  const int n = AvailableCpus();
  EXPECT_GE(n, 1);
  const unsigned hardware = std::thread::hardware_concurrency();
  if (hardware > 0) EXPECT_LE(n, static_cast<int>(hardware));
}

// A thread confined to one CPU (as by taskset or a container's cpuset)
// counts one, whatever the machine has; its full mask counts again after.
TEST(CpuCountTest, FollowsTheAffinityMask) {
  cpu_set_t saved;
  CPU_ZERO(&saved);
  ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
  const int full = AvailableCpus();
  EXPECT_EQ(full, CPU_COUNT(&saved));
  int first = 0;
  while (!CPU_ISSET(first, &saved)) ++first;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(first, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  EXPECT_EQ(AvailableCpus(), 1);
  ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
  EXPECT_EQ(AvailableCpus(), full);
}

}  // namespace
}  // namespace fnprobe
