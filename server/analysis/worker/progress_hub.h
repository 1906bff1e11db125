// ProgressHub: tells WatchExperiment streams that an experiment changed
// (a run started or finished, tokens arrived, the phase moved). A version
// number per experiment increases on every Notify; watchers wait for it to
// move past the one they last saw.
//
// Thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_PROGRESS_HUB_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_PROGRESS_HUB_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace fnprobe::worker {

class ProgressHub {
 public:
  void Notify(int64_t experiment_id);
  uint64_t Version(int64_t experiment_id);
  // Waits until the version of `experiment_id` differs from `seen`, or
  // `timeout` passes, or Shutdown. Returns the version then.
  uint64_t WaitForChange(int64_t experiment_id, uint64_t seen,
                         absl::Duration timeout);
  // Wakes every waiter for good (server shutdown).
  void Shutdown();
  bool shut_down();

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<int64_t, uint64_t> versions_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_PROGRESS_HUB_H_
