#include "common/half_float.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace fnprobe {
namespace {

float FromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

uint32_t ToBits(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

// Torch's float32 -> f16 conversion (c10::detail::fp16_ieee_from_fp32_value,
// from the FP16 library), used as an independent oracle. It rounds with the
// FPU, so it must run in the default round-to-nearest mode. An exhaustive
// sweep of all 2^32 inputs agreed with FloatToHalf when this was written;
// the test below samples it.
uint16_t TorchFloatToHalf(float f) {
  const float scale_to_inf = 0x1.0p+112f;
  const float scale_to_zero = 0x1.0p-110f;
  float base = (std::fabs(f) * scale_to_inf) * scale_to_zero;
  const uint32_t w = ToBits(f);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xff000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = FromBits((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = ToBits(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007c00u;
  const uint32_t mantissa_bits = bits & 0x00000fffu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<uint16_t>((sign >> 16) |
                               (shl1_w > 0xff000000u ? 0x7e00u : nonsign));
}

// Exact values, including the largest finite half and the smallest normal.
TEST(HalfFloatTest, ExactValues) {
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(HalfToFloat(0x3c00), 1.0f);
  EXPECT_EQ(HalfToFloat(0x7bff), 65504.0f);
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(HalfToFloat(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(ToBits(HalfToFloat(0x8000)), 0x80000000u);
}

// Halfway cases round to the even neighbour, normal and subnormal alike.
TEST(HalfFloatTest, RoundsToNearestEven) {
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11) + std::ldexp(1.0f, -20)),
            0x3c01);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);
  // The largest subnormal rounds up into the smallest normal.
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -26)), 0x0400);
}

// Beyond the range is +-inf; infinities and NaN are kept.
TEST(HalfFloatTest, OverflowInfinityAndNan) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);
  EXPECT_EQ(FloatToHalf(-1e10f), 0xfc00);
  EXPECT_EQ(FloatToHalf(inf), 0x7c00);
  EXPECT_EQ(FloatToHalf(-inf), 0xfc00);
  EXPECT_EQ(FloatToHalf(nan), 0x7e00);
  EXPECT_EQ(FloatToHalf(-nan), 0xfe00);
  EXPECT_EQ(FloatToHalf(FromBits(0x7f800001u)), 0x7e00);  // Signalling NaN.
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7e00)));
  EXPECT_TRUE(std::isnan(HalfToFloat(0x7c01)));
  EXPECT_EQ(HalfToFloat(0xfc00), -inf);
}

// Every half survives a round trip through float32 (NaNs stay NaN).
TEST(HalfFloatTest, AllHalvesRoundTrip) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    const float f = HalfToFloat(static_cast<uint16_t>(h));
    if ((h & 0x7fff) > 0x7c00) {
      ASSERT_TRUE(std::isnan(f)) << h;
      ASSERT_TRUE(std::isnan(HalfToFloat(FloatToHalf(f)))) << h;
    } else {
      ASSERT_EQ(FloatToHalf(f), h) << h;
    }
  }
}

// Agrees with torch's conversion on a sweep of float32 bit patterns.
TEST(HalfFloatTest, MatchesTorchConversion) {
  constexpr uint64_t kStride = 257;
  for (uint64_t bits = 0; bits <= 0xffffffffu; bits += kStride) {
    const float f = FromBits(static_cast<uint32_t>(bits));
    ASSERT_EQ(FloatToHalf(f), TorchFloatToHalf(f)) << std::hex << bits;
  }
}

// bf16 keeps the top 16 bits, rounded to nearest even, as torch does.
TEST(BFloat16Test, ExactValuesAndRounding) {
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBFloat16(-2.0f), 0xc000);
  EXPECT_EQ(FloatToBFloat16(FromBits(0x3f808000u)), 0x3f80);  // Tie, even.
  EXPECT_EQ(FloatToBFloat16(FromBits(0x3f818000u)), 0x3f82);  // Tie, up.
  EXPECT_EQ(FloatToBFloat16(FromBits(0x3f808001u)), 0x3f81);
  EXPECT_EQ(FloatToBFloat16(FromBits(0x00008000u)), 0x0000);  // Subnormal.
  EXPECT_EQ(BFloat16ToFloat(0x3f80), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(0x4049), FromBits(0x40490000u));
}

