// Chooses each next token from a sequence's logits: greedy (temperature 0)
// or seeded sampling with temperature, top-k and top-p, as Hugging Face's
// logits warpers define them.
//
// Each sequence owns a sampler whose random stream depends only on the seed
// and the sequence's stream number (its prompt index), never on what else
// is batched with it, so generation is reproducible.
//
// Not thread-safe; one per sequence.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_TOKEN_SAMPLER_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_TOKEN_SAMPLER_H_

#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"

namespace fnprobe {

struct SamplingOptions {
  double temperature = 0.0;  // 0: greedy
  int64_t top_k = 0;         // 0: no limit
  double top_p = 1.0;        // 1: no nucleus cut
  uint64_t seed = 0;
};

// INVALID_ARGUMENT naming the field when temperature < 0, top_k < 0 or
// top_p outside (0, 1].
absl::Status ValidateSamplingOptions(const SamplingOptions& options);

class TokenSampler {
 public:
  TokenSampler(const SamplingOptions& options, uint64_t stream);

  // The next token. Ids in `banned` (e.g. EOS while it is suppressed) are
  // never chosen. Greedy ties go to the lowest id, as torch.argmax does.
  // REQUIRES: logits non-empty and not every id banned.
  int64_t Next(absl::Span<const float> logits,
               absl::Span<const int64_t> banned);

 private:
  int64_t Greedy(absl::Span<const float> logits,
                 absl::Span<const int64_t> banned) const;
  double Uniform();

  SamplingOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int64_t>> scratch_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_TOKEN_SAMPLER_H_
