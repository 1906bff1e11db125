#include "server/inference/serving/request_queue.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace fnprobe {

RequestQueue::RequestQueue(int64_t max_queued_sequences)
    : max_queued_(max_queued_sequences) {}

absl::Status RequestQueue::Push(std::unique_ptr<RequestState> request) {
  const int64_t n = request->open_sequences;
  absl::MutexLock lock(&mu_);
  if (shutdown_) {
    return absl::UnavailableError("inference scheduler is shutting down");
  }
  if (queued_ + n > max_queued_) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "max_queued_sequences (", max_queued_, ") reached: ", queued_,
        " sequences waiting, the request has ", n));
  }
  if (n == 0) return absl::OkStatus();  // nothing to run: not queued
  queued_ += n;
  inbox_.push_back(std::move(request));
  return absl::OkStatus();
}

void RequestQueue::Cancel(const RequestStream* stream) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return;
  cancelled_.push_back(stream);
}

void RequestQueue::MarkDrained() {
  absl::MutexLock lock(&mu_);
  drained_ = true;
}

SchedulerStats RequestQueue::Stats() const {
  absl::MutexLock lock(&mu_);
  SchedulerStats stats = stats_;
  stats.queued_sequences = queued_;
  stats.active_requests += static_cast<int64_t>(inbox_.size());
  return stats;
}

bool RequestQueue::Take(std::vector<std::unique_ptr<RequestState>>* incoming,
                        std::vector<const RequestStream*>* cancels) {
  absl::MutexLock lock(&mu_);
  if (shutdown_) return false;
  incoming->swap(inbox_);
  cancels->swap(cancelled_);
  drained_ = false;
  return true;
}

void RequestQueue::WaitForWork() {
  mu_.LockWhen(absl::Condition(this, &RequestQueue::HasWork));
  mu_.Unlock();
}

void RequestQueue::Publish(int64_t dequeued, bool stepped,
                           const SchedulerStats& loop) {
  absl::MutexLock lock(&mu_);
  queued_ -= dequeued;
  if (stepped) {
    ++stats_.steps;
    stats_.last_batch_sequences = loop.last_batch_sequences;
    stats_.batched_sequences += loop.last_batch_sequences;
  }
  stats_.active_sequences = loop.active_sequences;
  stats_.active_requests = loop.active_requests;
}

void RequestQueue::Shutdown() {
  absl::MutexLock lock(&mu_);
  shutdown_ = true;
}

std::vector<std::unique_ptr<RequestState>> RequestQueue::TakeInbox() {
  std::vector<std::unique_ptr<RequestState>> incoming;
  absl::MutexLock lock(&mu_);
  incoming.swap(inbox_);
  return incoming;
}

}  // namespace fnprobe
