#include "common/frame_codec.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include "absl/strings/str_cat.h"
#include "common/half_float.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kMax = std::numeric_limits<float>::max();

std::vector<uint8_t> Bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

// One harness over the three encodings (and UNSPECIFIED, which is f16).
class FrameCodecEncodingTest : public ::testing::TestWithParam<v1::Encoding> {};

// Values every encoding represents exactly come back bit for bit, and the
// byte length is width * bytes per value.
TEST_P(FrameCodecEncodingTest, ExactValuesRoundTrip) {
  const std::vector<float> values = {0.0f,    -0.0f, 1.0f, -2.5f,     0.375f,
                                     1024.0f, -kInf, kInf, 0.0078125f};
  absl::StatusOr<EncodedValues> encoded = EncodeFrameValues(values, GetParam());
  ASSERT_OK(encoded);
  EXPECT_EQ(encoded->overflow_count, 0u);
  EXPECT_EQ(encoded->bytes.size(), values.size() * BytesPerValue(GetParam()));
  absl::StatusOr<std::vector<float>> decoded = DecodeFrameValues(
      encoded->bytes, GetParam(), static_cast<int64_t>(values.size()));
  ASSERT_OK(decoded);
  ASSERT_EQ(decoded->size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(std::memcmp(&(*decoded)[i], &values[i], sizeof(float)), 0)
        << "value " << i << ": " << values[i] << " came back as "
        << (*decoded)[i];
  }
}

// NaN stays NaN in every encoding (it is neither clipped nor counted).
TEST_P(FrameCodecEncodingTest, NanPreserved) {
  const std::vector<float> values = {std::nanf(""), -std::nanf(""), 1.0f};
  absl::StatusOr<EncodedValues> encoded = EncodeFrameValues(values, GetParam());
  ASSERT_OK(encoded);
  EXPECT_EQ(encoded->overflow_count, 0u);
  absl::StatusOr<std::vector<float>> decoded =
      DecodeFrameValues(encoded->bytes, GetParam(), 3);
  ASSERT_OK(decoded);
  EXPECT_TRUE(std::isnan((*decoded)[0]));
  EXPECT_TRUE(std::isnan((*decoded)[1]));
  EXPECT_EQ((*decoded)[2], 1.0f);
}

// Frames larger than the encoder's internal chunk round trip and count every
// overflow, whichever chunk it falls in.
TEST_P(FrameCodecEncodingTest, LargeFrameRoundTrips) {
  std::vector<float> values(10007);
  for (size_t i = 0; i < values.size(); ++i) {
    values[i] = static_cast<float>(i % 251) * 0.25f - 30.0f;
  }
  absl::StatusOr<EncodedValues> encoded = EncodeFrameValues(values, GetParam());
  ASSERT_OK(encoded);
  EXPECT_EQ(encoded->overflow_count, 0u);
  std::vector<float> decoded(values.size());
  ASSERT_OK(
      DecodeFrameValues(encoded->bytes, GetParam(), absl::MakeSpan(decoded)));
  EXPECT_EQ(decoded, values);  // Multiples of 0.25 below 64: exact.
}

