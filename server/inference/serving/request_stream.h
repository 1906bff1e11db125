// RequestStream: the bounded queue of activation frames between the
// scheduler (producer, one thread) and the gRPC stream writing them to the
// client (consumer). It decouples a slow reader from everyone else: when a
// stream holds `capacity` frames the scheduler stops stepping that
// request's sequences (they keep their slots) until the consumer drains
// it, so memory per stream is bounded, the step loop never waits on a
// client, and other requests keep their pace. A client that never reads
// holds its slots until gRPC ends the call (deadline, disconnect,
// shutdown), which cancels the request.
//
// Thread-safe.
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_REQUEST_STREAM_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_REQUEST_STREAM_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "server/inference/serving/frame_values.h"

namespace fnprobe {

// One generated token (or, teacher-forced, one prompt position) and the
// values of the request's layout at the position that produced it.
struct ActivationRecord {
  int32_t prompt = 0;
  int32_t step = 0;
  int64_t token = 0;
  FrameValues values;  // the request's layout width
  int32_t batch_sequences = 0;
  int32_t batch_tokens = 0;
  // Scored Forward only (next_token_scores.h): NaN and false at a prompt's
  // last position, and when not scored.
  bool scored = false;
  float next_logprob = std::numeric_limits<float>::quiet_NaN();
  bool next_top1 = false;
};

class RequestStream {
 public:
  // `capacity`: frames buffered before the producer pauses (>= 1).
  explicit RequestStream(size_t capacity);

  // --- consumer side ---

  // Moves the oldest frame into *out and returns true, or returns false when
  // none is buffered now.
  bool Pop(ActivationRecord* out);
  // Set once the producer has finished and every frame has been popped.
  std::optional<absl::Status> Done() const;
  // Called (on the producer's thread, without locks held) whenever frames
  // arrive or the stream finishes. Must not block. Cleared with nullptr;
  // after SetListener(nullptr) returns, the old listener is never called.
  void SetListener(std::function<void()> listener);

  // --- producer side ---

  void Push(ActivationRecord record);
  // Ends the stream with `status`. Later pushes are dropped.
  void Finish(absl::Status status);
  // True while the buffer is at capacity (the producer should pause).
  bool Full() const;
  // Called by the consumer's Pop to wake a producer waiting on a full
  // buffer; set by the scheduler.
  void SetDrainCallback(std::function<void()> on_drain);

  size_t buffered() const;
  size_t capacity() const { return capacity_; }

 private:
  void Notify();

  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<ActivationRecord> frames_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> finished_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_drain_ ABSL_GUARDED_BY(mu_);
  // Serialises listener calls against SetListener(nullptr).
  absl::Mutex listener_mu_;
  std::function<void()> listener_ ABSL_GUARDED_BY(listener_mu_);
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_REQUEST_STREAM_H_
