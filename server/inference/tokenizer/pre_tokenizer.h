// Pre-tokenizers of a tokenizer.json: ByteLevel, Split, Digits, Metaspace,
// Whitespace, WhitespaceSplit, Punctuation and Sequence. Each splits the
// normalized text into pieces that the model tokenizes separately (and
// ByteLevel also maps every byte to its GPT-2 byte symbol).
//
// Thread-safe: immutable after construction.
#ifndef FNPROBE_SERVER_INFERENCE_TOKENIZER_PRE_TOKENIZER_H_
#define FNPROBE_SERVER_INFERENCE_TOKENIZER_PRE_TOKENIZER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/json_fields.h"

namespace fnprobe {

// A piece of text on its way to the model.
struct TextPiece {
  std::string text;
  // True if the piece starts at offset 0 of the original input (Metaspace's
  // prepend_scheme "first" only prepends there).
  bool at_start = false;
};

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;

  // Replaces `pieces` by their pre-tokenized parts, dropping empty ones.
  // REQUIRES: every piece is valid UTF-8.
  virtual void PreTokenize(std::vector<TextPiece>* pieces) const = 0;

  // Builds the pre-tokenizer described by the (non-null) JSON object `spec`;
  // INVALID_ARGUMENT naming `at` for unknown types, bad fields or regexes.
  static absl::StatusOr<std::unique_ptr<PreTokenizer>> FromJson(
      const nlohmann::json& spec, const JsonPath& at);
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOKENIZER_PRE_TOKENIZER_H_
