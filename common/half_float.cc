#include "common/half_float.h"

#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define FNPROBE_HALF_FLOAT_X86 1
#endif

namespace fnprobe {
namespace {

uint32_t FloatBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float BitsToFloat(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// Shifts `value` right by `shift` (1..31) bits, rounding to nearest, ties to
// even.
uint32_t ShiftRightRoundEven(uint32_t value, int shift) {
  const uint32_t quotient = value >> shift;
  const uint32_t remainder = value & ((1u << shift) - 1);
  const uint32_t half = 1u << (shift - 1);
  if (remainder > half || (remainder == half && (quotient & 1u))) {
    return quotient + 1;
  }
  return quotient;
}

bool IsFloatFinite(float value) {
  return (FloatBits(value) & 0x7f800000u) != 0x7f800000u;
}

}  // namespace

// Integer-only conversion, so the result does not depend on the FPU rounding
// mode or flush-to-zero settings. Matches torch (c10::Half): NaN becomes the
// quiet NaN 0x7e00 with the input's sign.
uint16_t FloatToHalf(float value) {
  const uint32_t bits = FloatBits(value);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const uint32_t exponent = (bits >> 23) & 0xffu;
  const uint32_t mantissa = bits & 0x7fffffu;
  if (exponent == 0xff) return sign | (mantissa != 0 ? 0x7e00 : 0x7c00);
  // 2^16 and above overflows even before rounding.
  if (exponent >= 127 + 16) return sign | 0x7c00;
  if (exponent >= 127 - 14) {
    // Normal half. A rounding carry may propagate into the exponent, up to
    // infinity (0x7c00), which is the correct result.
    const uint32_t unrounded = ((exponent - 112) << 10) | (mantissa >> 13);
    const uint32_t dropped = mantissa & 0x1fffu;
    uint32_t half_bits = unrounded;
    if (dropped > 0x1000u || (dropped == 0x1000u && (unrounded & 1u))) {
      ++half_bits;
    }
    return sign | static_cast<uint16_t>(half_bits);
  }
  // Subnormal half (or zero): value = significand * 2^(exponent - 150), and
  // the half's mantissa counts units of 2^-24.
  const int shift = 126 - static_cast<int>(exponent);
  if (shift > 24) return sign;  // Below half the smallest subnormal.
  const uint32_t significand = mantissa | 0x800000u;
  // A carry to 0x400 yields the smallest normal half, as it should.
  return sign | static_cast<uint16_t>(ShiftRightRoundEven(significand, shift));
}

float HalfToFloat(uint16_t bits) {
  const uint32_t sign = static_cast<uint32_t>(bits & 0x8000u) << 16;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0x1f) {
    return BitsToFloat(sign | 0x7f800000u | (mantissa << 13));
  }
  if (exponent != 0) {
    return BitsToFloat(sign | ((exponent + 112) << 23) | (mantissa << 13));
  }
  if (mantissa == 0) return BitsToFloat(sign);
  // Subnormal half: normalize into a float32 normal.
  uint32_t float_exponent = 113;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    --float_exponent;
  }
  return BitsToFloat(sign | (float_exponent << 23) |
                     ((mantissa & 0x3ffu) << 13));
}

// As torch's c10::BFloat16 round_to_nearest_even: every NaN becomes 0x7fc0.
uint16_t FloatToBFloat16(float value) {
  const uint32_t bits = FloatBits(value);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return 0x7fc0;
  const uint32_t rounding_bias = ((bits >> 16) & 1u) + 0x7fffu;
  return static_cast<uint16_t>((bits + rounding_bias) >> 16);
}

float BFloat16ToFloat(uint16_t bits) {
  return BitsToFloat(static_cast<uint32_t>(bits) << 16);
}

size_t FloatsToHalf(const float* in, size_t n, uint16_t* out) {
  size_t overflows = 0;
  for (size_t i = 0; i < n; ++i) {
    out[i] = FloatToHalf(in[i]);
    if ((out[i] & 0x7fffu) == 0x7c00u && IsFloatFinite(in[i])) ++overflows;
  }
  return overflows;
}

size_t FloatsToBFloat16(const float* in, size_t n, uint16_t* out) {
  size_t overflows = 0;
  for (size_t i = 0; i < n; ++i) {
    out[i] = FloatToBFloat16(in[i]);
    if ((out[i] & 0x7fffu) == 0x7f80u && IsFloatFinite(in[i])) ++overflows;
  }
  return overflows;
}

