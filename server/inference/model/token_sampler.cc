#include "server/inference/model/token_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/portable_hash.h"

namespace fnprobe {
namespace {

bool IsBanned(int64_t id, absl::Span<const int64_t> banned) {
  return std::find(banned.begin(), banned.end(), id) != banned.end();
}

// SplitMix64: decorrelates (seed, stream) pairs into a 64-bit RNG seed.
uint64_t Mix(uint64_t x) { return SplitMix64(x); }

}  // namespace

absl::Status ValidateSamplingOptions(const SamplingOptions& o) {
  if (!(o.temperature >= 0) || !std::isfinite(o.temperature)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "temperature: must be a finite number >= 0, got ", o.temperature));
  }
  if (o.top_k < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_k: must be >= 0, got ", o.top_k));
  }
  if (!(o.top_p > 0 && o.top_p <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_p: must be in (0, 1], got ", o.top_p));
  }
  return absl::OkStatus();
}

TokenSampler::TokenSampler(const SamplingOptions& options, uint64_t stream)
    : options_(options), rng_(Mix(Mix(options.seed) ^ stream)) {}

double TokenSampler::Uniform() {
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

int64_t TokenSampler::Greedy(absl::Span<const float> logits,
                             absl::Span<const int64_t> banned) const {
  int64_t best = -1;
  float best_value = -std::numeric_limits<float>::infinity();
  for (size_t i = 0; i < logits.size(); ++i) {
    const int64_t id = static_cast<int64_t>(i);
    if ((best < 0 || logits[i] > best_value) && !IsBanned(id, banned)) {
      best = id;
      best_value = logits[i];
    }
  }
  return best;
}

int64_t TokenSampler::Next(absl::Span<const float> logits,
                           absl::Span<const int64_t> banned) {
  if (options_.temperature == 0) return Greedy(logits, banned);
  // Candidates sorted by logit, descending (ties: lower id first).
  scratch_.clear();
  for (size_t i = 0; i < logits.size(); ++i) {
    const int64_t id = static_cast<int64_t>(i);
    if (!IsBanned(id, banned) && !std::isnan(logits[i])) {
      scratch_.push_back({logits[i], id});
    }
  }
  std::sort(scratch_.begin(), scratch_.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  size_t keep = scratch_.size();
  if (options_.top_k > 0) keep = std::min<size_t>(keep, options_.top_k);
  // Softmax of logits / temperature over the kept candidates.
  std::vector<double> probs(keep);
  const double top = scratch_[0].first / options_.temperature;
  double total = 0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp(scratch_[i].first / options_.temperature - top);
    total += probs[i];
  }
  if (options_.top_p < 1) {
    // Smallest prefix whose probability mass reaches top_p (at least one).
    double mass = 0;
    size_t cut = 0;
    while (cut < keep) {
      mass += probs[cut++] / total;
      if (mass >= options_.top_p) break;
    }
    keep = cut;
    total = 0;
    for (size_t i = 0; i < keep; ++i) total += probs[i];
  }
  double target = Uniform() * total;
  for (size_t i = 0; i < keep; ++i) {
    target -= probs[i];
    if (target < 0) return scratch_[i].second;
  }
  return scratch_[keep - 1].second;
}

}  // namespace fnprobe
