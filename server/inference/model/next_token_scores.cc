#include "server/inference/model/next_token_scores.h"

#include <cmath>
#include <limits>

namespace fnprobe {

std::vector<NextTokenScore> ScoreNextTokens(absl::Span<const float> logits,
                                            int64_t vocab,
                                            absl::Span<const int64_t> tokens) {
  std::vector<NextTokenScore> out(tokens.size());
  for (size_t p = 0; p < tokens.size(); ++p) {
    if (p + 1 == tokens.size()) {
      out[p].logprob = std::numeric_limits<float>::quiet_NaN();
      out[p].top1 = false;
      continue;
    }
    const float* row = logits.data() + static_cast<int64_t>(p) * vocab;
    int64_t best = 0;
    for (int64_t v = 1; v < vocab; ++v) {
      if (row[v] > row[best]) best = v;
    }
    // log-sum-exp about the maximum, in double: vocabularies of 50k terms.
    const double max = row[best];
    double sum = 0;
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(row[v] - max);
    const int64_t next = tokens[p + 1];
    out[p].logprob = static_cast<float>(row[next] - max - std::log(sum));
    out[p].top1 = next == best;
  }
  return out;
}

}  // namespace fnprobe
