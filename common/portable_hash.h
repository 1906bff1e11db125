// Small hashes and a seed mixer whose results are the same on every
// platform and toolchain (std::hash and std distributions are not), for what
// must be reproducible: layout hashes, planned prompts, sampling seeds,
// random weights, stored-map checksums.
//
// Header-only, pure functions; thread-safe.
#ifndef FNPROBE_COMMON_PORTABLE_HASH_H_
#define FNPROBE_COMMON_PORTABLE_HASH_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace fnprobe {

inline constexpr uint64_t kFnv1a64Offset = 0xcbf29ce484222325ULL;

// FNV-1a (64-bit) of `bytes` appended to a hash `h` (kFnv1a64Offset to
// start): Fnv1a64(Fnv1a64(a), b) == Fnv1a64(a + b).
inline uint64_t Fnv1a64(absl::string_view bytes, uint64_t h = kFnv1a64Offset) {
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// One step of SplitMix64 (Steele, Lea & Flood): advances `state` and returns
// the next well-mixed 64-bit value.
inline uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_PORTABLE_HASH_H_
