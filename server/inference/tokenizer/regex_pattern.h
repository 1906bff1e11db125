// A compiled Oniguruma regular expression (UTF-8, Ruby syntax, as Hugging
// Face tokenizers uses), with the match-splitting operation the tokenizer's
// Split, Replace and added-token logic need.
//
// Thread-safe: immutable after Compile; searches allocate their own state.
#ifndef FNPROBE_SERVER_INFERENCE_TOKENIZER_REGEX_PATTERN_H_
#define FNPROBE_SERVER_INFERENCE_TOKENIZER_REGEX_PATTERN_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe {

class RegexPattern {
 public:
  // One span of the text: a match, or the text between matches.
  struct Span {
    size_t begin;
    size_t end;
    bool is_match;
  };

  // INVALID_ARGUMENT with Oniguruma's message if `pattern` does not compile.
  static absl::StatusOr<std::unique_ptr<RegexPattern>> Compile(
      absl::string_view pattern);
  // For patterns fixed in the source code: aborts if `pattern` does not
  // compile (a programming error, not bad input).
  static std::unique_ptr<RegexPattern> CompileBuiltin(const char* pattern);
  // A pattern matching `literal` exactly.
  static absl::StatusOr<std::unique_ptr<RegexPattern>> Literal(
      absl::string_view literal);

  ~RegexPattern();
  RegexPattern(const RegexPattern&) = delete;
  RegexPattern& operator=(const RegexPattern&) = delete;

  // Spans covering all of `text` in order: each non-overlapping match
  // (leftmost first; an empty match right after a previous match is skipped)
  // and the unmatched text between. Empty `text` gives one empty non-match.
  // REQUIRES: `text` is valid UTF-8.
  std::vector<Span> FindMatches(absl::string_view text) const;

  // Length of the match anchored at `text[pos]`, or -1 if none.
  int MatchAt(absl::string_view text, size_t pos) const;

 private:
  struct Rep;
  explicit RegexPattern(std::unique_ptr<Rep> rep);

  std::unique_ptr<Rep> rep_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOKENIZER_REGEX_PATTERN_H_
