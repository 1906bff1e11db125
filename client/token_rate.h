// The token rate of an experiment as the client sees it: an exponentially
// weighted moving average of tokens per second over the progress updates'
// token counts and their arrival times. The worker's own
// `tokens_per_second` can stay 0 for a whole short run (it measures between
// its own polls, and tokens arrive in bursts per run), so `fnprobe watch`
// and the demo derive rate and ETA from what they actually receive.
//
// The estimate starts with the first interval in which tokens arrived (the
// wait before the first token is not generation time). Samples closer than
// `min_interval` to the last one used are merged into
// the next one, so that bursts of updates do not turn into huge or zero
// instantaneous rates. The weight of a new interval of length dt is
// 1 - exp(-dt / time_constant): irregular update spacing is weighted by the
// time it covers, not by the number of updates.
//
// Not thread-safe.
#ifndef FNPROBE_CLIENT_TOKEN_RATE_H_
#define FNPROBE_CLIENT_TOKEN_RATE_H_

#include <cstdint>
#include <optional>

#include "absl/time/time.h"

namespace fnprobe::client {

class TokenRate {
 public:
  explicit TokenRate(absl::Duration time_constant = absl::Seconds(5),
                     absl::Duration min_interval = absl::Milliseconds(250));

  // Records that `tokens` tokens were done at `now`. A count below the last
  // one (a new stream, a re-analysis) starts over.
  void Add(absl::Time now, int64_t tokens);

  // Tokens per second; nullopt until two samples at least `min_interval`
  // apart have been seen.
  std::optional<double> rate() const { return rate_; }

  // Seconds to do `tokens_left` more at the current rate; nullopt without a
  // positive rate.
  std::optional<double> SecondsFor(int64_t tokens_left) const;

 private:
  const absl::Duration time_constant_;
  const absl::Duration min_interval_;
  bool started_ = false;
  absl::Time last_time_;
  int64_t last_tokens_ = 0;
  std::optional<double> rate_;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_TOKEN_RATE_H_
