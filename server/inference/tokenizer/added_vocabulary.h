// The "added_tokens" of a tokenizer.json: tokens matched verbatim in the
// input before the model sees it (special tokens such as <|endoftext|>, and
// other added tokens), with their lstrip / rstrip / single_word options.
//
// Matching is leftmost-longest. Tokens with normalized=false match the raw
// input; tokens with normalized=true match the text after normalization.
//
// Thread-safe: immutable after construction.
#ifndef FNPROBE_SERVER_INFERENCE_TOKENIZER_ADDED_VOCABULARY_H_
#define FNPROBE_SERVER_INFERENCE_TOKENIZER_ADDED_VOCABULARY_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/json_fields.h"
#include "server/inference/tokenizer/regex_pattern.h"

namespace fnprobe {

struct AddedToken {
  int64_t id = 0;
  std::string content;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = true;
  bool special = false;
};

class AddedVocabulary {
 public:
  // A part of the input: an added token (id set) or text between them.
  struct Segment {
    std::string text;
    std::optional<int64_t> id;
    bool at_start = false;  // starts at offset 0 of the original input
  };

  // Builds from the "added_tokens" array (null or absent: none).
  // INVALID_ARGUMENT naming `at` for malformed entries.
  static absl::StatusOr<std::unique_ptr<AddedVocabulary>> FromJson(
      const nlohmann::json* list, const JsonPath& at);

  // Splits `text` (a segment without id) at the tokens whose `normalized`
  // flag equals `normalized`, appending the parts to `out` in order. Empty
  // text parts are dropped.
  void Split(absl::string_view text, bool at_start, bool normalized,
             std::vector<Segment>* out) const;

  // nullptr if `id` is not an added token.
  const AddedToken* Find(int64_t id) const;
  std::optional<int64_t> TokenToId(absl::string_view content) const;
  // True if some special added token has this content.
  bool IsSpecialContent(absl::string_view content) const;
  // Ids of special tokens, ascending.
  std::vector<int64_t> SpecialIds() const;
  // The largest added id, or -1 if there are none.
  int64_t max_id() const { return max_id_; }

 private:
  // Leftmost-longest matcher over the tokens of one `normalized` flag.
  struct Matcher {
    // Token indices by first byte, longest content first.
    std::array<std::vector<size_t>, 256> by_first_byte;
  };

  AddedVocabulary();
  absl::Status Add(const nlohmann::json& entry, const JsonPath& at);
  void BuildMatchers();
  // Index into tokens_ of the longest token starting at `text[pos]`, or -1.
  int64_t LongestAt(const Matcher& matcher, absl::string_view text,
                    size_t pos) const;
  // Whether the match [begin, end) of `token` passes its single_word rule.
  bool IsSingleWord(absl::string_view text, size_t begin, size_t end) const;
  size_t StartOfTrailingSpace(absl::string_view text, size_t end) const;
  size_t EndOfLeadingSpace(absl::string_view text, size_t begin) const;

  // Constant after construction.
  std::vector<AddedToken> tokens_;
  absl::flat_hash_map<int64_t, size_t> by_id_;
  absl::flat_hash_map<std::string, int64_t> by_content_;
  absl::flat_hash_set<std::string> special_contents_;
  Matcher raw_matcher_;
  Matcher normalized_matcher_;
  std::unique_ptr<RegexPattern> space_char_;
  std::unique_ptr<RegexPattern> word_char_;
  int64_t max_id_ = -1;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOKENIZER_ADDED_VOCABULARY_H_
