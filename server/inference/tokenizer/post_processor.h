// Post-processors of a tokenizer.json: the special tokens a single sequence
// gets when encoded with add_special_tokens (TemplateProcessing,
// RobertaProcessing, BertProcessing; ByteLevel only adjusts offsets, which
// fnprobe does not track, so it adds nothing), and Sequence of those.
//
// Thread-safe: immutable after construction.
#ifndef FNPROBE_SERVER_INFERENCE_TOKENIZER_POST_PROCESSOR_H_
#define FNPROBE_SERVER_INFERENCE_TOKENIZER_POST_PROCESSOR_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/json_fields.h"

namespace fnprobe {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;

  // Rewrites `ids` (the encoding of one sequence) to include the special
  // tokens of the single-sequence template.
  virtual void Process(std::vector<int64_t>* ids) const = 0;

  // Every id Process may insert, as the JSON gave them: the tokenizer checks
  // them against its vocabulary at load.
  virtual std::vector<int64_t> InsertedIds() const = 0;

  // Builds the processor described by the (non-null) JSON object `spec`;
  // INVALID_ARGUMENT naming `at` for unknown types or bad fields.
  static absl::StatusOr<std::unique_ptr<PostProcessor>> FromJson(
      const nlohmann::json& spec, const JsonPath& at);
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOKENIZER_POST_PROCESSOR_H_
