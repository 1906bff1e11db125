// Offline capture: runs one machine's prompts through a model and writes
// every selected hook point's values to a safetensors file, with the tensor
// names of ../shared/reference/models/*/reference.safetensors:
//
//   p{k}.input_ids                 I64 [T]
//   p{k}.{hook}, p{k}.logits       F32 [T, width]   every prompt position
//   p{k}.hidden_states.{0..L}      F32 [T, hidden]  HF output_hidden_states
//   with generate N > 0, also
//   p{k}.gen.ids                   I64 [N]
//   p{k}.gen.{hook}                F32 [N, width]   row s: the position that
//                                                   produced token s
//   p{k}.gen.hidden_states.{0..L}  F32 [N, hidden]
//   p{k}.gen.logits_top5.values    F32 [N, 5]       raw logits (before EOS
//   p{k}.gen.logits_top5.ids       I64 [N, 5]       suppression)
//
// hidden_states.K is embed (K = 0), blocks.{K-1}.resid_post, and final_norm
// for K = L, as Hugging Face defines them; each is written when the hook it
// copies is selected. The file is written atomically.
#ifndef FNPROBE_SERVER_INFERENCE_TOOLS_OFFLINE_CAPTURE_H_
#define FNPROBE_SERVER_INFERENCE_TOOLS_OFFLINE_CAPTURE_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/inference/model/batch_generator.h"
#include "server/inference/model/model.h"
#include "server/inference/tokenizer/tokenizer.h"

namespace fnprobe {

struct OfflineCaptureOptions {
  std::string model_dir;
  std::string prompts_path;
  std::string out_path;
  int64_t generate = 0;  // tokens to generate per prompt (greedy)
  std::vector<std::string> hooks = {"all"};
  int64_t batch_size = 16;  // prompts per forward batch
  ModelOptions model;
};

// Limits on the prompts file.
inline constexpr int64_t kMaxPromptsFileBytes = 64 << 20;
inline constexpr int64_t kMaxPrompts = 100000;

// Parses a prompts file: a JSON array whose items are strings (tokenized
// with `tokenizer`, special tokens added as the model's tokenizer does) or
// arrays of token ids. INVALID_ARGUMENT naming the item for anything else,
// an empty prompt, or an id outside [0, vocab_size).
absl::StatusOr<std::vector<Prompt>> ParsePrompts(absl::string_view json,
                                                 absl::string_view source,
                                                 const Tokenizer& tokenizer,
                                                 int64_t vocab_size);

// Loads the model, captures, writes options.out_path. Progress lines go to
// `progress` when given.
absl::Status RunOfflineCapture(const OfflineCaptureOptions& options,
                               std::ostream* progress);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOOLS_OFFLINE_CAPTURE_H_
