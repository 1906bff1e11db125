#include "common/frame_codec.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/half_float.h"

namespace fnprobe {
namespace {

constexpr bool kHostLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

// Values converted per chunk: 8 KiB of uint16_t on the stack, small enough
// to stay in L1 between conversion and copy.
constexpr size_t kChunk = 4096;

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

template <typename Convert>
void Decode16(absl::string_view bytes, absl::Span<float> out, Convert convert) {
  uint16_t chunk[kChunk];
  for (size_t begin = 0; begin < out.size(); begin += kChunk) {
    const size_t n = std::min(kChunk, out.size() - begin);
    LoadLittleEndian16(bytes.data() + 2 * begin, n, chunk);
    convert(chunk, n, out.data() + begin);
  }
}

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
      return EncodeBFloat16s(values.data(), values.size(), dst);
    default:
      return EncodeHalfs(values.data(), values.size(), dst);
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
