#include "server/analysis/storage/value_decoding.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "common/half_float.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FNPROBE_ACTIVATION_X86 1
#else
#define FNPROBE_ACTIVATION_X86 0
#endif

namespace fnprobe {
namespace {

#if FNPROBE_ACTIVATION_X86
bool HasF16c() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx") != 0 &&
           __builtin_cpu_supports("f16c") != 0;
  }();
  return has;
}

// F16 -> F32 with F16C. Groups of 8 holding an infinity or NaN (exponent
// 0x1f) go through HalfToFloat, so that results are bit-identical to it
// (F16C quiets signaling NaNs); every finite half converts exactly.
#pragma GCC push_options
#pragma GCC target("avx,f16c")
void HalfsToFloatF16c(const uint16_t* in, size_t n, float* out) {
  const __m128i exponent = _mm_set1_epi16(0x7c00);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    const __m128i special =
        _mm_cmpeq_epi16(_mm_and_si128(h, exponent), exponent);
    if (_mm_movemask_epi8(special) == 0) {
      _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    } else {
      for (size_t j = i; j < i + 8; ++j) out[j] = HalfToFloat(in[j]);
    }
  }
  for (; i < n; ++i) out[i] = HalfToFloat(in[i]);
}
#pragma GCC pop_options
#endif  // FNPROBE_ACTIVATION_X86

}  // namespace

void DecodeActivationValues(DType dtype, const char* in, size_t n, float* out) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(out, in, n * sizeof(float));
      break;
    case DType::kF16: {
#if FNPROBE_ACTIVATION_X86
      if (HasF16c() && reinterpret_cast<uintptr_t>(in) % 2 == 0) {
        HalfsToFloatF16c(reinterpret_cast<const uint16_t*>(in), n, out);
        break;
      }
#endif
      std::vector<uint16_t> bits(n);
      std::memcpy(bits.data(), in, n * sizeof(uint16_t));
      HalfsToFloat(bits.data(), n, out);
      break;
    }
    case DType::kBF16:
      // A bfloat16 is the top half of a float32; the loop vectorizes.
      for (size_t i = 0; i < n; ++i) {
        uint16_t bits;
        std::memcpy(&bits, in + 2 * i, sizeof(bits));
        const uint32_t wide = static_cast<uint32_t>(bits) << 16;
        std::memcpy(out + i, &wide, sizeof(wide));
      }
      break;
    default:
      break;
  }
}

}  // namespace fnprobe