void HalfsToFloat(const uint16_t* in, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = HalfToFloat(in[i]);
}

void BFloat16sToFloat(const uint16_t* in, size_t n, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = BFloat16ToFloat(in[i]);
}

// F16C from CPUID leaf 1 (ECX bit 29) rather than
// __builtin_cpu_supports("f16c"), which clang 14 (the fuzz build's
// compiler) does not know; "avx2" also checks that the OS saves YMM state.
bool CpuHasAvx2F16c() {
#ifdef FNPROBE_HALF_FLOAT_X86
  static const bool has = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __builtin_cpu_supports("avx2") &&
           __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
  }();
  return has;
#else
  return false;
#endif
}

namespace half_float_internal {

void DecodeHalfsScalar(const char* src, size_t n, float* out) {
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(src);
  for (size_t i = 0; i < n; ++i) {
    out[i] = HalfToFloat(static_cast<uint16_t>(
        bytes[2 * i] | static_cast<unsigned>(bytes[2 * i + 1]) << 8));
  }
}

#ifdef FNPROBE_HALF_FLOAT_X86
// Every finite half and infinity converts exactly in hardware; groups of 8
// holding a NaN go through HalfToFloat, since the hardware quiets signaling
// NaNs. The instruction neither flushes denormals nor reads MXCSR's FTZ/DAZ.
__attribute__((target("avx2,f16c"))) void DecodeHalfsF16c(const char* src,
                                                          size_t n,
                                                          float* out) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(h));
    const __m128i nan = _mm_cmpgt_epi16(
        _mm_and_si128(h, _mm_set1_epi16(0x7fff)), _mm_set1_epi16(0x7c00));
    if (_mm_movemask_epi8(nan) != 0) DecodeHalfsScalar(src + 2 * i, 8, out + i);
  }
  DecodeHalfsScalar(src + 2 * i, n - i, out + i);
}
#else
void DecodeHalfsF16c(const char* src, size_t n, float* out) {
  DecodeHalfsScalar(src, n, out);
}
#endif

}  // namespace half_float_internal

namespace {

// Stores n 16-bit values little-endian at dst.
void StoreLittleEndian16(const uint16_t* src, size_t n, char* dst) {
  for (size_t i = 0; i < n; ++i) {
    dst[2 * i] = static_cast<char>(src[i] & 0xff);
    dst[2 * i + 1] = static_cast<char>(src[i] >> 8);
  }
}

// Converts `in` with `convert` (FloatsToHalf or FloatsToBFloat16) in chunks
// small enough to stay in L1, stored little-endian; returns the overflow
// count.
template <typename Convert>
size_t EncodeScalar(const float* in, size_t n, char* dst, Convert convert) {
  constexpr size_t kChunk = 1024;
  uint16_t chunk[kChunk];
  size_t overflows = 0;
  for (size_t begin = 0; begin < n; begin += kChunk) {
    const size_t count = n - begin < kChunk ? n - begin : kChunk;
    overflows += convert(in + begin, count, chunk);
    StoreLittleEndian16(chunk, count, dst + 2 * begin);
  }
  return overflows;
}

#ifdef FNPROBE_HALF_FLOAT_X86
// AVX2 + F16C paths, bit-identical to common/half_float (including NaN, which
// both make the canonical quiet NaN, and overflow counting). The conversion
// instructions take the rounding mode from their immediate and neither flush
// denormal results nor depend on MXCSR's FTZ/DAZ (f32 denormals become +-0 in
// f16 anyway), so threads on which torch changed those flags encode alike.

__attribute__((target("avx2,f16c"))) size_t EncodeHalfAvx2(const float* in,
                                                           size_t n,
                                                           char* dst) {
  const __m256i abs_mask = _mm256_set1_epi32(0x7fffffff);
  const __m256i exp_all_ones = _mm256_set1_epi32(0x7f800000);
  const __m256i half_abs_mask = _mm256_set1_epi32(0x7fff);
  const __m256i half_inf = _mm256_set1_epi32(0x7c00);
  size_t overflows = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 x = _mm256_loadu_ps(in + i);
    const __m128i h = _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + 2 * i), h);
    const __m256i abs = _mm256_and_si256(_mm256_castps_si256(x), abs_mask);
    const __m256i finite = _mm256_cmpgt_epi32(exp_all_ones, abs);
    const __m256i is_inf = _mm256_cmpeq_epi32(
        _mm256_and_si256(_mm256_cvtepu16_epi32(h), half_abs_mask), half_inf);
    overflows += __builtin_popcount(static_cast<unsigned>(_mm256_movemask_ps(
        _mm256_castsi256_ps(_mm256_and_si256(finite, is_inf)))));
    const int nan = _mm256_movemask_ps(
        _mm256_castsi256_ps(_mm256_cmpgt_epi32(abs, exp_all_ones)));
    if (nan != 0) {
      // Rare: give NaNs common/half_float's canonical bits (the hardware
      // keeps payload bits).
      for (int k = 0; k < 8; ++k) {
        if (nan & (1 << k)) {
          const uint16_t bits = FloatToHalf(in[i + k]);
          std::memcpy(dst + 2 * (i + k), &bits, sizeof(bits));
        }
      }
    }
  }
  uint16_t tail[8];
  overflows += FloatsToHalf(in + i, n - i, tail);
  std::memcpy(dst + 2 * i, tail, (n - i) * sizeof(uint16_t));
  return overflows;
}

