// The library behind fnprobe-make-model: writes deterministic random-weight
// checkpoints in the Hugging Face layout, so that demos, tests and
// benchmarks need no download.
//
// A checkpoint directory holds
//   config.json             the family's keys, named as transformers names
//                           them (ModelConfig::FromJson and HF both read it);
//   generation_config.json  the special token ids;
//   model.safetensors       every tensor the family's loader reads, tied LM
//                           heads omitted as save_pretrained does;
//   tokenizer.json          a byte-level BPE (GPT-2 schema) trained on an
//                           embedded English corpus, padded with inert
//                           "<|unused_N|>" tokens up to the model's vocab;
//   tokenizer_config.json   so that HF's AutoTokenizer picks GPT2TokenizerFast;
//   planted.json            planted mode only (below).
//
// Planted mode (options.planted): the same layout, but each planted word is
// one added token taking an "<|unused_N|>" slot (the tokenizer is trained
// one token per word smaller so that the slots exist), and the weights are
// rewritten so that known units respond to known words and nothing else
// responds to the context (planted_model.h: construction and ground truth).
// planted.json lists each condition's token ids and responding units.
//
// Determinism: the same options (shape, family, seed, dtype) give
// byte-identical files on the same platform: the tokenizer is trained
// deterministically and the weights come from seeded streams that depend on
// neither thread count nor tensor order (random_weights.h).
//
// Atomicity: MakeModel builds everything in a temporary sibling directory
// and renames it into place, all through options.env; on failure nothing is
// left behind and an existing output directory is untouched.
//
// Torch-free: this file and its .cc include no torch headers.
//
// Thread-safe: the functions keep no shared state; concurrent calls must
// name different output directories.
#ifndef FNPROBE_SERVER_INFERENCE_TOOLS_MODEL_MAKER_H_
#define FNPROBE_SERVER_INFERENCE_TOOLS_MODEL_MAKER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/dtype.h"
#include "common/env.h"
#include "server/inference/model/model_config.h"
#include "server/inference/tools/planted_model.h"
#include "server/inference/tools/planted_spec.h"

namespace fnprobe {

// The named shapes, in the order --help lists them:
//   tiny            any family: hidden 64, 2 layers, 4 heads, MLP 256
//                   (llama: 172 with 2 KV heads), 512 positions, vocab 1024;
//   galactica-125m  opt, facebook/galactica-125m's config.json;
//   pythia-160m     gpt_neox, EleutherAI/pythia-160m's config.json;
//   llama-tiny      llama: hidden 256, 4 layers, 8 heads (4 KV), MLP 688,
//                   512 positions, vocab 2048.
std::vector<std::string> ModelShapeNames();

// "opt", "gpt2", "gpt_neox", "llama".
std::vector<std::string> ModelFamilyNames();

struct MakeModelOptions {
  // One of ModelShapeNames().
  std::string shape;
  // One of ModelFamilyNames(), or empty for the shape's own family (opt for
  // tiny). Named real shapes imply their family; naming another is an error.
  std::string family;
  uint64_t seed = 0;
  // Storage dtype of the weights: F32, F16 or BF16.
  DType dtype = DType::kF32;
  // The checkpoint directory to create. Its parent is created if missing.
  std::string out_dir;
  // Replace `out_dir` if it exists and is not empty (otherwise refused).
  bool force = false;
  // Planted mode when set: families opt and gpt2 only, dtype F32 only.
  std::optional<PlantSpec> planted;
  // Every file and directory is written through this Env (common/env.h);
  // nullptr means Env::Default(). Not owned.
  Env* env = nullptr;
};

// Everything MakeModel writes except the weights, resolved from the options
// (out_dir and force are not used).
struct ModelPlan {
  std::string shape;
  // config.json as ModelConfig::FromJson reads it.
  ModelConfig config;
  // The JSON files by name (config.json, generation_config.json,
  // tokenizer.json, tokenizer_config.json) and their contents.
  std::map<std::string, std::string> json_files;
  // Tokens learned by the BPE trainer, the 256 byte symbols included.
  int64_t learned_tokens = 0;
  int64_t merges = 0;
  // The id of "<|endoftext|>", also the bos/eos (and OPT's pad) id.
  int64_t special_token_id = 0;
  // Planted mode: where each condition lives (json_files then also holds
  // planted.json).
  std::optional<PlantedLayout> planted;
};

// A checkpoint written by MakeModel.
struct MadeModel {
  std::string directory;
  ModelPlan plan;
  // (file name, size in bytes) of each file written, by name.
  std::vector<std::pair<std::string, int64_t>> files;
  int64_t num_tensors = 0;
  int64_t num_parameters = 0;  // elements over all tensors written
};

// Resolves the shape and family, trains the tokenizer and renders the JSON
// files; touches no file. INVALID_ARGUMENT for an unknown shape, family or
// dtype, or a family that conflicts with a named shape; in planted mode also
// for a family other than opt and gpt2, a dtype other than F32, more
// conditions than the model holds (MaxPlantedConditions), a word that is
// already a token of the trained vocabulary, or more words than the
// vocabulary can spare.
absl::StatusOr<ModelPlan> PlanModel(const MakeModelOptions& options);

// Writes the checkpoint to options.out_dir. Errors, in addition to
// PlanModel's: INVALID_ARGUMENT for an empty out_dir; ALREADY_EXISTS if
// out_dir is a non-empty directory and force is false; FAILED_PRECONDITION
// if out_dir exists and is not a directory; file-system errors naming the
// path. On any error the file system is as it was.
absl::StatusOr<MadeModel> MakeModel(const MakeModelOptions& options);

// The English text the tokenizers are trained on (model_maker_corpus.cc).
absl::string_view ModelMakerCorpus();

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOOLS_MODEL_MAKER_H_
