// Normalizers of a tokenizer.json: NFC, NFD, NFKC, NFKD, Lowercase, Prepend,
// Replace, Strip and Sequence. The Unicode forms and case mapping use ICU,
// which stays inside normalizer.cc.
//
// Thread-safe: immutable after construction.
#ifndef FNPROBE_SERVER_INFERENCE_TOKENIZER_NORMALIZER_H_
#define FNPROBE_SERVER_INFERENCE_TOKENIZER_NORMALIZER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/json_fields.h"

namespace fnprobe {

class Normalizer {
 public:
  virtual ~Normalizer() = default;

  // Rewrites `text` in place. REQUIRES: `text` is valid UTF-8.
  virtual void Normalize(std::string* text) const = 0;

  // Builds the normalizer described by the (non-null) JSON object `spec`;
  // INVALID_ARGUMENT naming `at` for unknown types or bad fields.
  static absl::StatusOr<std::unique_ptr<Normalizer>> FromJson(
      const nlohmann::json& spec, const JsonPath& at);
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOKENIZER_NORMALIZER_H_
