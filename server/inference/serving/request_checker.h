// RequestChecker: the checks a ScheduledRequest must pass before it is
// queued: sampling options, tokens within the vocabulary, prompt plus
// generated tokens within the context, hook points of the model. Done at
// Submit rather than left to the engine, whose error would fail every
// request batched with a bad one.
//
// Immutable after construction; thread-safe.
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_REQUEST_CHECKER_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_REQUEST_CHECKER_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "server/inference/model/model_config.h"
#include "server/inference/serving/scheduled_request.h"

namespace fnprobe {

class RequestChecker {
 public:
  explicit RequestChecker(const ModelConfig& config);

  // OK, or INVALID_ARGUMENT naming the field at fault.
  absl::Status Check(const ScheduledRequest& request) const;

 private:
  const int64_t vocab_size_;
  const int64_t max_positions_;
  // The model's hook points: width by name.
  absl::flat_hash_map<std::string, int64_t> hook_widths_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_REQUEST_CHECKER_H_
