#include "server/inference/model/family_tensor_names.h"

#include "absl/strings/str_cat.h"

namespace fnprobe {
namespace {

// OPT and Galactica (OPTForCausalLM).
constexpr FamilyTensorNames kOpt = {
    /*base=*/"model.decoder.",
    /*base_alternative=*/"decoder.",
    /*token_embedding=*/"embed_tokens.weight",
    /*position_embedding=*/"embed_positions.weight",
    /*project_in=*/"project_in",
    /*project_out=*/"project_out",
    /*layers=*/"layers.",
    /*final_norm=*/"final_layer_norm",
    /*ln1=*/"self_attn_layer_norm",
    /*q=*/"self_attn.q_proj",
    /*k=*/"self_attn.k_proj",
    /*v=*/"self_attn.v_proj",
    /*qkv=*/nullptr,
    /*attn_out=*/"self_attn.out_proj",
    /*ln2=*/"final_layer_norm",
    /*fc_in=*/"fc1",
    /*fc_up=*/nullptr,
    /*fc_out=*/"fc2",
    /*lm_head=*/"lm_head.weight",
};

// GPT-2 (GPT2LMHeadModel; Conv1D weights stored [in, out]).
constexpr FamilyTensorNames kGpt2 = {
    /*base=*/"transformer.",
    /*base_alternative=*/"",
    /*token_embedding=*/"wte.weight",
    /*position_embedding=*/"wpe.weight",
    /*project_in=*/nullptr,
    /*project_out=*/nullptr,
    /*layers=*/"h.",
    /*final_norm=*/"ln_f",
    /*ln1=*/"ln_1",
    /*q=*/nullptr,
    /*k=*/nullptr,
    /*v=*/nullptr,
    /*qkv=*/"attn.c_attn",
    /*attn_out=*/"attn.c_proj",
    /*ln2=*/"ln_2",
    /*fc_in=*/"mlp.c_fc",
    /*fc_up=*/nullptr,
    /*fc_out=*/"mlp.c_proj",
    /*lm_head=*/"lm_head.weight",
};

// GPT-NeoX and Pythia (GPTNeoXForCausalLM).
constexpr FamilyTensorNames kGptNeox = {
    /*base=*/"gpt_neox.",
    /*base_alternative=*/"",
    /*token_embedding=*/"embed_in.weight",
    /*position_embedding=*/nullptr,
    /*project_in=*/nullptr,
    /*project_out=*/nullptr,
    /*layers=*/"layers.",
    /*final_norm=*/"final_layer_norm",
    /*ln1=*/"input_layernorm",
    /*q=*/nullptr,
    /*k=*/nullptr,
    /*v=*/nullptr,
    /*qkv=*/"attention.query_key_value",
    /*attn_out=*/"attention.dense",
    /*ln2=*/"post_attention_layernorm",
    /*fc_in=*/"mlp.dense_h_to_4h",
    /*fc_up=*/nullptr,
    /*fc_out=*/"mlp.dense_4h_to_h",
    /*lm_head=*/"embed_out.weight",
};

// Llama (LlamaForCausalLM).
constexpr FamilyTensorNames kLlama = {
    /*base=*/"model.",
    /*base_alternative=*/"",
    /*token_embedding=*/"embed_tokens.weight",
    /*position_embedding=*/nullptr,
    /*project_in=*/nullptr,
    /*project_out=*/nullptr,
    /*layers=*/"layers.",
    /*final_norm=*/"norm",
    /*ln1=*/"input_layernorm",
    /*q=*/"self_attn.q_proj",
    /*k=*/"self_attn.k_proj",
    /*v=*/"self_attn.v_proj",
    /*qkv=*/nullptr,
    /*attn_out=*/"self_attn.o_proj",
    /*ln2=*/"post_attention_layernorm",
    /*fc_in=*/"mlp.gate_proj",
    /*fc_up=*/"mlp.up_proj",
    /*fc_out=*/"mlp.down_proj",
    /*lm_head=*/"lm_head.weight",
};

}  // namespace

const FamilyTensorNames& TensorNamesOf(ModelFamily family) {
  switch (family) {
    case ModelFamily::kOpt:
      return kOpt;
    case ModelFamily::kGpt2:
      return kGpt2;
    case ModelFamily::kGptNeox:
      return kGptNeox;
    case ModelFamily::kLlama:
      return kLlama;
  }
  return kGpt2;
}

std::string LayerPrefix(const FamilyTensorNames& names, int64_t layer) {
  return absl::StrCat(names.layers, layer, ".");
}

}  // namespace fnprobe