TEST(BFloat16Test, OverflowInfinityAndNan) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(FloatToBFloat16(std::numeric_limits<float>::max()), 0x7f80);
  EXPECT_EQ(FloatToBFloat16(-std::numeric_limits<float>::max()), 0xff80);
  EXPECT_EQ(FloatToBFloat16(inf), 0x7f80);
  EXPECT_EQ(FloatToBFloat16(-inf), 0xff80);
  EXPECT_EQ(FloatToBFloat16(std::numeric_limits<float>::quiet_NaN()), 0x7fc0);
  EXPECT_EQ(FloatToBFloat16(FromBits(0xffffffffu)), 0x7fc0);
  // A NaN whose payload lies only in the low bits must not become inf.
  EXPECT_EQ(FloatToBFloat16(FromBits(0x7f800001u)), 0x7fc0);
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(0x7fc0)));
}

TEST(BFloat16Test, AllValuesRoundTrip) {
  for (uint32_t b = 0; b <= 0xffff; ++b) {
    const float f = BFloat16ToFloat(static_cast<uint16_t>(b));
    if ((b & 0x7fff) > 0x7f80) {
      ASSERT_TRUE(std::isnan(f)) << b;
    } else {
      ASSERT_EQ(FloatToBFloat16(f), b) << b;
    }
  }
}

// The array forms convert every element and count only finite inputs that
// became infinite.
TEST(HalfFloatArrayTest, CountsOverflow) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> in = {1.0f, 70000.0f, inf, -1e6f, nan, 65504.0f};
  std::vector<uint16_t> half(in.size());
  EXPECT_EQ(FloatsToHalf(in.data(), in.size(), half.data()), 2u);
  EXPECT_EQ(half[1], 0x7c00);
  EXPECT_EQ(half[3], 0xfc00);
  std::vector<float> back(in.size());
  HalfsToFloat(half.data(), half.size(), back.data());
  EXPECT_EQ(back[0], 1.0f);
  EXPECT_TRUE(std::isnan(back[4]));
  EXPECT_EQ(back[5], 65504.0f);

  const std::vector<float> big = {std::numeric_limits<float>::max(), 1.0f, -inf,
                                  3.0e38f};
  std::vector<uint16_t> bf(big.size());
  EXPECT_EQ(FloatsToBFloat16(big.data(), big.size(), bf.data()), 1u);
  BFloat16sToFloat(bf.data(), bf.size(), back.data());
  EXPECT_EQ(back[1], 1.0f);
  EXPECT_EQ(back[2], -inf);
  EXPECT_NEAR(back[3], 3.0e38f, 3.0e38f / 128);
}

// Every f16 bit pattern, little-endian, from byte `offset` of the returned
// buffer (so that the decoders see misaligned input too), plus a tail of
// 5 values that no group of 8 covers.
std::string AllHalfBytes(size_t offset) {
  std::string bytes(offset, '\0');
  for (uint32_t i = 0; i < 65536 + 5; ++i) {
    const uint16_t h = static_cast<uint16_t>(i);
    bytes.push_back(static_cast<char>(h & 0xff));
    bytes.push_back(static_cast<char>(h >> 8));
  }
  return bytes;
}

// The scalar decoder agrees with HalfToFloat, NaN payloads and signs
// included, at any alignment.
TEST(DecodeHalfsTest, ScalarPathIsHalfToFloat) {
  for (size_t offset : {0, 1}) {
    const std::string bytes = AllHalfBytes(offset);
    const size_t n = (bytes.size() - offset) / 2;
    std::vector<float> out(n);
    half_float_internal::DecodeHalfsScalar(bytes.data() + offset, n,
                                           out.data());
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(ToBits(out[i]), ToBits(HalfToFloat(static_cast<uint16_t>(i))))
          << "offset " << offset << " half 0x" << std::hex << i;
    }
  }
}

