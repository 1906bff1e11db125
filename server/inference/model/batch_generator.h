// Runs a fixed batch of prompts through an Engine: teacher-forced forward
// passes (every prompt position) and generation with the KV cache. All
// prompts of a call share every forward step; each is an independent
// context, so each prompt's results equal running it alone.
//
// This is the static-batch driver used by offline capture and tests; the
// inference server's scheduler drives the Engine directly for continuous
// batching.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_BATCH_GENERATOR_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_BATCH_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/layout.h"
#include "server/inference/model/engine.h"
#include "server/inference/model/token_sampler.h"

namespace fnprobe {

using Prompt = std::vector<int64_t>;

struct GenerationOptions {
  // Tokens generated per prompt. Unless stop_at_eos, exactly this many:
  // end-of-sequence ids are suppressed (as min_new_tokens does).
  int64_t max_new_tokens = 16;
  bool stop_at_eos = false;
  SamplingOptions sampling;
};

// One generated token and the activations of the position that produced it.
struct GeneratedToken {
  int64_t prompt = 0;  // index into the prompts
  int64_t step = 0;    // 0-based index of the generated token
  int64_t token = 0;
  absl::Span<const float> values;  // [layout width]
  absl::Span<const float> logits;  // raw LM-head logits, [vocab]
  int64_t batch_sequences = 0;     // sequences in the step that produced it
};

// Every position of one prompt, teacher-forced.
struct PromptActivations {
  int64_t prompt = 0;
  int64_t length = 0;
  absl::Span<const float> values;  // [length, layout width]
  absl::Span<const float> logits;  // [length, vocab]
};

using TokenCallback = std::function<absl::Status(const GeneratedToken&)>;
using PromptCallback = std::function<absl::Status(const PromptActivations&)>;

// Generates for all prompts together, calling `on_token` for each token in
// step order. An error from the engine or the callback stops generation and
// is returned. Prompts that would outgrow the context are refused up front
// (INVALID_ARGUMENT naming the prompt).
absl::Status GenerateBatch(Engine& engine, const std::vector<Prompt>& prompts,
                           const Layout& capture,
                           const GenerationOptions& options,
                           const TokenCallback& on_token);

// One teacher-forced pass over all prompts together.
absl::Status ForwardBatch(Engine& engine, const std::vector<Prompt>& prompts,
                          const Layout& capture,
                          const PromptCallback& on_prompt);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_BATCH_GENERATOR_H_
