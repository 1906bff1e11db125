// A tokenizer read from a Hugging Face tokenizer.json.
//
// Supports what the model families fnprobe loads use:
//  - normalizers: NFC, NFKC, NFD, NFKD, Lowercase, Prepend, Replace, Strip,
//    Sequence (and null);
//  - pre-tokenizers: ByteLevel (GPT-2 regex or none), Split (regex or
//    string, all behaviours, invert), Digits, Metaspace, Whitespace,
//    WhitespaceSplit, Punctuation, Sequence (and null);
//  - model: BPE (merges as "a b" strings or [a, b] pairs, byte_fallback,
//    ignore_merges, unk_token, fuse_unk, continuing_subword_prefix,
//    end_of_word_suffix);
//  - post-processors: ByteLevel, TemplateProcessing, RobertaProcessing,
//    BertProcessing, Sequence (and null);
//  - decoders: ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace,
//    Sequence (and null);
//  - added tokens (special or not, lstrip/rstrip/single_word/normalized),
//    which are split out of the text before normalization.
// Any other component type is refused at load with an error naming it.
//
// Thread-safe: immutable after construction.
#ifndef FNPROBE_SERVER_INFERENCE_TOKENIZER_TOKENIZER_H_
#define FNPROBE_SERVER_INFERENCE_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace fnprobe {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Loads tokenizer.json. Errors name the file and the offending field.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromFile(
      const std::string& path);
  // `source` names the origin in error messages.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> FromJson(
      absl::string_view json, absl::string_view source);

  // Token ids of `text`, as HF `tokenizer.encode(text)` gives them.
  // add_special_tokens applies the post-processor's template (BOS etc.).
  // INVALID_ARGUMENT if `text` is not valid UTF-8 (naming the byte offset).
  virtual absl::StatusOr<std::vector<int64_t>> Encode(
      absl::string_view text, bool add_special_tokens = true) const = 0;

  // Text of `ids`, as HF `decode(ids, skip_special_tokens,
  // clean_up_tokenization_spaces=False)`; invalid UTF-8 byte sequences
  // become U+FFFD per maximal invalid subpart (Python's errors="replace").
  // Unknown ids are skipped.
  virtual std::string Decode(absl::Span<const int64_t> ids,
                             bool skip_special_tokens = false) const = 0;

  // One more than the largest id of the vocabulary and added tokens.
  virtual int64_t vocab_size() const = 0;

  // The vocabulary entry (or added token) for a token string.
  virtual std::optional<int64_t> TokenToId(absl::string_view token) const = 0;
  // The raw token string of `id` (e.g. "\u0120world"); nullopt if unknown.
  virtual std::optional<std::string> IdToToken(int64_t id) const = 0;

  // Ids of added tokens marked special (e.g. <|endoftext|>, <s>).
  virtual std::vector<int64_t> SpecialTokenIds() const = 0;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOKENIZER_TOKENIZER_H_
