#include "server/inference/model/batch_generator.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"

namespace fnprobe {
namespace {

// Sequences started on an engine, ended when this goes out of scope.
class SequenceSet {
 public:
  SequenceSet(Engine& engine, size_t n) : engine_(engine) {
    for (size_t i = 0; i < n; ++i) ids_.push_back(engine.StartSequence());
  }
  ~SequenceSet() {
    for (SequenceId id : ids_) engine_.EndSequence(id);
  }
  SequenceId operator[](size_t i) const { return ids_[i]; }

 private:
  Engine& engine_;
  std::vector<SequenceId> ids_;
};

absl::Status CheckPrompts(const Engine& engine,
                          const std::vector<Prompt>& prompts,
                          int64_t new_tokens) {
  const ModelConfig& c = engine.config();
  for (size_t k = 0; k < prompts.size(); ++k) {
    const int64_t len = static_cast<int64_t>(prompts[k].size());
    if (len == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("prompt ", k, " has no tokens"));
    }
    // The last generated token is never fed back.
    const int64_t needed = len + std::max<int64_t>(new_tokens - 1, 0);
    if (needed > c.max_positions) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompt ", k, ": ", len, " tokens + ", new_tokens,
          " generated exceed the model's context of ", c.max_positions));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status GenerateBatch(Engine& engine, const std::vector<Prompt>& prompts,
                           const Layout& capture,
                           const GenerationOptions& options,
                           const TokenCallback& on_token) {
  if (options.max_new_tokens <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_new_tokens: must be positive, got ", options.max_new_tokens));
  }
  FNPROBE_RETURN_IF_ERROR(ValidateSamplingOptions(options.sampling));
  FNPROBE_RETURN_IF_ERROR(
      CheckPrompts(engine, prompts, options.max_new_tokens));
  const std::vector<int64_t>& eos = engine.config().eos_token_ids;
  const absl::Span<const int64_t> banned =
      options.stop_at_eos ? absl::Span<const int64_t>() : absl::MakeSpan(eos);
  const size_t n = prompts.size();
  SequenceSet sequences(engine, n);
  std::vector<TokenSampler> samplers;
  std::vector<Prompt> next_input = prompts;
  std::vector<bool> active(n, true);
  for (size_t k = 0; k < n; ++k) samplers.emplace_back(options.sampling, k);

  const int64_t vocab = engine.config().vocab_size;
  StepResult result;
  for (int64_t step = 0; step < options.max_new_tokens; ++step) {
    StepRequest request;
    request.capture = capture;
    std::vector<size_t> owners;
    for (size_t k = 0; k < n; ++k) {
      if (!active[k]) continue;
      request.items.push_back({sequences[k], std::move(next_input[k]),
                               /*all_positions=*/false, /*want_logits=*/true});
      owners.push_back(k);
    }
    if (owners.empty()) break;
    FNPROBE_RETURN_IF_ERROR(engine.Step(request, &result));
    const int64_t width = capture.width();
    for (size_t i = 0; i < owners.size(); ++i) {
      const size_t k = owners[i];
      GeneratedToken t;
      t.prompt = static_cast<int64_t>(k);
      t.step = step;
      t.logits = absl::MakeConstSpan(
          result.logits.data() + result.logit_row_begin[i] * vocab, vocab);
      t.values = absl::MakeConstSpan(
          result.values.data() + result.value_row_begin[i] * width, width);
      t.token = samplers[k].Next(t.logits, banned);
      t.batch_sequences = result.batch_sequences;
      FNPROBE_RETURN_IF_ERROR(on_token(t));
      const bool is_eos =
          std::find(eos.begin(), eos.end(), t.token) != eos.end();
      if (options.stop_at_eos && is_eos) active[k] = false;
      next_input[k] = {t.token};
    }
  }
  return absl::OkStatus();
}

absl::Status ForwardBatch(Engine& engine, const std::vector<Prompt>& prompts,
                          const Layout& capture,
                          const PromptCallback& on_prompt) {
  FNPROBE_RETURN_IF_ERROR(CheckPrompts(engine, prompts, 0));
  SequenceSet sequences(engine, prompts.size());
  StepRequest request;
  request.capture = capture;
  for (size_t k = 0; k < prompts.size(); ++k) {
    request.items.push_back({sequences[k], prompts[k], /*all_positions=*/true,
                             /*want_logits=*/true});
  }
  StepResult result;
  FNPROBE_RETURN_IF_ERROR(engine.Step(request, &result));
  const int64_t width = capture.width();
  const int64_t vocab = engine.config().vocab_size;
  for (size_t k = 0; k < prompts.size(); ++k) {
    PromptActivations a;
    a.prompt = static_cast<int64_t>(k);
    a.length = static_cast<int64_t>(prompts[k].size());
    a.values = absl::MakeConstSpan(
        result.values.data() + result.value_row_begin[k] * width,
        a.length * width);
    a.logits = absl::MakeConstSpan(
        result.logits.data() + result.logit_row_begin[k] * vocab,
        a.length * vocab);
    FNPROBE_RETURN_IF_ERROR(on_prompt(a));
  }
  return absl::OkStatus();
}

}  // namespace fnprobe
