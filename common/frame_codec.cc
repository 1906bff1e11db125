#include "common/frame_codec.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/half_float.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FNPROBE_FRAME_CODEC_X86 1
#endif

namespace fnprobe {
namespace {

constexpr bool kHostLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

// Values converted per chunk: 8 KiB of uint16_t on the stack, small enough
// to stay in L1 between conversion and copy.
constexpr size_t kChunk = 4096;

// Stores n 16-bit values little-endian at dst.
void StoreLittleEndian16(const uint16_t* src, size_t n, char* dst) {
  if (n == 0) return;  // an empty span's data() may be null: no memcpy
  if (kHostLittleEndian) {
    std::memcpy(dst, src, n * sizeof(uint16_t));
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    dst[2 * i] = static_cast<char>(src[i] & 0xff);
    dst[2 * i + 1] = static_cast<char>(src[i] >> 8);
  }
}

void LoadLittleEndian16(const char* src, size_t n, uint16_t* dst) {
  if (n == 0) return;  // an empty span's data() may be null: no memcpy
  if (kHostLittleEndian) {
    std::memcpy(dst, src, n * sizeof(uint16_t));
    return;
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(src);
  for (size_t i = 0; i < n; ++i) {
    dst[i] = static_cast<uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
  }
}

void StoreFloatsLittleEndian(const float* src, size_t n, char* dst) {
  if (n == 0) return;  // an empty span's data() may be null: no memcpy
  if (kHostLittleEndian) {
    std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &src[i], sizeof(bits));
    for (int b = 0; b < 4; ++b) {
      dst[4 * i + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
    }
  }
}

void LoadFloatsLittleEndian(const char* src, size_t n, float* dst) {
  if (n == 0) return;  // an empty span's data() may be null: no memcpy
  if (kHostLittleEndian) {
    std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  const auto* bytes = reinterpret_cast<const unsigned char*>(src);
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) {
      bits |= static_cast<uint32_t>(bytes[4 * i + b]) << (8 * b);
    }
    std::memcpy(&dst[i], &bits, sizeof(bits));
  }
}

// Converts `values` to 16 bits with `convert` (FloatsToHalf or
// FloatsToBFloat16) chunk by chunk into dst; returns the overflow count.
template <typename Convert>
size_t Encode16(absl::Span<const float> values, char* dst, Convert convert) {
  uint16_t chunk[kChunk];
  size_t overflows = 0;
  for (size_t begin = 0; begin < values.size(); begin += kChunk) {
    const size_t n = std::min(kChunk, values.size() - begin);
    overflows += convert(values.data() + begin, n, chunk);
    StoreLittleEndian16(chunk, n, dst + 2 * begin);
  }
  return overflows;
}

template <typename Convert>
void Decode16(absl::string_view bytes, absl::Span<float> out, Convert convert) {
  uint16_t chunk[kChunk];
  for (size_t begin = 0; begin < out.size(); begin += kChunk) {
    const size_t n = std::min(kChunk, out.size() - begin);
    LoadLittleEndian16(bytes.data() + 2 * begin, n, chunk);
    convert(chunk, n, out.data() + begin);
  }
}

#ifdef FNPROBE_FRAME_CODEC_X86
// AVX2 + F16C paths, bit-identical to common/half_float (including NaN, which
// both make the canonical quiet NaN, and overflow counting). The conversion
// instructions take the rounding mode from their immediate and neither flush
// denormal results nor depend on MXCSR's FTZ/DAZ (f32 denormals become +-0 in
// f16 anyway), so threads on which torch changed those flags encode alike.

// CPU support is probed in common/half_float (CpuHasAvx2F16c), which also
// holds the one F16C decoder (DecodeHalfs).

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
#endif  // FNPROBE_FRAME_CODEC_X86

// INVALID_ARGUMENT unless `num_bytes` holds exactly `count` values of
// `encoding` (resolved). Overflow-safe for any count.
absl::Status CheckLength(size_t num_bytes, v1::Encoding encoding,
                         uint64_t count) {
  const size_t width = BytesPerValue(encoding);
  if (num_bytes % width == 0 && num_bytes / width == count) {
    return absl::OkStatus();
  }
  const std::string expected = count <= UINT64_MAX / width
                                   ? absl::StrCat(count * width)
                                   : absl::StrCat(count, " x ", width);
  return absl::InvalidArgumentError(
      absl::StrCat("frame values: expected ", expected, " bytes (", count, " ",
                   EncodingName(encoding), " values), got ", num_bytes));
}

}  // namespace

absl::StatusOr<v1::Encoding> ResolveEncoding(v1::Encoding encoding) {
  switch (encoding) {
    case v1::ENCODING_UNSPECIFIED:
      return v1::ENCODING_F16;
    case v1::ENCODING_F32:
    case v1::ENCODING_F16:
    case v1::ENCODING_BF16:
      return encoding;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown encoding ", static_cast<int>(encoding),
                       " (expected ENCODING_F32, ENCODING_F16 or "
                       "ENCODING_BF16)"));
  }
}