// A wrong byte length is refused, naming expected and actual lengths.
TEST_P(FrameCodecEncodingTest, WrongByteLengthRefused) {
  const size_t bytes_per_value = BytesPerValue(GetParam());
  const std::string bytes(320 * bytes_per_value - 2, '\0');
  EXPECT_THAT(DecodeFrameValues(bytes, GetParam(), 320),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr(absl::StrCat(
                           "expected ", 320 * bytes_per_value, " bytes (320 ",
                           EncodingName(GetParam()), " values), got ",
                           320 * bytes_per_value - 2))));
  std::vector<float> out(321);
  EXPECT_THAT(
      DecodeFrameValues(bytes, GetParam(), absl::MakeSpan(out)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected")));
}

INSTANTIATE_TEST_SUITE_P(AllEncodings, FrameCodecEncodingTest,
                         ::testing::Values(v1::ENCODING_F32, v1::ENCODING_F16,
                                           v1::ENCODING_BF16,
                                           v1::ENCODING_UNSPECIFIED),
                         [](const auto& param_info) {
                           return v1::Encoding_Name(param_info.param);
                         });

// The wire is little-endian: 1.0 is 00 00 80 3f (f32), 00 3c (f16),
// 80 3f (bf16).
TEST(FrameCodecTest, LittleEndianBytes) {
  const std::vector<float> one = {1.0f};
  EXPECT_THAT(Bytes(EncodeFrameValues(one, v1::ENCODING_F32)->bytes),
              ElementsAre(0x00, 0x00, 0x80, 0x3f));
  EXPECT_THAT(Bytes(EncodeFrameValues(one, v1::ENCODING_F16)->bytes),
              ElementsAre(0x00, 0x3c));
  EXPECT_THAT(Bytes(EncodeFrameValues(one, v1::ENCODING_BF16)->bytes),
              ElementsAre(0x80, 0x3f));
}

// ENCODING_UNSPECIFIED is f16 on the wire.
TEST(FrameCodecTest, UnspecifiedMeansF16) {
  EXPECT_EQ(*ResolveEncoding(v1::ENCODING_UNSPECIFIED), v1::ENCODING_F16);
  EXPECT_EQ(FrameEncoder::Create(v1::ENCODING_UNSPECIFIED)->encoding(),
            v1::ENCODING_F16);
  const std::vector<float> values = {0.1f, -3.0f, 1e-6f};
  EXPECT_EQ(EncodeFrameValues(values, v1::ENCODING_UNSPECIFIED)->bytes,
            EncodeFrameValues(values, v1::ENCODING_F16)->bytes);
}

// 16-bit encodings round to nearest even, exactly as common/half_float does.
TEST(FrameCodecTest, SixteenBitRoundingMatchesHalfFloat) {
  const std::vector<float> values = {0.1f,    -3.14159f, 1e-6f,
                                     6.1e-5f, 1e-8f,     12345.678f};
  std::vector<float> f16(values.size());
  std::vector<float> bf16(values.size());
  ASSERT_OK(
      DecodeFrameValues(EncodeFrameValues(values, v1::ENCODING_F16)->bytes,
                        v1::ENCODING_F16, absl::MakeSpan(f16)));
  ASSERT_OK(
      DecodeFrameValues(EncodeFrameValues(values, v1::ENCODING_BF16)->bytes,
                        v1::ENCODING_BF16, absl::MakeSpan(bf16)));
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(f16[i], HalfToFloat(FloatToHalf(values[i]))) << values[i];
    EXPECT_EQ(bf16[i], BFloat16ToFloat(FloatToBFloat16(values[i])))
        << values[i];
    EXPECT_NEAR(f16[i], values[i], std::fabs(values[i]) * 1e-3 + 6e-8);
    EXPECT_NEAR(bf16[i], values[i], std::fabs(values[i]) * 4e-3);
  }
}

// f16 overflow: finite values beyond its range become +-inf and are counted,
// never clipped to 65504. The largest finite values stay finite; infinities
// in the input are not overflows.
TEST(FrameCodecTest, F16OverflowCountedNotClipped) {
  const std::vector<float> values = {70000.0f, -70000.0f, 65504.0f, 65519.0f,
                                     65520.0f, kInf,      kMax,     1.0f};
  absl::StatusOr<EncodedValues> encoded =
      EncodeFrameValues(values, v1::ENCODING_F16);
  ASSERT_OK(encoded);
  EXPECT_EQ(encoded->overflow_count, 4u);  // 70000, -70000, 65520, FLT_MAX.
  absl::StatusOr<std::vector<float>> decoded =
      DecodeFrameValues(encoded->bytes, v1::ENCODING_F16, 8);
  ASSERT_OK(decoded);
  EXPECT_THAT(*decoded, ElementsAre(kInf, -kInf, 65504.0f, 65504.0f, kInf, kInf,
                                    kInf, 1.0f));
}

// The single-value case from the spec: 70000 -> inf, count 1.
TEST(FrameCodecTest, F16OverflowOfOneValue) {
  const std::vector<float> values = {70000.0f};
  absl::StatusOr<EncodedValues> encoded =
      EncodeFrameValues(values, v1::ENCODING_F16);
  ASSERT_OK(encoded);
  EXPECT_EQ(encoded->overflow_count, 1u);
  EXPECT_THAT(*DecodeFrameValues(encoded->bytes, v1::ENCODING_F16, 1),
              ElementsAre(kInf));
}

