#include "server/analysis/worker/progress_hub.h"

namespace fnprobe::worker {

void ProgressHub::Notify(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  ++versions_[experiment_id];
}

uint64_t ProgressHub::Version(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  auto it = versions_.find(experiment_id);
  return it == versions_.end() ? 0 : it->second;
}

uint64_t ProgressHub::WaitForChange(int64_t experiment_id, uint64_t seen,
                                    absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto changed = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = versions_.find(experiment_id);
    return shut_down_ || (it != versions_.end() && it->second != seen);
  };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  auto it = versions_.find(experiment_id);
  return it == versions_.end() ? 0 : it->second;
}

void ProgressHub::Shutdown() {
  absl::MutexLock lock(&mu_);
  shut_down_ = true;
}

bool ProgressHub::shut_down() {
  absl::MutexLock lock(&mu_);
  return shut_down_;
}

}  // namespace fnprobe::worker
