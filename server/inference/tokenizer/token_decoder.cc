#include "server/inference/tokenizer/token_decoder.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/status_util.h"
#include "server/inference/tokenizer/byte_level.h"
#include "server/inference/tokenizer/regex_pattern.h"
#include "server/inference/tokenizer/utf8.h"

namespace fnprobe {
namespace {

using nlohmann::json;

// Byte symbols back to bytes, then lossy UTF-8 over the whole text. A token
// with any non-symbol character contributes its UTF-8 bytes unchanged.
class ByteLevel final : public TokenDecoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::string bytes;
    for (const std::string& token : *tokens) {
      if (!byte_level::SymbolsToBytes(token, &bytes)) bytes += token;
    }
    *tokens = {utf8::DecodeLossy(bytes)};
  }
};

// "<0xAB>" tokens to bytes; each run of them becomes its UTF-8 text, or one
// U+FFFD per byte if the run is not valid UTF-8.
class ByteFallback final : public TokenDecoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    std::vector<std::string> out;
    std::string run;
    for (std::string& token : *tokens) {
      const int byte = ByteOf(token);
      if (byte >= 0) {
        run.push_back(static_cast<char>(byte));
        continue;
      }
      Flush(&run, &out);
      out.push_back(std::move(token));
    }
    Flush(&run, &out);
    *tokens = std::move(out);
  }

 private:
  static int HexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static int ByteOf(absl::string_view token) {
    if (token.size() != 6 || !absl::StartsWith(token, "<0x") ||
        token[5] != '>') {
      return -1;
    }
    const int hi = HexDigit(token[3]);
    const int lo = HexDigit(token[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
  static void Flush(std::string* run, std::vector<std::string>* out) {
    if (run->empty()) return;
    if (!utf8::FindInvalid(*run).has_value()) {
      out->push_back(*run);
    } else {
      for (size_t i = 0; i < run->size(); ++i) {
        out->emplace_back(utf8::kReplacement);
      }
    }
    run->clear();
  }
};

class Fuse final : public TokenDecoder {
 public:
  void DecodeChain(std::vector<std::string>* tokens) const override {
    *tokens = {absl::StrJoin(*tokens, "")};
  }
};

// Removes up to `start` leading and `stop` trailing copies of a character
// from each token.
class Strip final : public TokenDecoder {
 public:
  Strip(std::string content, int64_t start, int64_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}

  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (std::string& token : *tokens) {
      absl::string_view rest = token;
      for (int64_t i = 0; i < start_ && absl::ConsumePrefix(&rest, content_);
           ++i) {
      }
      for (int64_t i = 0; i < stop_ && absl::ConsumeSuffix(&rest, content_);
           ++i) {
      }
      token = std::string(rest);
    }
  }

 private:
  std::string content_;
  int64_t start_;
  int64_t stop_;
};

class Replace final : public TokenDecoder {
 public:
  Replace(std::unique_ptr<RegexPattern> pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}

  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (std::string& token : *tokens) {
      std::string out;
      for (const RegexPattern::Span& span : pattern_->FindMatches(token)) {
        if (span.is_match) {
          out += content_;
        } else {
          out.append(token, span.begin, span.end - span.begin);
        }
      }
      token = std::move(out);
    }
  }

 private:
  std::unique_ptr<RegexPattern> pattern_;
  std::string content_;
};

// The replacement character becomes a space, except in the first token when
// a prefix was prepended at encoding (prepend_scheme not "never").
class Metaspace final : public TokenDecoder {
 public:
  Metaspace(std::string replacement, bool drop_in_first)
      : replacement_(std::move(replacement)), drop_in_first_(drop_in_first) {}

  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (size_t i = 0; i < tokens->size(); ++i) {
      const bool drop = i == 0 && drop_in_first_;
      (*tokens)[i] =
          absl::StrReplaceAll((*tokens)[i], {{replacement_, drop ? "" : " "}});
    }
  }

 private:
  std::string replacement_;
  bool drop_in_first_;
};

class Sequence final : public TokenDecoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<TokenDecoder>> parts)
      : parts_(std::move(parts)) {}
  void DecodeChain(std::vector<std::string>* tokens) const override {
    for (const auto& part : parts_) part->DecodeChain(tokens);
  }

 private:
  std::vector<std::unique_ptr<TokenDecoder>> parts_;
};

absl::StatusOr<std::unique_ptr<TokenDecoder>> MakeStrip(const json& spec,
                                                        const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(std::string content,
                           GetChar(spec, "content", at, " "));
  FNPROBE_ASSIGN_OR_RETURN(int64_t start, GetInt(spec, "start", at, 0));
  FNPROBE_ASSIGN_OR_RETURN(int64_t stop, GetInt(spec, "stop", at, 0));
  return std::make_unique<Strip>(std::move(content), start, stop);
}

absl::StatusOr<std::unique_ptr<TokenDecoder>> MakeReplace(const json& spec,
                                                          const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<RegexPattern> pattern,
                           GetPattern(spec, at));
  FNPROBE_ASSIGN_OR_RETURN(std::string content, GetString(spec, "content", at));
  return std::make_unique<Replace>(std::move(pattern), std::move(content));
}

absl::StatusOr<std::unique_ptr<TokenDecoder>> MakeMetaspace(
    const json& spec, const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(std::string replacement,
                           GetChar(spec, "replacement", at, "\xE2\x96\x81"));
  FNPROBE_ASSIGN_OR_RETURN(bool add_prefix_space,
                           GetBool(spec, "add_prefix_space", at, true));
  FNPROBE_ASSIGN_OR_RETURN(std::string scheme,
                           GetString(spec, "prepend_scheme", at, "always"));
  const bool drop = add_prefix_space && scheme != "never";
  return std::make_unique<Metaspace>(std::move(replacement), drop);
}

absl::StatusOr<std::unique_ptr<TokenDecoder>> MakeSequence(const json& spec,
                                                           const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(const json* list, GetArray(spec, "decoders", at));
  std::vector<std::unique_ptr<TokenDecoder>> parts;
  for (size_t i = 0; i < list->size(); ++i) {
    FNPROBE_ASSIGN_OR_RETURN(
        std::unique_ptr<TokenDecoder> part,
        TokenDecoder::FromJson((*list)[i], at.Field("decoders").Index(i)));
    parts.push_back(std::move(part));
  }
  return std::make_unique<Sequence>(std::move(parts));
}

}  // namespace

absl::StatusOr<std::unique_ptr<TokenDecoder>> TokenDecoder::FromJson(
    const json& spec, const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(std::string type,
                           GetComponentType(spec, "decoder", at));
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") return MakeStrip(spec, at);
  if (type == "Replace") return MakeReplace(spec, at);
  if (type == "Metaspace") return MakeMetaspace(spec, at);
  if (type == "Sequence") return MakeSequence(spec, at);
  return UnsupportedType("decoder", type, at);
}

}  // namespace fnprobe
