#include "server/analysis/storage/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FNPROBE_CRC_X86 1
#else
#define FNPROBE_CRC_X86 0
#endif

#include "absl/strings/str_format.h"

namespace fnprobe {
namespace crc32c {
namespace {

constexpr uint32_t kPolyReflected = 0x82F63B78u;

struct Tables {
  std::array<std::array<uint32_t, 256>, 8> t;
  Tables() {
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t crc = i;
      for (int k = 0; k < 8; ++k) {
        crc = (crc & 1) ? (crc >> 1) ^ kPolyReflected : crc >> 1;
      }
      t[0][i] = crc;
    }
    for (uint32_t i = 0; i < 256; ++i) {
      for (int s = 1; s < 8; ++s) {
        t[s][i] = (t[s - 1][i] >> 8) ^ t[0][t[s - 1][i] & 0xFF];
      }
    }
  }
};

const Tables& GetTables() {
  static const Tables* const tables = new Tables();
  return *tables;
}

inline uint32_t LoadLE32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}

// --- CRC-32C in hardware ---
//
// Both paths work on the raw (not inverted) CRC state and give the values of
// SoftwareExtend. The main one folds the data with carry-less multiplies
// (VPCLMULQDQ on 512-bit registers, else PCLMULQDQ on 128-bit ones; Intel's
// "Fast CRC computation for generic polynomials using PCLMULQDQ"): a 16-byte
// block A = H x^64 + L (H its first 8 bytes) moved D bytes further along the
// message becomes A x^(8D) = H x^(8D+64) + L x^(8D) modulo the polynomial,
// two multiplies by constants; the last 16 bytes left go through the CRC32
// instruction, which also takes short inputs and tails. The constants come
// from the polynomial at start-up (x^n mod P, as zlib's crc32_combine).
constexpr uint32_t kCrcPoly = 0x82F63B78u;  // Reflected CRC-32C polynomial.

// a * b modulo the polynomial, in the reflected representation (bit 31 - i
// holds the coefficient of x^i).
uint32_t MultModP(uint32_t a, uint32_t b) {
  uint32_t m = uint32_t{1} << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ kCrcPoly : b >> 1;
  }
  return p;
}

// x^n modulo the polynomial.
uint32_t XPowModP(uint64_t n) {
  uint32_t power = uint32_t{1} << 30;   // x^1
  uint32_t result = uint32_t{1} << 31;  // x^0
  while (n != 0) {
    if (n & 1) result = MultModP(power, result);
    power = MultModP(power, power);
    n >>= 1;
  }
  return result;
}

#if FNPROBE_CRC_X86
// The pair of 64-bit multipliers that moves a 16-byte block D bytes on.
// A carry-less product of reflected operands carries an extra factor x, so
// the multipliers are x^(8D+63) and x^(8D-1); a reflected 32-bit remainder
// occupies the top half of a 64-bit operand.
struct FoldPair {
  uint64_t high_half;  // Multiplies H, the block's first 8 bytes.
  uint64_t low_half;   // Multiplies L, its last 8 bytes.
};

FoldPair FoldBy(uint64_t bytes) {
  return {uint64_t{XPowModP(8 * bytes + 63)} << 32,
          uint64_t{XPowModP(8 * bytes - 1)} << 32};
}

struct FoldConstants {
  FoldPair by256 = FoldBy(256);
  FoldPair by64 = FoldBy(64);
  FoldPair by48 = FoldBy(48);
  FoldPair by32 = FoldBy(32);
  FoldPair by16 = FoldBy(16);
};

const FoldConstants& GetFoldConstants() {
  static const FoldConstants* const constants = new FoldConstants();
  return *constants;
}

#pragma GCC push_options
#pragma GCC target("sse4.2,pclmul")
// The CRC32 instruction over `n` bytes.
uint32_t RawCrcBytes(uint32_t state, const unsigned char* p, size_t n) {
  uint64_t c = state;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    c = _mm_crc32_u64(c, w);
  }
  for (; n > 0; ++p, --n) c = _mm_crc32_u8(static_cast<uint32_t>(c), *p);
  return static_cast<uint32_t>(c);
}

inline __m128i Fold128(__m128i block, __m128i k) {
  return _mm_xor_si128(_mm_clmulepi64_si128(block, k, 0x00),
                       _mm_clmulepi64_si128(block, k, 0x11));
}

inline __m128i Pair128(const FoldPair& k) {
  return _mm_set_epi64x(static_cast<int64_t>(k.low_half),
                        static_cast<int64_t>(k.high_half));
}

// Ends a fold: `x` holds the message so far as its last 16 bytes (state 0
// before them); the rest of the message follows at p.
uint32_t FinishFold(__m128i x, const unsigned char* p, size_t n) {
  uint64_t c = _mm_crc32_u64(0, static_cast<uint64_t>(_mm_cvtsi128_si64(x)));
  c = _mm_crc32_u64(
      c, static_cast<uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(x, x))));
  return RawCrcBytes(static_cast<uint32_t>(c), p, n);
}

