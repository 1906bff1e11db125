#include "server/inference/serving/reactor_executor.h"

#include <atomic>
#include <set>
#include <thread>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace fnprobe {
namespace {

TEST(ReactorExecutorTest, RunsTasksInParallelOnItsOwnThreads) {
  ReactorExecutor executor(3);
  EXPECT_EQ(executor.threads(), 3);
  // Three tasks that each wait for the others: they can only all finish
  // if they run at once.
  absl::BlockingCounter finished(3);
  absl::Mutex mu;
  std::set<std::thread::id> ids;
  for (int i = 0; i < 3; ++i) {
    executor.Schedule([&] {
      absl::MutexLock lock(&mu);
      ids.insert(std::this_thread::get_id());
      mu.Await(absl::Condition(
          +[](std::set<std::thread::id>* s) { return s->size() == 3; }, &ids));
      finished.DecrementCount();
    });
  }
  finished.Wait();
  EXPECT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids.count(std::this_thread::get_id()), 0u);
}

TEST(ReactorExecutorTest, DestructorRunsEveryPostedTask) {
  std::atomic<int> ran{0};
  {
    ReactorExecutor executor(1);
    for (int i = 0; i < 100; ++i) executor.Schedule([&] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 100);
  EXPECT_GE(ReactorExecutor(0).threads(), 2);
}

}  // namespace
}  // namespace fnprobe
