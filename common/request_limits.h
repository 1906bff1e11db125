// Limits of one Generate request that both the inference server (which
// enforces them) and the worker (which checks a spec against them at
// submission, from GetModelInfo) must compute the same way.
//
// Thread-safe: pure functions.
#ifndef FNPROBE_COMMON_REQUEST_LIMITS_H_
#define FNPROBE_COMMON_REQUEST_LIMITS_H_

#include <algorithm>
#include <cstdint>

namespace fnprobe {

// The most tokens a prompt may have when `generated` tokens follow it in a
// model whose context holds `context_length` positions. The last generated
// token is never fed back, so it takes no position.
inline int64_t MaxPromptTokens(int64_t context_length, int64_t generated) {
  return context_length - std::max<int64_t>(generated - 1, 0);
}

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_REQUEST_LIMITS_H_