inline __m128i Load128(const unsigned char* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// PCLMULQDQ: four 16-byte lanes folded 64 bytes at a time. REQUIRES n >= 64.
uint32_t RawCrcPclmul(uint32_t state, const unsigned char* p, size_t n) {
  const FoldConstants& k = GetFoldConstants();
  __m128i x0 = _mm_xor_si128(Load128(p), _mm_cvtsi32_si128(state));
  __m128i x1 = Load128(p + 16), x2 = Load128(p + 32), x3 = Load128(p + 48);
  p += 64;
  n -= 64;
  const __m128i k64 = Pair128(k.by64);
  for (; n >= 64; p += 64, n -= 64) {
    x0 = _mm_xor_si128(Fold128(x0, k64), Load128(p));
    x1 = _mm_xor_si128(Fold128(x1, k64), Load128(p + 16));
    x2 = _mm_xor_si128(Fold128(x2, k64), Load128(p + 32));
    x3 = _mm_xor_si128(Fold128(x3, k64), Load128(p + 48));
  }
  __m128i x = _mm_xor_si128(
      _mm_xor_si128(Fold128(x0, Pair128(k.by48)), Fold128(x1, Pair128(k.by32))),
      _mm_xor_si128(Fold128(x2, Pair128(k.by16)), x3));
  return FinishFold(x, p, n);
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("sse4.2,pclmul,avx512f,vpclmulqdq")
inline __m512i Fold512(__m512i block, __m512i k) {
  return _mm512_xor_si512(_mm512_clmulepi64_epi128(block, k, 0x00),
                          _mm512_clmulepi64_epi128(block, k, 0x11));
}

inline __m512i Pair512(const FoldPair& k) {
  return _mm512_set_epi64(
      static_cast<int64_t>(k.low_half), static_cast<int64_t>(k.high_half),
      static_cast<int64_t>(k.low_half), static_cast<int64_t>(k.high_half),
      static_cast<int64_t>(k.low_half), static_cast<int64_t>(k.high_half),
      static_cast<int64_t>(k.low_half), static_cast<int64_t>(k.high_half));
}

inline __m512i Load512(const unsigned char* p) { return _mm512_loadu_si512(p); }

// VPCLMULQDQ: four 64-byte registers folded 256 bytes at a time.
// REQUIRES n >= 256.
uint32_t RawCrcVpclmul(uint32_t state, const unsigned char* p, size_t n) {
  const FoldConstants& k = GetFoldConstants();
  __m512i x0 = _mm512_xor_si512(
      Load512(p), _mm512_zextsi128_si512(_mm_cvtsi32_si128(state)));
  __m512i x1 = Load512(p + 64), x2 = Load512(p + 128), x3 = Load512(p + 192);
  p += 256;
  n -= 256;
  const __m512i k256 = Pair512(k.by256);
  for (; n >= 256; p += 256, n -= 256) {
    x0 = _mm512_xor_si512(Fold512(x0, k256), Load512(p));
    x1 = _mm512_xor_si512(Fold512(x1, k256), Load512(p + 64));
    x2 = _mm512_xor_si512(Fold512(x2, k256), Load512(p + 128));
    x3 = _mm512_xor_si512(Fold512(x3, k256), Load512(p + 192));
  }
  const __m512i k64 = Pair512(k.by64);
  x1 = _mm512_xor_si512(Fold512(x0, k64), x1);
  x2 = _mm512_xor_si512(Fold512(x1, k64), x2);
  x3 = _mm512_xor_si512(Fold512(x2, k64), x3);
  for (; n >= 64; p += 64, n -= 64) {
    x3 = _mm512_xor_si512(Fold512(x3, k64), Load512(p));
  }
  // The four lanes of x3 are 64 consecutive bytes.
  const __m128i l0 = _mm512_extracti32x4_epi32(x3, 0);
  const __m128i l1 = _mm512_extracti32x4_epi32(x3, 1);
  const __m128i l2 = _mm512_extracti32x4_epi32(x3, 2);
  const __m128i l3 = _mm512_extracti32x4_epi32(x3, 3);
  const __m128i x = _mm_xor_si128(
      _mm_xor_si128(Fold128(l0, Pair128(k.by48)), Fold128(l1, Pair128(k.by32))),
      _mm_xor_si128(Fold128(l2, Pair128(k.by16)), l3));
  return FinishFold(x, p, n);
}
#pragma GCC pop_options

enum class CrcPath { kSoftware, kCrc32, kPclmul, kVpclmul };

CrcPath BestCrcPath() {
  static const CrcPath path = [] {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("sse4.2")) return CrcPath::kSoftware;
    if (!__builtin_cpu_supports("pclmul")) return CrcPath::kCrc32;
    if (__builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("vpclmulqdq")) {
      return CrcPath::kVpclmul;
    }
    return CrcPath::kPclmul;
  }();
  return path;
}
#endif  // FNPROBE_CRC_X86

}  // namespace

uint32_t SoftwareExtend(uint32_t init_crc, const void* data, size_t n) {
  const auto& t = GetTables().t;
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint32_t crc = ~init_crc;
  while (n >= 8) {
    const uint32_t lo = LoadLE32(p) ^ crc;
    const uint32_t hi = LoadLE32(p + 4);
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^
          t[4][lo >> 24] ^ t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^
          t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) {
    crc = t[0][(crc ^ *p++) & 0xFF] ^ (crc >> 8);
  }
  return ~crc;
}

uint32_t Extend(uint32_t init_crc, const void* data, size_t n) {
#if FNPROBE_CRC_X86
  const auto* p = static_cast<const unsigned char*>(data);
  switch (BestCrcPath()) {
    case CrcPath::kVpclmul:
      if (n >= 256) return ~RawCrcVpclmul(~init_crc, p, n);
      [[fallthrough]];
    case CrcPath::kPclmul:
      if (n >= 64) return ~RawCrcPclmul(~init_crc, p, n);
      [[fallthrough]];
    case CrcPath::kCrc32:
      return ~RawCrcBytes(~init_crc, p, n);
    case CrcPath::kSoftware:
      break;
  }
#endif
  return SoftwareExtend(init_crc, data, n);
}

uint32_t Combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b) {
  return MultModP(XPowModP(8 * length_b), crc_a) ^ crc_b;
}

std::string Format(uint32_t crc) { return absl::StrFormat("crc32c:%08x", crc); }

}  // namespace crc32c
}  // namespace fnprobe
