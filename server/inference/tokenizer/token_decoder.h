// Decoders of a tokenizer.json, turning token strings back into text:
// ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace and Sequence.
// Each maps the list of token strings to a new list (HF's decode_chain); the
// text is the concatenation of the final list.
//
// Thread-safe: immutable after construction.
#ifndef FNPROBE_SERVER_INFERENCE_TOKENIZER_TOKEN_DECODER_H_
#define FNPROBE_SERVER_INFERENCE_TOKENIZER_TOKEN_DECODER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/json_fields.h"

namespace fnprobe {

class TokenDecoder {
 public:
  virtual ~TokenDecoder() = default;

  // Rewrites the token strings. REQUIRES: each is valid UTF-8; so is each
  // result (invalid byte sequences become U+FFFD).
  virtual void DecodeChain(std::vector<std::string>* tokens) const = 0;

  // Builds the decoder described by the (non-null) JSON object `spec`;
  // INVALID_ARGUMENT naming `at` for unknown types or bad fields.
  static absl::StatusOr<std::unique_ptr<TokenDecoder>> FromJson(
      const nlohmann::json& spec, const JsonPath& at);
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOKENIZER_TOKEN_DECODER_H_
