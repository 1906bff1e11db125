// The tensor names of each family's checkpoint in the Hugging Face layout:
// the one table the loader (model_weights.cc) reads by and the model maker
// (random_weights.cc, planted_model.cc) writes and patches by.
//
// A tensor of the base model is named base + its name below ("fc1" of
// layer 3 of OPT: "model.decoder." "layers." "3." "fc1" ".weight"); linear
// layers and norms are named by their module, ".weight" and ".bias"
// appended. The LM head alone lies outside the base model.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_FAMILY_TENSOR_NAMES_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_FAMILY_TENSOR_NAMES_H_

#include <cstdint>
#include <string>

#include "server/inference/model/model_config.h"

namespace fnprobe {

// nullptr where a family has no such tensor.
struct FamilyTensorNames {
  // The base model's prefix as checkpoints write it ("model.decoder."), and
  // another the loader also accepts ("decoder."; "" for a bare base model).
  const char* base;
  const char* base_alternative;

  // Tensors of the base model.
  const char* token_embedding;     // "embed_tokens.weight"
  const char* position_embedding;  // learned positions only
  const char* project_in;          // OPT's embedding projections
  const char* project_out;
  const char* layers;  // "layers.": layer i's modules are under "layers.i."
  const char* final_norm;

  // Modules of a layer.
  const char* ln1;
  const char* q;  // separate Q, K and V projections
  const char* k;
  const char* v;
  const char* qkv;  // one fused projection
  const char* attn_out;
  const char* ln2;
  const char* fc_in;  // Llama: the gate projection
  const char* fc_up;  // Llama: the up projection
  const char* fc_out;

  // The LM head when not tied to the token embedding; outside the base.
  const char* lm_head;
};

const FamilyTensorNames& TensorNamesOf(ModelFamily family);

// "layers.3." for `layer` 3 of OPT, to which a layer module's name is
// appended; without the base prefix.
std::string LayerPrefix(const FamilyTensorNames& names, int64_t layer);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_FAMILY_TENSOR_NAMES_H_
