#include "server/inference/serving/request_stream.h"

#include <utility>

namespace fnprobe {

RequestStream::RequestStream(size_t capacity)
    : capacity_(capacity == 0 ? 1 : capacity) {}

bool RequestStream::Pop(ActivationRecord* out) {
  std::function<void()> on_drain;
  {
    absl::MutexLock lock(&mu_);
    if (frames_.empty()) return false;
    const bool was_full = frames_.size() >= capacity_;
    *out = std::move(frames_.front());
    frames_.pop_front();
    // Wake the producer only on the transition out of "full": that is the
    // one pop a paused producer waits for.
    if (was_full && frames_.size() < capacity_ && !finished_.has_value()) {
      on_drain = on_drain_;
    }
  }
  if (on_drain) on_drain();
  return true;
}

std::optional<absl::Status> RequestStream::Done() const {
  absl::MutexLock lock(&mu_);
  if (!frames_.empty()) return std::nullopt;
  return finished_;
}

void RequestStream::SetListener(std::function<void()> listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
}

void RequestStream::Push(ActivationRecord record) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_.has_value()) return;
    frames_.push_back(std::move(record));
  }
  Notify();
}

void RequestStream::Finish(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (finished_.has_value()) return;
    finished_ = std::move(status);
    on_drain_ = nullptr;  // nothing left to produce
  }
  Notify();
}

bool RequestStream::Full() const {
  absl::MutexLock lock(&mu_);
  return frames_.size() >= capacity_;
}

void RequestStream::SetDrainCallback(std::function<void()> on_drain) {
  absl::MutexLock lock(&mu_);
  on_drain_ = std::move(on_drain);
}

size_t RequestStream::buffered() const {
  absl::MutexLock lock(&mu_);
  return frames_.size();
}

void RequestStream::Notify() {
  // Held across the call so that SetListener(nullptr) waits for a call in
  // flight; mu_ is not held, so the listener may Pop.
  absl::MutexLock lock(&listener_mu_);
  if (listener_) listener_();
}

}  // namespace fnprobe