// Eight floats to bf16 (in 32-bit lanes), as FloatToBFloat16: round to
// nearest even, every NaN to 0x7fc0. Adds the overflow count to *overflows.
__attribute__((target("avx2"))) inline __m256i BFloat16x8(__m256i bits,
                                                          size_t* overflows) {
  const __m256i abs = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff));
  const __m256i exp_all_ones = _mm256_set1_epi32(0x7f800000);
  const __m256i bias = _mm256_add_epi32(
      _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1)),
      _mm256_set1_epi32(0x7fff));
  __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, bias), 16);
  const __m256i nan = _mm256_cmpgt_epi32(abs, exp_all_ones);
  rounded = _mm256_blendv_epi8(rounded, _mm256_set1_epi32(0x7fc0), nan);
  const __m256i finite = _mm256_cmpgt_epi32(exp_all_ones, abs);
  const __m256i is_inf =
      _mm256_cmpeq_epi32(_mm256_and_si256(rounded, _mm256_set1_epi32(0x7fff)),
                         _mm256_set1_epi32(0x7f80));
  *overflows += __builtin_popcount(static_cast<unsigned>(_mm256_movemask_ps(
      _mm256_castsi256_ps(_mm256_and_si256(finite, is_inf)))));
  return rounded;
}

__attribute__((target("avx2"))) size_t EncodeBFloat16Avx2(const float* in,
                                                          size_t n, char* dst) {
  size_t overflows = 0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i lo =
        BFloat16x8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)),
                   &overflows);
    const __m256i hi = BFloat16x8(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i + 8)),
        &overflows);
    // packus works per 128-bit lane: [lo0-3 hi0-3 lo4-7 hi4-7]; reorder.
    const __m256i packed =
        _mm256_permute4x64_epi64(_mm256_packus_epi32(lo, hi), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + 2 * i), packed);
  }
  uint16_t tail[16];
  overflows += FloatsToBFloat16(in + i, n - i, tail);
  std::memcpy(dst + 2 * i, tail, (n - i) * sizeof(uint16_t));
  return overflows;
}
#endif  // FNPROBE_HALF_FLOAT_X86

}  // namespace

void DecodeHalfs(const char* src, size_t n, float* out) {
  if (CpuHasAvx2F16c()) {
    half_float_internal::DecodeHalfsF16c(src, n, out);
  } else {
    half_float_internal::DecodeHalfsScalar(src, n, out);
  }
}

size_t EncodeHalfs(const float* in, size_t n, char* dst) {
#ifdef FNPROBE_HALF_FLOAT_X86
  if (CpuHasAvx2F16c()) return EncodeHalfAvx2(in, n, dst);
#endif
  return EncodeScalar(in, n, dst, FloatsToHalf);
}

size_t EncodeBFloat16s(const float* in, size_t n, char* dst) {
#ifdef FNPROBE_HALF_FLOAT_X86
  if (CpuHasAvx2F16c()) {
    return EncodeBFloat16Avx2(in, n, dst);
  }
#endif
  return EncodeScalar(in, n, dst, FloatsToBFloat16);
}

}  // namespace fnprobe
