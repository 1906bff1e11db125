#include "server/inference/tokenizer/pre_tokenizer.h"

#include <functional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "common/status_util.h"
#include "server/inference/tokenizer/byte_level.h"
#include "server/inference/tokenizer/regex_pattern.h"

namespace fnprobe {
namespace {

using nlohmann::json;

constexpr char kGpt2Pattern[] =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// Rust's char::is_numeric, char::is_whitespace, and HF's is_punc (ASCII
// punctuation or Unicode P*), one character per match.
constexpr char kNumericChar[] = R"(\p{N})";
constexpr char kWhitespaceChar[] = R"(\s)";
constexpr char kPunctuationChar[] = R"([\p{P}!-/:-@\[-`{-~])";
constexpr char kWordsAndSymbols[] = R"(\w+|[^\w\s]+)";

// What happens to a matched delimiter (HF SplitDelimiterBehavior).
enum class Behavior {
  kRemoved,
  kIsolated,
  kMergedWithPrevious,
  kMergedWithNext,
  kContiguous
};

absl::StatusOr<Behavior> ParseBehavior(const json& spec, const JsonPath& at,
                                       absl::string_view default_value) {
  // An empty default makes the field required.
  FNPROBE_ASSIGN_OR_RETURN(
      std::string name, default_value.empty()
                            ? GetString(spec, "behavior", at)
                            : GetString(spec, "behavior", at, default_value));
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  return at.Field("behavior").Error("unknown behavior \"" + name + "\"");
}

struct Part {
  size_t begin;
  size_t end;
  bool remove;
};

std::vector<Part> MergeBackward(const std::vector<RegexPattern::Span>& spans) {
  std::vector<Part> parts;
  bool previous_match = false;
  for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
    if (it->is_match && !previous_match && !parts.empty()) {
      parts.back().begin = it->begin;
    } else {
      parts.push_back({it->begin, it->end, false});
    }
    previous_match = it->is_match;
  }
  return {parts.rbegin(), parts.rend()};
}

// Applies `behavior` to the spans of a text (HF NormalizedString::split).
std::vector<Part> ApplyBehavior(const std::vector<RegexPattern::Span>& spans,
                                Behavior behavior) {
  if (behavior == Behavior::kMergedWithNext) return MergeBackward(spans);
  std::vector<Part> parts;
  bool previous_match = false;
  for (const RegexPattern::Span& span : spans) {
    bool extend = false;
    if (behavior == Behavior::kContiguous) {
      extend = span.is_match == previous_match && !parts.empty();
    } else if (behavior == Behavior::kMergedWithPrevious) {
      extend = span.is_match && !previous_match && !parts.empty();
    }
    if (extend) {
      parts.back().end = span.end;
    } else {
      const bool remove = behavior == Behavior::kRemoved && span.is_match;
      parts.push_back({span.begin, span.end, remove});
    }
    previous_match = span.is_match;
  }
  return parts;
}

// Splits each piece at the matches of `pattern` (inverted if `invert`).
void SplitPieces(const RegexPattern& pattern, Behavior behavior, bool invert,
                 std::vector<TextPiece>* pieces) {
  std::vector<TextPiece> out;
  for (TextPiece& piece : *pieces) {
    std::vector<RegexPattern::Span> spans = pattern.FindMatches(piece.text);
    if (invert) {
      for (RegexPattern::Span& span : spans) span.is_match = !span.is_match;
    }
    for (const Part& part : ApplyBehavior(spans, behavior)) {
      if (part.remove || part.begin == part.end) continue;
      out.push_back({piece.text.substr(part.begin, part.end - part.begin),
                     piece.at_start && part.begin == 0});
    }
  }
  *pieces = std::move(out);
}

class ByteLevel final : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}

  void PreTokenize(std::vector<TextPiece>* pieces) const override {
    static const RegexPattern* const gpt2 =
        RegexPattern::CompileBuiltin(kGpt2Pattern).release();
    if (add_prefix_space_) {
      for (TextPiece& piece : *pieces) {
        if (!absl::StartsWith(piece.text, " ")) piece.text.insert(0, " ");
      }
    }
    if (use_regex_) SplitPieces(*gpt2, Behavior::kIsolated, false, pieces);
    for (TextPiece& piece : *pieces) {
      piece.text = byte_level::BytesToSymbols(piece.text);
    }
  }

 private:
  bool add_prefix_space_;
  bool use_regex_;
};

class Split final : public PreTokenizer {
 public:
  Split(std::unique_ptr<RegexPattern> pattern, Behavior behavior, bool invert)
      : pattern_(std::move(pattern)), behavior_(behavior), invert_(invert) {}

  void PreTokenize(std::vector<TextPiece>* pieces) const override {
    SplitPieces(*pattern_, behavior_, invert_, pieces);
  }

 private:
  std::unique_ptr<RegexPattern> pattern_;
  Behavior behavior_;
  bool invert_;
};

enum class PrependScheme { kAlways, kFirst, kNever };

