// RequestQueue: where requests, cancels and drains meet the scheduler's
// loop (the llama.cpp server's "queue"). Submit, Cancel and the streams'
// drain callbacks post here from any thread; the loop takes everything
// posted at the start of each iteration, sleeps here when it has nothing
// to step, and publishes its counts here for Stats().
//
// Bounds the sequences waiting for a slot (max_queued_sequences): a
// request that would pass it is refused, never queued.
//
// Thread-safe. Streams' drain callbacks hold it weakly, since a stream may
// outlive the scheduler.
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_REQUEST_QUEUE_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_REQUEST_QUEUE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/inference/serving/request_stream.h"
#include "server/inference/serving/sequence_slot.h"

namespace fnprobe {

struct SchedulerStats {
  int64_t steps = 0;
  int64_t active_sequences = 0;  // holding a slot
  int64_t queued_sequences = 0;  // waiting for one
  int64_t active_requests = 0;
  int64_t last_batch_sequences = 0;
  // Sum of every step's batch: over an interval, its growth divided by the
  // steps' is the mean batch the engine ran at.
  int64_t batched_sequences = 0;
};

class RequestQueue {
 public:
  explicit RequestQueue(int64_t max_queued_sequences);

  // --- any thread ---

  // Queues a request (one with no sequences is accepted and dropped).
  // RESOURCE_EXHAUSTED (naming
  // max_queued_sequences) when its prompts do not fit; UNAVAILABLE after
  // Shutdown.
  absl::Status Push(std::unique_ptr<RequestState> request);
  // Posts a cancel for the request owning `stream`; dropped after Shutdown.
  void Cancel(const RequestStream* stream);
  // A paused request's reader made room: wakes the loop.
  void MarkDrained();
  // What the loop last published, with the queue's own counts.
  SchedulerStats Stats() const;

  // --- the loop ---

  // Moves everything posted since the last call into *incoming and
  // *cancels. False once Shutdown was called.
  bool Take(std::vector<std::unique_ptr<RequestState>>* incoming,
            std::vector<const RequestStream*>* cancels);
  // Sleeps until a request, a cancel, a drain or Shutdown arrives.
  void WaitForWork();
  // `dequeued` sequences left the queue (got a slot or were dropped); the
  // loop's counts are now `loop` (its queued_sequences is ignored), with
  // one more step if `stepped`.
  void Publish(int64_t dequeued, bool stepped, const SchedulerStats& loop);

  // --- the owner ---

  // Refuses further requests and stops the loop at its next Take.
  void Shutdown();
  // The requests posted and never taken. REQUIRES: the loop has stopped.
  std::vector<std::unique_ptr<RequestState>> TakeInbox();

 private:
  bool HasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return shutdown_ || drained_ || !inbox_.empty() || !cancelled_.empty();
  }

  const int64_t max_queued_;
  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  bool drained_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::unique_ptr<RequestState>> inbox_ ABSL_GUARDED_BY(mu_);
  std::vector<const RequestStream*> cancelled_ ABSL_GUARDED_BY(mu_);
  // Sequences submitted and not yet given a slot (inbox and waiting).
  int64_t queued_ ABSL_GUARDED_BY(mu_) = 0;
  SchedulerStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_REQUEST_QUEUE_H_
