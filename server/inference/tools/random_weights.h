// Random weights for fnprobe-make-model (model_maker.h): the list of tensors
// a checkpoint of each family holds, and a writer that draws their values
// from a seeded generator straight into a model.safetensors file.
//
// Values: weight matrices and embeddings N(0, 0.02) (HF's init_std /
// initializer_range), biases N(0, 0.01), norm weights 1 + N(0, 0.02), norm
// biases N(0, 0.01). They come from xoshiro256** and the polar Box-Muller
// method (not std::normal_distribution, whose output is implementation-
// defined), in float32, then rounded to the storage dtype. Each run of
// kWeightChunk elements of a tensor has its own stream, keyed by the seed,
// the tensor name and the chunk index, so the bytes depend on neither the
// thread count nor the order of the tensors.
//
// The file has SafetensorsWriter's exact layout (tensors by name, the header
// padded to 8 bytes, {"format": "pt"} metadata) but is streamed chunk by
// chunk rather than assembled in memory: a 125M-parameter checkpoint needs
// a few MB of buffers, not twice its size.
//
// Thread-safe: the functions keep no shared state.
#ifndef FNPROBE_SERVER_INFERENCE_TOOLS_RANDOM_WEIGHTS_H_
#define FNPROBE_SERVER_INFERENCE_TOOLS_RANDOM_WEIGHTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dtype.h"
#include "common/env.h"
#include "server/inference/model/model_config.h"

namespace fnprobe {

enum class WeightInit {
  kMatrix,      // N(0, 0.02): linear weights and embeddings
  kBias,        // N(0, 0.01)
  kNormWeight,  // 1 + N(0, 0.02)
  kNormBias,    // N(0, 0.01)
};

struct WeightSpec {
  std::string name;  // full checkpoint name, e.g. "model.decoder.fc1.weight"
  std::vector<int64_t> shape;
  WeightInit init = WeightInit::kMatrix;

  int64_t numel() const;
};

// Elements per random stream. Fixed: changing it changes every checkpoint.
inline constexpr int64_t kWeightChunk = int64_t{1} << 20;

// Every tensor the loader of `config`'s family reads (model_weights.cc),
// under the names transformers' save_pretrained writes: OPT model.decoder.*,
// GPT-2 transformer.* (Conv1D weights [in, out]), GPT-NeoX gpt_neox.* and
// embed_out.weight, Llama model.* and lm_head.weight. A tied LM head is
// omitted, as save_pretrained omits it. Sorted by name.
std::vector<WeightSpec> CheckpointTensors(const ModelConfig& config);

struct RandomWeightsFile {
  int64_t num_tensors = 0;
  int64_t num_parameters = 0;  // elements over all tensors
  int64_t bytes = 0;           // file size
};

// Writes `specs` with values drawn from `seed`, stored as `dtype` (F32, F16
// or BF16), to a file created (truncating) at `path` through `env`, and
// syncs it. INVALID_ARGUMENT for
// another dtype or duplicate names; file-system errors name the path. On
// error a partial file may remain at `path`: write into a directory that is
// discarded on failure.
absl::StatusOr<RandomWeightsFile> WriteRandomWeights(
    Env& env, const std::string& path, std::vector<WeightSpec> specs,
    uint64_t seed, DType dtype);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOOLS_RANDOM_WEIGHTS_H_
