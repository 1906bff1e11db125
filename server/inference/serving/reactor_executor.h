// ReactorExecutor: a fixed set of threads that run the Generate streams'
// pumping (popping a frame, gathering and encoding its values, starting
// its write) off the scheduler's step loop. The loop only posts "this
// stream has frames" here and goes on; encoding for many streams runs in
// parallel, overlapping the next engine step.
//
// Tasks run in FIFO order, each on one thread; they must not block.
// Thread-safe. The destructor runs the tasks already posted, then joins.
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_REACTOR_EXECUTOR_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_REACTOR_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace fnprobe {

class ReactorExecutor {
 public:
  // `threads` < 1 means one per hardware thread (at least 2, at most 16).
  explicit ReactorExecutor(int threads);
  ~ReactorExecutor();

  ReactorExecutor(const ReactorExecutor&) = delete;
  ReactorExecutor& operator=(const ReactorExecutor&) = delete;

  void Schedule(std::function<void()> task);

  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void Work();
  bool Ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !tasks_.empty();
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // last: started once the rest is built
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_REACTOR_EXECUTOR_H_
