// Scheduler: continuous batching of every request's sequences over one
// Engine, in one thread that it owns.
//
// Each loop iteration is one forward step, in short phases:
//   Admit     take submitted requests into the waiting set;
//   Retire    end cancelled requests' sequences and free their slots;
//   Assemble  fill free slots round-robin across users (one user's 500
//             prompts do not starve another's 5), then pick every active,
//             unpaused sequence (prompt prefill or one decode token), within
//             max_batch_sequences and max_batch_tokens;
//   Step      one Engine::Step over all of them, capturing the union of the
//             requests' layouts;
//   Distribute sample each sequence's next token, push its frame to its
//             RequestStream, finish sequences and requests that are done.
//             A frame's values are its row of the step's values, shared
//             and cut lazily (frame_values.h): the loop copies nothing for
//             readers that keep up, and never gathers, encodes or writes;
//             the streams' consumers do that on their own threads.
// A sequence holds a slot (and its KV cache) from its first step to its
// last. A request whose stream is full is paused (its sequences skip steps)
// until its reader drains it; the loop never waits on a reader. A
// cancelled request's sequences leave at the next step.
//
// The parts live in their own files, after llama.cpp's server: the request
// queue (request_queue.h), the request and its checks (scheduled_request.h,
// request_checker.h), the slots (sequence_slot.h) and the capture columns
// (capture_columns.h); this file is the loop.
//
// The scheduler knows nothing of gRPC or torch: tests drive it with a fake
// Engine. Thread-safe: Submit, Cancel and Stats may be called from any
// thread.
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_SCHEDULER_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_SCHEDULER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/inference/model/engine.h"
#include "server/inference/serving/request_queue.h"
#include "server/inference/serving/request_stream.h"
#include "server/inference/serving/scheduled_request.h"

namespace fnprobe {

struct SchedulerOptions {
  int max_batch_sequences = 64;  // slots: sequences stepping together
  // Tokens in one step, prefill included. 1024 keeps a step's activations
  // in a CPU's last-level cache (1024 x 3072 floats = 12 MB at the 125m
  // shape): a masking batch of 88 texts ran 17.7 s at 4096 and 13.1 s at
  // 1024 (12.8 s at 512), beside 13.0 s one run at a time
  // (tests/bench/masking_bench). Decode rows are one per sequence, so every
  // slot still decodes each step.
  int max_batch_tokens = 1024;
  int max_queued_sequences = 4096;  // waiting for a slot, all users
  size_t stream_capacity = 256;     // frames buffered per request
};

class Scheduler {
 public:
  // REQUIRES: engine outlives the scheduler. Starts the thread.
  Scheduler(Engine* engine, SchedulerOptions options);
  // Stops the thread; unfinished streams finish with UNAVAILABLE.
  ~Scheduler();

  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Queues a request; its frames arrive on the returned stream.
  // RESOURCE_EXHAUSTED (naming max_queued_sequences) when its prompts do not
  // fit in the queue; UNAVAILABLE after shutdown began.
  absl::StatusOr<std::shared_ptr<RequestStream>> Submit(
      ScheduledRequest request);

  // Cancels the request owning `stream` (no-op if finished or unknown). Its
  // sequences are freed at the next step; the stream finishes CANCELLED.
  void Cancel(const RequestStream* stream);

  SchedulerStats Stats() const;

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_SCHEDULER_H_
