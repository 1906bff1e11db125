// Teacher-forced scores of a prompt: at each position, how well the model's
// logits there predict the prompt's NEXT token (the log-probability the
// model gives it, and whether it is the model's top-1 prediction). Masking
// experiments compare these with and without interventions (per-token NLL,
// perplexity, top-1 accuracy).
//
// Computed from the logits the engine returns, in double precision, on the
// caller's thread: the engine's device does not matter.
//
// Thread-safe: pure functions.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_NEXT_TOKEN_SCORES_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_NEXT_TOKEN_SCORES_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace fnprobe {

struct NextTokenScore {
  // log_softmax(logits)[next token]; NaN at a prompt's last position, which
  // has no next token.
  float logprob = 0;
  // Whether the next token is the argmax of the logits (the lowest id among
  // equal maxima); false at the last position.
  bool top1 = false;
};

// One score per position of `tokens`. REQUIRES: logits.size() ==
// tokens.size() * vocab, vocab > 0, every token in [0, vocab).
std::vector<NextTokenScore> ScoreNextTokens(absl::Span<const float> logits,
                                            int64_t vocab,
                                            absl::Span<const int64_t> tokens);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_NEXT_TOKEN_SCORES_H_
