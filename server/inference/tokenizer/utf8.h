// UTF-8 helpers for the tokenizer: validation, code point iteration and
// lossy decoding with U+FFFD replacement.
//
// The lossy decoder replaces each maximal invalid subpart with one U+FFFD,
// as Python's bytes.decode(errors="replace") and Rust's
// String::from_utf8_lossy do (Unicode 6.0+ "best practice").
//
// Thread-safe: stateless functions.
#ifndef FNPROBE_SERVER_INFERENCE_TOKENIZER_UTF8_H_
#define FNPROBE_SERVER_INFERENCE_TOKENIZER_UTF8_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace fnprobe::utf8 {

// The UTF-8 encoding of U+FFFD.
inline constexpr absl::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the well-formed UTF-8 sequence starting at `s[pos]`, or 0 if the
// bytes there do not start one (truncated, overlong, surrogate, > U+10FFFF,
// stray continuation byte). REQUIRES: pos < s.size().
size_t ValidSequenceLength(absl::string_view s, size_t pos);

// Byte offset of the first byte that does not begin a well-formed sequence;
// nullopt if `s` is valid UTF-8.
std::optional<size_t> FindInvalid(absl::string_view s);

// Decodes `bytes` as UTF-8, replacing each maximal invalid subpart with
// U+FFFD.
std::string DecodeLossy(absl::string_view bytes);

// Length in bytes of the code point starting at `s[pos]` in valid UTF-8.
// REQUIRES: `s` is valid UTF-8 and pos is at a code point boundary.
size_t CharLength(absl::string_view s, size_t pos);

// The code point starting at `s[pos]` in valid UTF-8.
// REQUIRES: as for CharLength.
uint32_t DecodeAt(absl::string_view s, size_t pos);

// Start of the code point that ends just before `pos` in valid UTF-8.
// REQUIRES: 0 < pos <= s.size(), pos at a code point boundary.
size_t PreviousCharStart(absl::string_view s, size_t pos);

// Appends the UTF-8 encoding of `code_point` (REQUIRES: a scalar value).
void Append(uint32_t code_point, std::string* out);

// Number of code points in valid UTF-8 `s`.
size_t CountChars(absl::string_view s);

}  // namespace fnprobe::utf8

#endif  // FNPROBE_SERVER_INFERENCE_TOKENIZER_UTF8_H_
