#include "server/inference/tokenizer/utf8.h"

namespace fnprobe::utf8 {
namespace {

bool IsContinuation(uint8_t b) { return (b & 0xC0) == 0x80; }

// Bounds of the second byte for a lead byte (Unicode Table 3-7); the
// remaining bytes are plain continuation bytes.
struct LeadInfo {
  size_t length;  // 0 if `lead` never starts a sequence.
  uint8_t second_lo;
  uint8_t second_hi;
};

LeadInfo InfoFor(uint8_t lead) {
  if (lead < 0x80) return {1, 0, 0};
  if (lead < 0xC2) return {0, 0, 0};
  if (lead < 0xE0) return {2, 0x80, 0xBF};
  if (lead == 0xE0) return {3, 0xA0, 0xBF};
  if (lead == 0xED) return {3, 0x80, 0x9F};
  if (lead < 0xF0) return {3, 0x80, 0xBF};
  if (lead == 0xF0) return {4, 0x90, 0xBF};
  if (lead < 0xF4) return {4, 0x80, 0xBF};
  if (lead == 0xF4) return {4, 0x80, 0x8F};
  return {0, 0, 0};
}

// Number of bytes from `pos` that form a valid prefix of a sequence (at least
// 1); equals the full length when the sequence is complete.
size_t ValidPrefixLength(absl::string_view s, size_t pos, size_t* full) {
  const LeadInfo info = InfoFor(static_cast<uint8_t>(s[pos]));
  *full = info.length;
  if (info.length <= 1) return 1;
  size_t n = 1;
  if (pos + n >= s.size()) return n;
  const uint8_t second = static_cast<uint8_t>(s[pos + n]);
  if (second < info.second_lo || second > info.second_hi) return n;
  ++n;
  while (n < info.length && pos + n < s.size() &&
         IsContinuation(static_cast<uint8_t>(s[pos + n]))) {
    ++n;
  }
  return n;
}

}  // namespace

size_t ValidSequenceLength(absl::string_view s, size_t pos) {
  size_t full = 0;
  const size_t n = ValidPrefixLength(s, pos, &full);
  return n == full ? n : 0;
}

std::optional<size_t> FindInvalid(absl::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    if (static_cast<uint8_t>(s[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const size_t n = ValidSequenceLength(s, pos);
    if (n == 0) return pos;
    pos += n;
  }
  return std::nullopt;
}

std::string DecodeLossy(absl::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t full = 0;
    const size_t n = ValidPrefixLength(bytes, pos, &full);
    if (n == full) {
      out.append(bytes.data() + pos, n);
    } else {
      out.append(kReplacement.data(), kReplacement.size());
    }
    pos += n;
  }
  return out;
}

size_t CharLength(absl::string_view s, size_t pos) {
  const uint8_t b = static_cast<uint8_t>(s[pos]);
  if (b < 0x80) return 1;
  if (b < 0xE0) return 2;
  if (b < 0xF0) return 3;
  return 4;
}

uint32_t DecodeAt(absl::string_view s, size_t pos) {
  const size_t n = CharLength(s, pos);
  const uint8_t lead = static_cast<uint8_t>(s[pos]);
  static constexpr uint8_t kLeadMask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  uint32_t cp = lead & kLeadMask[n];
  for (size_t i = 1; i < n; ++i) {
    cp = (cp << 6) | (static_cast<uint8_t>(s[pos + i]) & 0x3F);
  }
  return cp;
}

size_t PreviousCharStart(absl::string_view s, size_t pos) {
  --pos;
  while (pos > 0 && IsContinuation(static_cast<uint8_t>(s[pos]))) --pos;
  return pos;
}

void Append(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

size_t CountChars(absl::string_view s) {
  size_t n = 0;
  for (char c : s) n += !IsContinuation(static_cast<uint8_t>(c));
  return n;
}

}  // namespace fnprobe::utf8
