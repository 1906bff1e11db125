#include "server/inference/serving/request_checker.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/inference/model/hook_points.h"

namespace fnprobe {

RequestChecker::RequestChecker(const ModelConfig& config)
    : vocab_size_(config.vocab_size), max_positions_(config.max_positions) {
  for (const HookSpec& h : ModelHookPoints(config)) {
    hook_widths_[h.name] = h.width;
  }
}

absl::Status RequestChecker::Check(const ScheduledRequest& request) const {
  if (!request.forward) {
    if (request.tokens_per_prompt <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tokens_per_prompt: must be positive, got ",
                       request.tokens_per_prompt));
    }
    FNPROBE_RETURN_IF_ERROR(ValidateSamplingOptions(request.sampling));
  }
  const int64_t generated = request.forward ? 0 : request.tokens_per_prompt - 1;
  for (size_t k = 0; k < request.prompts.size(); ++k) {
    const std::vector<int64_t>& prompt = request.prompts[k];
    if (prompt.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompts[", k, "]: no tokens"));
    }
    for (int64_t token : prompt) {
      if (token < 0 || token >= vocab_size_) {
        return absl::InvalidArgumentError(
            absl::StrCat("prompts[", k, "]: token ", token,
                         " outside the vocabulary [0, ", vocab_size_, ")"));
      }
    }
    const int64_t needed = static_cast<int64_t>(prompt.size()) + generated;
    if (needed > max_positions_) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompts[", k, "]: ", prompt.size(), " tokens + ", generated,
          " fed back exceed the model's context of ", max_positions_));
    }
  }
  for (const HookSpec& h : request.layout.hooks()) {
    auto it = hook_widths_.find(h.name);
    if (it == hook_widths_.end() || it->second != h.width) {
      return absl::InvalidArgumentError(
          absl::StrCat("layout: hook point '", h.name, "' of width ", h.width,
                       " is not one of the model's"));
    }
  }
  return absl::OkStatus();
}

}  // namespace fnprobe
