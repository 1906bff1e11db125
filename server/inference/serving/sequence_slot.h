// The scheduler's per-request and per-sequence state (the llama.cpp
// server's "slot"): RequestState lives from Submit until its stream
// finishes; a SequenceSlot is one prompt of a request holding an engine
// sequence (and its KV cache) from its first step to its last.
//
// Not thread-safe: once admitted, both belong to the scheduler's loop
// thread.
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_SEQUENCE_SLOT_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_SEQUENCE_SLOT_H_

#include <cstdint>
#include <memory>

#include "server/inference/model/engine.h"
#include "server/inference/model/token_sampler.h"
#include "server/inference/serving/capture_columns.h"
#include "server/inference/serving/request_stream.h"
#include "server/inference/serving/scheduled_request.h"

namespace fnprobe {

// A submitted request. Owned by the RequestQueue's inbox, then by the
// scheduler.
struct RequestState {
  ScheduledRequest request;
  std::shared_ptr<RequestStream> stream;
  int64_t open_sequences = 0;  // waiting or holding a slot
  bool paused = false;         // stream full at this iteration's start
  ColumnCache columns;         // its layout within the step's capture
  // Whether this step's frames share the step's values (the reader had
  // taken every earlier frame) or get copies (it lags), decided once per
  // step: shared rows pin a whole step buffer, so a lagging stream pins at
  // most one and then holds only its own rows, as a bounded queue should.
  int64_t share_decided_at = -1;  // the step it was decided for
  bool share = false;
};

// One prompt of a request that holds a slot: an engine sequence and its
// sampler.
struct SequenceSlot {
  SequenceSlot(RequestState* r, int32_t k, SequenceId s,
               const SamplingOptions& sampling)
      : request(r), prompt(k), id(s), sampler(sampling, k) {}

  // The prompt's token count.
  int64_t prompt_size() const {
    return static_cast<int64_t>(request->request.prompts[prompt].size());
  }

  RequestState* const request;
  const int32_t prompt;  // index into the request's prompts
  const SequenceId id;   // the engine's sequence
  bool prefilled = false;
  // Its prefill was left out of a step for want of token budget; it goes
  // first in the next step, so that decodes cannot starve it.
  bool skipped = false;
  bool done = false;
  int64_t generated = 0;
  int64_t next_token = 0;  // fed at the next decode
  TokenSampler sampler;
};

// A prompt waiting for a slot.
struct WaitingSequence {
  RequestState* request;
  int32_t prompt;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_SEQUENCE_SLOT_H_