class Metaspace final : public PreTokenizer {
 public:
  Metaspace(std::string replacement, std::unique_ptr<RegexPattern> pattern,
            PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)),
        pattern_(std::move(pattern)),
        scheme_(scheme),
        split_(split) {}

  void PreTokenize(std::vector<TextPiece>* pieces) const override {
    for (TextPiece& piece : *pieces) {
      piece.text = absl::StrReplaceAll(piece.text, {{" ", replacement_}});
      const bool prepend = scheme_ == PrependScheme::kAlways ||
                           (scheme_ == PrependScheme::kFirst && piece.at_start);
      if (prepend && !absl::StartsWith(piece.text, replacement_)) {
        piece.text.insert(0, replacement_);
      }
    }
    if (split_)
      SplitPieces(*pattern_, Behavior::kMergedWithNext, false, pieces);
  }

 private:
  std::string replacement_;
  std::unique_ptr<RegexPattern> pattern_;
  PrependScheme scheme_;
  bool split_;
};

class Sequence final : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void PreTokenize(std::vector<TextPiece>* pieces) const override {
    for (const auto& part : parts_) part->PreTokenize(pieces);
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

absl::StatusOr<std::unique_ptr<PreTokenizer>> MakeByteLevel(
    const json& spec, const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(bool add_prefix_space,
                           GetBool(spec, "add_prefix_space", at, true));
  FNPROBE_ASSIGN_OR_RETURN(bool use_regex,
                           GetBool(spec, "use_regex", at, true));
  return std::make_unique<ByteLevel>(add_prefix_space, use_regex);
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> MakeSplit(const json& spec,
                                                        const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<RegexPattern> pattern,
                           GetPattern(spec, at));
  FNPROBE_ASSIGN_OR_RETURN(Behavior behavior, ParseBehavior(spec, at, ""));
  FNPROBE_ASSIGN_OR_RETURN(bool invert, GetBool(spec, "invert", at, false));
  return std::make_unique<Split>(std::move(pattern), behavior, invert);
}

absl::StatusOr<PrependScheme> ParsePrependScheme(const json& spec,
                                                 const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(bool add_prefix_space,
                           GetBool(spec, "add_prefix_space", at, true));
  FNPROBE_ASSIGN_OR_RETURN(std::string name,
                           GetString(spec, "prepend_scheme", at, "always"));
  if (!add_prefix_space) return PrependScheme::kNever;
  if (name == "always") return PrependScheme::kAlways;
  if (name == "first") return PrependScheme::kFirst;
  if (name == "never") return PrependScheme::kNever;
  return at.Field("prepend_scheme").Error("unknown scheme \"" + name + "\"");
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> MakeMetaspace(
    const json& spec, const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(std::string replacement,
                           GetChar(spec, "replacement", at, "\xE2\x96\x81"));
  FNPROBE_ASSIGN_OR_RETURN(PrependScheme scheme, ParsePrependScheme(spec, at));
  FNPROBE_ASSIGN_OR_RETURN(bool split, GetBool(spec, "split", at, true));
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<RegexPattern> pattern,
                           RegexPattern::Literal(replacement));
  return std::make_unique<Metaspace>(std::move(replacement), std::move(pattern),
                                     scheme, split);
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> MakeCharSplit(const char* pattern,
                                                            Behavior behavior,
                                                            bool invert) {
  return std::make_unique<Split>(RegexPattern::CompileBuiltin(pattern),
                                 behavior, invert);
}

absl::StatusOr<std::unique_ptr<PreTokenizer>> MakeSequence(const json& spec,
                                                           const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(const json* list,
                           GetArray(spec, "pretokenizers", at));
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  for (size_t i = 0; i < list->size(); ++i) {
    FNPROBE_ASSIGN_OR_RETURN(
        std::unique_ptr<PreTokenizer> part,
        PreTokenizer::FromJson((*list)[i], at.Field("pretokenizers").Index(i)));
    parts.push_back(std::move(part));
  }
  return std::make_unique<Sequence>(std::move(parts));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PreTokenizer>> PreTokenizer::FromJson(
    const json& spec, const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(std::string type,
                           GetComponentType(spec, "pre_tokenizer", at));
  if (type == "ByteLevel") return MakeByteLevel(spec, at);
  if (type == "Split") return MakeSplit(spec, at);
  if (type == "Metaspace") return MakeMetaspace(spec, at);
  if (type == "Sequence") return MakeSequence(spec, at);
  if (type == "Digits") {
    FNPROBE_ASSIGN_OR_RETURN(bool individual,
                             GetBool(spec, "individual_digits", at, false));
    return MakeCharSplit(
        kNumericChar, individual ? Behavior::kIsolated : Behavior::kContiguous,
        false);
  }
  if (type == "Punctuation") {
    FNPROBE_ASSIGN_OR_RETURN(Behavior behavior,
                             ParseBehavior(spec, at, "Isolated"));
    return MakeCharSplit(kPunctuationChar, behavior, false);
  }
  if (type == "Whitespace") {
    return MakeCharSplit(kWordsAndSymbols, Behavior::kRemoved, true);
  }
  if (type == "WhitespaceSplit") {
    return MakeCharSplit(kWhitespaceChar, Behavior::kRemoved, false);
  }
  return UnsupportedType("pre_tokenizer", type, at);
}

}  // namespace fnprobe
