#include "server/inference/tokenizer/normalizer.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/ustring.h>

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/inference/tokenizer/regex_pattern.h"
#include "server/inference/tokenizer/utf8.h"

namespace fnprobe {
namespace {

using nlohmann::json;

// NFC, NFD, NFKC or NFKD through ICU.
class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(const icu::Normalizer2* icu) : icu_(icu) {}

  void Normalize(std::string* text) const override {
    UErrorCode status = U_ZERO_ERROR;
    if (icu_->isNormalizedUTF8(*text, status) && U_SUCCESS(status)) return;
    std::string out;
    icu::StringByteSink<std::string> sink(&out,
                                          static_cast<int32_t>(text->size()));
    status = U_ZERO_ERROR;
    icu_->normalizeUTF8(0, *text, sink, nullptr, status);
    if (U_SUCCESS(status)) *text = std::move(out);
  }

 private:
  const icu::Normalizer2* icu_;  // owned by ICU
};

absl::StatusOr<std::unique_ptr<Normalizer>> MakeUnicode(const std::string& type,
                                                        const JsonPath& at) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* icu = nullptr;
  if (type == "NFC") icu = icu::Normalizer2::getNFCInstance(status);
  if (type == "NFD") icu = icu::Normalizer2::getNFDInstance(status);
  if (type == "NFKC") icu = icu::Normalizer2::getNFKCInstance(status);
  if (type == "NFKD") icu = icu::Normalizer2::getNFKDInstance(status);
  if (icu == nullptr || U_FAILURE(status)) {
    return at.Error(absl::StrCat("ICU has no ", type,
                                 " normalizer: ", u_errorName(status)));
  }
  return std::make_unique<UnicodeNormalizer>(icu);
}

// Full, context-free lowercase mapping of each code point (as Rust's
// char::to_lowercase), so 'İ' becomes "i\u0307" and 'Σ' always 'σ'.
class Lowercase final : public Normalizer {
 public:
  void Normalize(std::string* text) const override {
    std::string out;
    out.reserve(text->size());
    for (size_t pos = 0; pos < text->size();) {
      const size_t n = utf8::CharLength(*text, pos);
      const uint32_t cp = utf8::DecodeAt(*text, pos);
      if (cp < 0x80) {
        out.push_back(static_cast<char>(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp));
      } else {
        AppendLower(cp, &out);
      }
      pos += n;
    }
    *text = std::move(out);
  }

 private:
  static void AppendLower(uint32_t cp, std::string* out) {
    UChar src[2];
    int32_t src_len = 0;
    UBool error = false;
    U16_APPEND(src, src_len, 2, cp, error);
    UChar dst[8];
    UErrorCode status = U_ZERO_ERROR;
    const int32_t len = u_strToLower(dst, 8, src, src_len, "", &status);
    if (U_FAILURE(status) || error) {
      utf8::Append(cp, out);
      return;
    }
    for (int32_t i = 0; i < len;) {
      UChar32 c;
      U16_NEXT(dst, i, len, c);
      utf8::Append(static_cast<uint32_t>(c), out);
    }
  }
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void Normalize(std::string* text) const override {
    if (!text->empty()) text->insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Replace final : public Normalizer {
 public:
  Replace(std::unique_ptr<RegexPattern> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}

  void Normalize(std::string* text) const override {
    std::string out;
    for (const RegexPattern::Span& span : pattern_->FindMatches(*text)) {
      if (span.is_match) {
        out += content_;
      } else {
        out.append(*text, span.begin, span.end - span.begin);
      }
    }
    *text = std::move(out);
  }

 private:
  std::unique_ptr<RegexPattern> pattern_;
  std::string content_;
};

// Strips White_Space characters from either end.
class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}

  void Normalize(std::string* text) const override {
    size_t begin = 0;
    size_t end = text->size();
    if (right_) {
      while (end > 0) {
        const size_t start = utf8::PreviousCharStart(*text, end);
        if (!u_isUWhiteSpace(utf8::DecodeAt(*text, start))) break;
        end = start;
      }
    }
    if (left_) {
      while (begin < end && u_isUWhiteSpace(utf8::DecodeAt(*text, begin))) {
        begin += utf8::CharLength(*text, begin);
      }
    }
    *text = text->substr(begin, end - begin);
  }

 private:
  bool left_;
  bool right_;
};

class Sequence final : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts)
      : parts_(std::move(parts)) {}
  void Normalize(std::string* text) const override {
    for (const auto& part : parts_) part->Normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

absl::StatusOr<std::unique_ptr<Normalizer>> MakeReplace(const json& spec,
                                                        const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<RegexPattern> pattern,
                           GetPattern(spec, at));
  FNPROBE_ASSIGN_OR_RETURN(std::string content, GetString(spec, "content", at));
  return std::make_unique<Replace>(std::move(pattern), std::move(content));
}

absl::StatusOr<std::unique_ptr<Normalizer>> MakeSequence(const json& spec,
                                                         const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(const json* list, GetArray(spec, "normalizers", at));
  std::vector<std::unique_ptr<Normalizer>> parts;
  for (size_t i = 0; i < list->size(); ++i) {
    FNPROBE_ASSIGN_OR_RETURN(
        std::unique_ptr<Normalizer> part,
        Normalizer::FromJson((*list)[i], at.Field("normalizers").Index(i)));
    parts.push_back(std::move(part));
  }
  return std::make_unique<Sequence>(std::move(parts));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Normalizer>> Normalizer::FromJson(
    const json& spec, const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(std::string type,
                           GetComponentType(spec, "normalizer", at));
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    return MakeUnicode(type, at);
  }
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "Prepend") {
    FNPROBE_ASSIGN_OR_RETURN(std::string prefix,
                             GetString(spec, "prepend", at));
    return std::make_unique<Prepend>(std::move(prefix));
  }
  if (type == "Replace") return MakeReplace(spec, at);
  if (type == "Strip") {
    FNPROBE_ASSIGN_OR_RETURN(bool left, GetBool(spec, "strip_left", at, true));
    FNPROBE_ASSIGN_OR_RETURN(bool right,
                             GetBool(spec, "strip_right", at, true));
    return std::make_unique<Strip>(left, right);
  }
  if (type == "Sequence") return MakeSequence(spec, at);
  return UnsupportedType("normalizer", type, at);
}

}  // namespace fnprobe