// bf16 shares float32's exponent range: only values near FLT_MAX overflow.
TEST(FrameCodecTest, Bf16OverflowOnlyNearFloatMax) {
  const std::vector<float> values = {70000.0f, 3.0e38f, kMax, -kMax, kInf};
  absl::StatusOr<EncodedValues> encoded =
      EncodeFrameValues(values, v1::ENCODING_BF16);
  ASSERT_OK(encoded);
  EXPECT_EQ(encoded->overflow_count, 2u);
  absl::StatusOr<std::vector<float>> decoded =
      DecodeFrameValues(encoded->bytes, v1::ENCODING_BF16, 5);
  ASSERT_OK(decoded);
  EXPECT_NEAR((*decoded)[0], 70000.0f, 70000.0f * 4e-3);
  EXPECT_TRUE(std::isfinite((*decoded)[1]));
  EXPECT_EQ((*decoded)[2], kInf);
  EXPECT_EQ((*decoded)[3], -kInf);
  EXPECT_EQ((*decoded)[4], kInf);
}

// f32 is lossless and never overflows.
TEST(FrameCodecTest, F32NeverOverflows) {
  const std::vector<float> values = {kMax, -kMax, 70000.0f,
                                     std::numeric_limits<float>::denorm_min()};
  absl::StatusOr<EncodedValues> encoded =
      EncodeFrameValues(values, v1::ENCODING_F32);
  ASSERT_OK(encoded);
  EXPECT_EQ(encoded->overflow_count, 0u);
  EXPECT_EQ(*DecodeFrameValues(encoded->bytes, v1::ENCODING_F32, 4), values);
}

// Encode replaces the output (a reused frame buffer) rather than appending.
TEST(FrameCodecTest, EncoderReplacesReusedBuffer) {
  absl::StatusOr<FrameEncoder> encoder = FrameEncoder::Create(v1::ENCODING_F16);
  ASSERT_OK(encoder);
  std::string buffer;
  const std::vector<float> big(100, 2.0f);
  const std::vector<float> small = {70000.0f, 1.0f};
  EXPECT_EQ(encoder->Encode(big, &buffer), 0u);
  EXPECT_EQ(buffer.size(), 200u);
  EXPECT_EQ(encoder->Encode(small, &buffer), 1u);
  EXPECT_EQ(buffer.size(), 4u);
  EXPECT_THAT(*DecodeFrameValues(buffer, v1::ENCODING_F16, 2),
              ElementsAre(kInf, 1.0f));
  EXPECT_EQ(encoder->Encode({}, &buffer), 0u);
  EXPECT_TRUE(buffer.empty());
}