size_t BytesPerValue(v1::Encoding encoding) {
  return encoding == v1::ENCODING_F32 ? 4 : 2;
}

absl::string_view EncodingName(v1::Encoding encoding) {
  switch (encoding) {
    case v1::ENCODING_F32:
      return "f32";
    case v1::ENCODING_UNSPECIFIED:
    case v1::ENCODING_F16:
      return "f16";
    case v1::ENCODING_BF16:
      return "bf16";
    default:
      return "unknown";
  }
}

absl::StatusOr<FrameEncoder> FrameEncoder::Create(v1::Encoding encoding) {
  absl::StatusOr<v1::Encoding> resolved = ResolveEncoding(encoding);
  if (!resolved.ok()) return resolved.status();
  return FrameEncoder(*resolved);
}

size_t FrameEncoder::Encode(absl::Span<const float> values,
                            std::string* out) const {
  out->resize(values.size() * bytes_per_value());
  char* dst = out->data();
  switch (encoding_) {
    case v1::ENCODING_F32:
      StoreFloatsLittleEndian(values.data(), values.size(), dst);
      return 0;
    case v1::ENCODING_BF16:
#ifdef FNPROBE_FRAME_CODEC_X86
      if (CpuHasAvx2F16c()) {
        return EncodeBFloat16Avx2(values.data(), values.size(), dst);
      }
#endif
      return Encode16(values, dst, FloatsToBFloat16);
    default:
#ifdef FNPROBE_FRAME_CODEC_X86
      if (CpuHasAvx2F16c()) {
        return EncodeHalfAvx2(values.data(), values.size(), dst);
      }
#endif
      return Encode16(values, dst, FloatsToHalf);
  }
}

absl::StatusOr<EncodedValues> EncodeFrameValues(absl::Span<const float> values,
                                                v1::Encoding encoding) {
  absl::StatusOr<FrameEncoder> encoder = FrameEncoder::Create(encoding);
  if (!encoder.ok()) return encoder.status();
  EncodedValues encoded;
  encoded.overflow_count = encoder->Encode(values, &encoded.bytes);
  return encoded;
}

absl::Status DecodeFrameValues(absl::string_view bytes, v1::Encoding encoding,
                               absl::Span<float> out) {
  absl::StatusOr<v1::Encoding> resolved = ResolveEncoding(encoding);
  if (!resolved.ok()) return resolved.status();
  absl::Status length = CheckLength(bytes.size(), *resolved, out.size());
  if (!length.ok()) return length;
  switch (*resolved) {
    case v1::ENCODING_F32:
      LoadFloatsLittleEndian(bytes.data(), out.size(), out.data());
      break;
    case v1::ENCODING_BF16:
      Decode16(bytes, out, BFloat16sToFloat);
      break;
    default:
      DecodeHalfs(bytes.data(), out.size(), out.data());
      break;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> DecodeFrameValues(absl::string_view bytes,
                                                     v1::Encoding encoding,
                                                     int64_t width) {
  if (width < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame values: negative width ", width));
  }
  // Check the length before allocating: `width` may come from the wire.
  absl::StatusOr<v1::Encoding> resolved = ResolveEncoding(encoding);
  if (!resolved.ok()) return resolved.status();
  absl::Status length =
      CheckLength(bytes.size(), *resolved, static_cast<uint64_t>(width));
  if (!length.ok()) return length;
  std::vector<float> values(static_cast<size_t>(width));
  absl::Status status =
      DecodeFrameValues(bytes, *resolved, absl::MakeSpan(values));
  if (!status.ok()) return status;
  return values;
}

}  // namespace fnprobe