// The F16C path equals the scalar path bit for bit over all 65536 halves
// (signaling NaNs, which the hardware would quiet, included), aligned and
// not; DecodeHalfs (whichever path this CPU takes) equals both.
TEST(DecodeHalfsTest, VectorPathEqualsScalarPathBitForBit) {
  for (size_t offset : {0, 1, 2}) {
    SCOPED_TRACE(offset);
    const std::string bytes = AllHalfBytes(offset);
    const size_t n = (bytes.size() - offset) / 2;
    const char* src = bytes.data() + offset;
    std::vector<float> scalar(n);
    std::vector<float> dispatched(n, -1.0f);
    half_float_internal::DecodeHalfsScalar(src, n, scalar.data());
    DecodeHalfs(src, n, dispatched.data());
    EXPECT_EQ(std::memcmp(dispatched.data(), scalar.data(), n * sizeof(float)),
              0);
    if (!CpuHasAvx2F16c()) continue;
    std::vector<float> vector(n, -1.0f);
    half_float_internal::DecodeHalfsF16c(src, n, vector.data());
    for (size_t i = 0; i < n; ++i) {
      ASSERT_EQ(ToBits(vector[i]), ToBits(scalar[i]))
          << "half 0x" << std::hex << i;
    }
  }
  // A signaling NaN keeps its payload (the hardware alone would set the
  // quiet bit): the check above can fail.
  EXPECT_EQ(ToBits(HalfToFloat(0x7c01)), 0x7f802000u);
  if (!CpuHasAvx2F16c()) {
    GTEST_SKIP() << "no AVX2 + F16C here: only the scalar path was checked";
  }
}

// Floats spread over every exponent (a step of 65521 through the 2^32 bit
// patterns: NaNs, infinities, denormals, overflow to f16/bf16 infinity), 13
// past a multiple of 16 so the vector paths run their scalar tails too.
std::vector<float> SpreadFloats() {
  std::vector<float> values;
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += 65521) {
    values.push_back(FromBits(static_cast<uint32_t>(bits)));
  }
  values.resize(values.size() - values.size() % 16 + 13);
  return values;
}

// The little-endian bytes of `halves`.
std::string LittleEndianBytes(const std::vector<uint16_t>& halves) {
  std::string bytes;
  for (uint16_t h : halves) {
    bytes.push_back(static_cast<char>(h & 0xff));
    bytes.push_back(static_cast<char>(h >> 8));
  }
  return bytes;
}

// EncodeHalfs and EncodeBFloat16s (vectorized where this CPU allows) write
// exactly the little-endian bytes of the scalar conversions, at any
// alignment, and count the same overflows.
TEST(EncodeHalfsTest, EqualsScalarConversionsBitForBit) {
  const std::vector<float> values = SpreadFloats();
  const size_t n = values.size();
  std::vector<uint16_t> halves(n);
  const size_t half_overflows = FloatsToHalf(values.data(), n, halves.data());
  std::vector<uint16_t> bf16(n);
  const size_t bf16_overflows = FloatsToBFloat16(values.data(), n, bf16.data());
  ASSERT_GT(half_overflows, 0u);
  ASSERT_GT(bf16_overflows, 0u);
  for (size_t offset : {0, 1}) {
    SCOPED_TRACE(offset);
    std::string out(offset + 2 * n, '\x55');
    EXPECT_EQ(EncodeHalfs(values.data(), n, &out[offset]), half_overflows);
    EXPECT_EQ(out.substr(offset), LittleEndianBytes(halves));
    EXPECT_EQ(EncodeBFloat16s(values.data(), n, &out[offset]), bf16_overflows);
    EXPECT_EQ(out.substr(offset), LittleEndianBytes(bf16));
    EXPECT_EQ(out.substr(0, offset), std::string(offset, '\x55'));
  }
  EXPECT_EQ(EncodeHalfs(values.data(), 0, nullptr), 0u);
}

}  // namespace
}  // namespace fnprobe
