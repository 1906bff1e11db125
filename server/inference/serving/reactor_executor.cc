#include "server/inference/serving/reactor_executor.h"

#include <algorithm>
#include <utility>

#include "common/cpu_count.h"

namespace fnprobe {

ReactorExecutor::ReactorExecutor(int threads) {
  if (threads < 1) {
    threads = std::clamp(AvailableCpus(), 2, 16);
  }
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

ReactorExecutor::~ReactorExecutor() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

void ReactorExecutor::Schedule(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
}

void ReactorExecutor::Work() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &ReactorExecutor::Ready));
      // Stopping: finish what was posted first.
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace fnprobe
