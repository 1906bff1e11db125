// Turns a Generate or Forward request from the wire into a validated
// ScheduledRequest: prompts tokenized and checked against the model's
// context, hook selector resolved to a layout, sampling and interventions
// checked, and every limit enforced. Every problem is INVALID_ARGUMENT (or
// RESOURCE_EXHAUSTED for a limit) naming the request field, so a bad request
// fails alone, before it reaches the scheduler.
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_REQUEST_BUILDER_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_REQUEST_BUILDER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "fnprobe/v1/inference.pb.h"
#include "server/inference/model/model.h"
#include "server/inference/serving/scheduler.h"

namespace fnprobe {

struct RequestLimits {
  int max_prompts_per_request = 256;
  int max_tokens_per_prompt = 1024;
  int max_interventions = 256;
  int64_t max_request_bytes = 16 << 20;  // enforced by the gRPC server
};

// The model-facing half of a request, shared by Generate and Forward.
absl::StatusOr<ScheduledRequest> BuildGenerateRequest(
    const Model& model, const RequestLimits& limits, const std::string& user,
    const v1::GenerateRequest& request);

absl::StatusOr<ScheduledRequest> BuildForwardRequest(
    const Model& model, const RequestLimits& limits, const std::string& user,
    const v1::ForwardRequest& request);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_REQUEST_BUILDER_H_
