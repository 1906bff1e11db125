// The architecture of a checkpoint, read from its Hugging Face config.json
// and normalised across the families fnprobe runs: OPT (and Galactica),
// GPT-2, GPT-NeoX (Pythia) and Llama.
//
// FromJson accepts every option the public checkpoints of these families
// use and refuses, with an error naming the key, any option whose value
// would change the computation in a way this engine does not implement
// (e.g. an unknown rope_scaling type, cross-attention). Keys that do not
// affect inference (dropout, initializer ranges, ...) are ignored.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_MODEL_CONFIG_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe {

enum class ModelFamily { kOpt, kGpt2, kGptNeox, kLlama };

// The MLP nonlinearity, by its Hugging Face name.
enum class Activation {
  kGelu,       // "gelu": exact (erf)
  kGeluNew,    // "gelu_new": tanh approximation, HF's NewGELUActivation
  kGeluFast,   // "gelu_fast"
  kGeluTanh,   // "gelu_pytorch_tanh": torch's tanh approximation
  kQuickGelu,  // "quick_gelu": x * sigmoid(1.702 x)
  kRelu,       // "relu"
  kSilu,       // "silu" / "swish"
};

enum class RopeScaling { kNone, kLinear, kLlama3 };

absl::string_view FamilyName(ModelFamily family);

struct ModelConfig {
  ModelFamily family = ModelFamily::kGpt2;
  std::string model_type;  // as in config.json

  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;  // == num_heads unless grouped-query attention
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;
  int64_t max_positions = 0;  // the context limit
  double norm_eps = 1e-5;
  bool rms_norm = false;  // Llama: RMSNorm; others LayerNorm
  Activation activation = Activation::kGelu;
  bool tie_word_embeddings = true;

  // Learned absolute positions (OPT, GPT-2): row = position + offset.
  bool learned_positions = false;
  int64_t position_offset = 0;  // OPT: 2

  // Rotary embeddings (GPT-NeoX, Llama).
  int64_t rotary_dim = 0;  // dims of each head that rotate
  double rope_theta = 10000.0;
  RopeScaling rope_scaling = RopeScaling::kNone;
  double rope_factor = 1.0;
  double rope_low_freq_factor = 1.0;           // llama3
  double rope_high_freq_factor = 4.0;          // llama3
  int64_t rope_original_max_positions = 8192;  // llama3

  // OPT.
  bool pre_layer_norm = true;       // do_layer_norm_before
  bool has_final_norm = true;       // false for OPT post-LN (350m)
  bool norm_affine = true;          // layer_norm_elementwise_affine
  int64_t word_embed_proj_dim = 0;  // == hidden_size unless projected

  // Biases of the attention projections and MLP.
  bool attention_bias = true;
  bool mlp_bias = true;

  // GPT-2.
  bool scale_attn_weights = true;
  bool scale_attn_by_inverse_layer_idx = false;

  // GPT-NeoX.
  bool parallel_residual = false;

  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;
  std::optional<int64_t> pad_token_id;

  // Parses config.json text. `source` names the file in errors.
  static absl::StatusOr<ModelConfig> FromJson(absl::string_view json,
                                              absl::string_view source);
  static absl::StatusOr<ModelConfig> FromFile(const std::string& path);

  // Total parameter count implied by the shape (for reports); INT64_MAX if
  // it does not fit.
  int64_t ParameterCount() const;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_MODEL_CONFIG_H_
