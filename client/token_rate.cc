#include "client/token_rate.h"

#include <cmath>

namespace fnprobe::client {

TokenRate::TokenRate(absl::Duration time_constant, absl::Duration min_interval)
    : time_constant_(time_constant), min_interval_(min_interval) {}

void TokenRate::Add(absl::Time now, int64_t tokens) {
  if (!started_ || tokens < last_tokens_) {
    started_ = true;
    last_time_ = now;
    last_tokens_ = tokens;
    rate_.reset();
    return;
  }
  if (!rate_.has_value() && tokens == last_tokens_) {
    // Nothing generated yet (model loading, queueing): that wait is not
    // part of the generation rate.
    last_time_ = now;
    return;
  }
  const absl::Duration dt = now - last_time_;
  if (dt < min_interval_) return;  // merged into the next interval
  const double seconds = absl::ToDoubleSeconds(dt);
  const double instant = static_cast<double>(tokens - last_tokens_) / seconds;
  if (!rate_.has_value()) {
    rate_ = instant;
  } else {
    const double weight =
        1.0 - std::exp(-seconds / absl::ToDoubleSeconds(time_constant_));
    *rate_ += weight * (instant - *rate_);
  }
  last_time_ = now;
  last_tokens_ = tokens;
}

std::optional<double> TokenRate::SecondsFor(int64_t tokens_left) const {
  if (!rate_.has_value() || !(*rate_ > 0) || tokens_left < 0) {
    return std::nullopt;
  }
  return static_cast<double>(tokens_left) / *rate_;
}

}  // namespace fnprobe::client