// Encoding numbers outside the enum (proto3 passes them through) are
// refused by name of the number.
TEST(FrameCodecTest, UnknownEncodingRefused) {
  const auto bogus = static_cast<v1::Encoding>(9);
  EXPECT_THAT(FrameEncoder::Create(bogus),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown encoding 9")));
  EXPECT_THAT(EncodeFrameValues({}, bogus),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(DecodeFrameValues("", bogus, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown encoding 9")));
}

// A width from the wire is checked against the bytes before anything is
// allocated, and a negative width is refused.
TEST(FrameCodecTest, ImplausibleWidthRefused) {
  EXPECT_THAT(DecodeFrameValues("abcd", v1::ENCODING_F16, -2),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("negative width")));
  EXPECT_THAT(DecodeFrameValues("abcd", v1::ENCODING_F32, int64_t{1} << 62),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("got 4")));
  EXPECT_THAT(DecodeFrameValues("abc", v1::ENCODING_F16, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("expected 2 bytes (1 f16 values), got 3")));
}

// An empty layout encodes to no bytes.
// In every encoding: F32's is a plain memcpy, which must not be handed an
// empty span's null data() even for 0 bytes (UBSan; found by
// tests/fuzz/frame_fuzzer).
TEST(FrameCodecTest, EmptyFrame) {
  for (v1::Encoding encoding :
       {v1::ENCODING_F32, v1::ENCODING_F16, v1::ENCODING_BF16}) {
    SCOPED_TRACE(EncodingName(encoding));
    EXPECT_TRUE(EncodeFrameValues({}, encoding)->bytes.empty());
    EXPECT_THAT(*DecodeFrameValues("", encoding, 0), ::testing::IsEmpty());
    EXPECT_TRUE(DecodeFrameValues("", encoding, absl::Span<float>()).ok());
  }
}

// Float32 inputs from every exponent and sign, with assorted mantissas: a
// strided sweep of all 2^32 bit patterns plus the boundaries. The length is
// not a multiple of 8 or 16, so vector paths also run their scalar tails.
std::vector<float> BitPatternSweep() {
  std::vector<float> values;
  auto add = [&values](uint32_t bits) {
    float f;
    std::memcpy(&f, &bits, sizeof(f));
    values.push_back(f);
  };
  for (uint64_t bits = 0; bits < (uint64_t{1} << 32); bits += 65521) {
    add(static_cast<uint32_t>(bits));
  }
  for (uint32_t sign : {0u, 0x80000000u}) {
    for (uint32_t bits : {0x00000000u, 0x00000001u, 0x007fffffu, 0x33000000u,
                          0x33000001u, 0x387fc000u, 0x477fe000u, 0x477fefffu,
                          0x477ff000u, 0x7f7f7fffu, 0x7f7f8000u, 0x7f7fffffu,
                          0x7f800000u, 0x7f800001u, 0x7fc00000u, 0x7fffffffu}) {
      add(sign | bits);
    }
  }
  values.resize(values.size() - values.size() % 16 + 13);
  return values;
}

// The encoder (vectorized where the CPU allows) gives exactly the bytes and
// overflow count of common/half_float's scalar conversions, NaNs included.
TEST(FrameCodecTest, MatchesHalfFloatBitForBit) {
  const std::vector<float> values = BitPatternSweep();
  std::vector<uint16_t> expected(values.size());
  std::string bytes;

  const size_t f16_overflows =
      FloatsToHalf(values.data(), values.size(), expected.data());
  EXPECT_GT(f16_overflows, 0u);
  EXPECT_EQ(FrameEncoder::Create(v1::ENCODING_F16)->Encode(values, &bytes),
            f16_overflows);
  ASSERT_EQ(bytes.size(), 2 * values.size());
  EXPECT_EQ(std::memcmp(bytes.data(), expected.data(), bytes.size()), 0);

  const size_t bf16_overflows =
      FloatsToBFloat16(values.data(), values.size(), expected.data());
  EXPECT_GT(bf16_overflows, 0u);
  EXPECT_EQ(FrameEncoder::Create(v1::ENCODING_BF16)->Encode(values, &bytes),
            bf16_overflows);
  EXPECT_EQ(std::memcmp(bytes.data(), expected.data(), bytes.size()), 0);
}

// Decoding every f16 bit pattern gives exactly HalfToFloat's float32 bits.
TEST(FrameCodecTest, DecodesEveryHalfLikeHalfFloat) {
  std::vector<uint16_t> halves(65536 + 5);  // With a scalar tail.
  for (size_t i = 0; i < halves.size(); ++i) {
    halves[i] = static_cast<uint16_t>(i);
  }
  const std::string bytes(reinterpret_cast<const char*>(halves.data()),
                          2 * halves.size());
  absl::StatusOr<std::vector<float>> decoded = DecodeFrameValues(
      bytes, v1::ENCODING_F16, static_cast<int64_t>(halves.size()));
  ASSERT_OK(decoded);
  std::vector<float> expected(halves.size());
  HalfsToFloat(halves.data(), halves.size(), expected.data());
  EXPECT_EQ(std::memcmp(decoded->data(), expected.data(),
                        expected.size() * sizeof(float)),
            0);
}

#if defined(__x86_64__)
// Torch may set flush-to-zero / denormals-are-zero on its threads; the
// encoding of f16 subnormal results must not change.
TEST(FrameCodecTest, IndependentOfFlushToZero) {
  const std::vector<float> values = BitPatternSweep();
  std::string normal;
  std::string flushed;
  const FrameEncoder encoder = *FrameEncoder::Create(v1::ENCODING_F16);
  const size_t overflows = encoder.Encode(values, &normal);
  const unsigned int csr = _mm_getcsr();
  _mm_setcsr(csr | 0x8040);  // FTZ | DAZ.
  const size_t flushed_overflows = encoder.Encode(values, &flushed);
  std::vector<float> decoded(values.size());
  const absl::Status status =
      DecodeFrameValues(normal, v1::ENCODING_F16, absl::MakeSpan(decoded));
  _mm_setcsr(csr);
  EXPECT_EQ(flushed_overflows, overflows);
  EXPECT_EQ(flushed, normal);
  ASSERT_OK(status);
  // 2^-24, the smallest f16 subnormal, survives the round trip.
  const std::vector<float> tiny = {5.9604645e-8f};
  std::string tiny_bytes;
  _mm_setcsr(csr | 0x8040);
  encoder.Encode(tiny, &tiny_bytes);
  absl::StatusOr<std::vector<float>> tiny_back =
      DecodeFrameValues(tiny_bytes, v1::ENCODING_F16, 1);
  _mm_setcsr(csr);
  ASSERT_OK(tiny_back);
  EXPECT_EQ((*tiny_back)[0], 5.9604645e-8f);
}
#endif

}  // namespace
}  // namespace fnprobe
