// ScheduledRequest: one request as the scheduler runs it, after
// request_builder has tokenized it and RequestChecker has accepted it (the
// llama.cpp server's "task").
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_SCHEDULED_REQUEST_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_SCHEDULED_REQUEST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/layout.h"
#include "server/inference/model/engine.h"
#include "server/inference/model/token_sampler.h"

namespace fnprobe {

// A validated request: prompts already tokenized and within the context.
struct ScheduledRequest {
  std::string user;
  std::vector<std::vector<int64_t>> prompts;
  // Teacher-forced: one frame per prompt position, no generation.
  bool forward = false;
  // Forward only: score each position against the prompt's next token
  // (ActivationRecord::next_logprob, next_top1).
  bool score = false;
  int64_t tokens_per_prompt = 0;  // REQUIRES: > 0 unless forward
  bool stop_at_eos = false;
  SamplingOptions sampling;
  Layout layout;  // hook points of the model, in model order
  std::shared_ptr<const std::vector<UnitIntervention>> interventions;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_SCHEDULED_REQUEST_H_
