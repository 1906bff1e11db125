#include "server/inference/model/model_config.h"

#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"

namespace fnprobe {
namespace {

using Json = nlohmann::json;

// The largest size config.json may give (hidden size, layers, heads,
// vocabulary, context, ...): 2^24, far beyond any checkpoint's (Llama 3
// 405B: hidden 16384, vocabulary 128256, context 131072).
constexpr int64_t kMaxDimension = int64_t{1} << 24;

// a * b and a + b for non-negative counts, saturating at INT64_MAX.
int64_t SaturatingMul(int64_t a, int64_t b) {
  int64_t product;
  return __builtin_mul_overflow(a, b, &product) ? INT64_MAX : product;
}
int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  return __builtin_add_overflow(a, b, &sum) ? INT64_MAX : sum;
}

// Typed access to config.json keys; every error names the file and key.
class ConfigReader {
 public:
  ConfigReader(const Json& json, absl::string_view source)
      : json_(json), source_(source) {}

  bool Has(const char* key) const {
    return json_.contains(key) && !json_.at(key).is_null();
  }

  absl::Status Error(const char* key, absl::string_view why) const {
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ": key '", key, "': ", why));
  }

  // Sizes and counts: in [1, kMaxDimension], so that the products of a few
  // of them (4 * n_embd, a layer's weight count) cannot overflow int64.
  absl::StatusOr<int64_t> PositiveInt(const char* key) const {
    if (!Has(key)) return Error(key, "missing");
    const Json& v = json_.at(key);
    if (!v.is_number_integer() || v.get<int64_t>() <= 0 ||
        v.get<int64_t>() > kMaxDimension) {
      return Error(key, absl::StrCat("expected a positive integer up to ",
                                     kMaxDimension, ", got ", v.dump()));
    }
    return v.get<int64_t>();
  }

  absl::StatusOr<int64_t> PositiveInt(const char* key, int64_t dflt) const {
    if (!Has(key)) return dflt;
    return PositiveInt(key);
  }

  absl::StatusOr<double> Number(const char* key, double dflt) const {
    if (!Has(key)) return dflt;
    const Json& v = json_.at(key);
    if (!v.is_number()) {
      return Error(key, absl::StrCat("expected a number, got ", v.dump()));
    }
    return v.get<double>();
  }

  absl::StatusOr<bool> Bool(const char* key, bool dflt) const {
    if (!Has(key)) return dflt;
    const Json& v = json_.at(key);
    if (!v.is_boolean()) {
      return Error(key, absl::StrCat("expected true or false, got ", v.dump()));
    }
    return v.get<bool>();
  }

  absl::StatusOr<std::string> String(const char* key,
                                     const std::string& dflt) const {
    if (!Has(key)) return dflt;
    const Json& v = json_.at(key);
    if (!v.is_string()) {
      return Error(key, absl::StrCat("expected a string, got ", v.dump()));
    }
    return v.get<std::string>();
  }

  // An int or a list of ints (eos_token_id may be either).
  absl::StatusOr<std::vector<int64_t>> IdList(const char* key) const {
    std::vector<int64_t> ids;
    if (!Has(key)) return ids;
    const Json& v = json_.at(key);
    auto take = [&](const Json& x) -> absl::Status {
      if (!x.is_number_integer() || x.get<int64_t>() < 0) {
        return Error(key, absl::StrCat("expected a token id, got ", x.dump()));
      }
      ids.push_back(x.get<int64_t>());
      return absl::OkStatus();
    };
    if (v.is_array()) {
      for (const Json& x : v) FNPROBE_RETURN_IF_ERROR(take(x));
    } else {
      FNPROBE_RETURN_IF_ERROR(take(v));
    }
    return ids;
  }

  absl::StatusOr<std::optional<int64_t>> OptionalId(const char* key) const {
    FNPROBE_ASSIGN_OR_RETURN(std::vector<int64_t> ids, IdList(key));
    if (ids.empty()) return std::optional<int64_t>();
    if (ids.size() > 1) return Error(key, "expected a single token id");
    return std::optional<int64_t>(ids[0]);
  }

  const Json& json() const { return json_; }
  absl::string_view source() const { return source_; }

 private:
  const Json& json_;
  std::string source_;
};

absl::StatusOr<Activation> ParseActivation(const ConfigReader& r,
                                           const char* key,
                                           const std::string& dflt) {
  FNPROBE_ASSIGN_OR_RETURN(std::string name, r.String(key, dflt));
  if (name == "gelu") return Activation::kGelu;
  if (name == "gelu_new") return Activation::kGeluNew;
  if (name == "gelu_fast") return Activation::kGeluFast;
  if (name == "gelu_pytorch_tanh") return Activation::kGeluTanh;
  if (name == "quick_gelu") return Activation::kQuickGelu;
  if (name == "relu") return Activation::kRelu;
  if (name == "silu" || name == "swish") return Activation::kSilu;
  return r.Error(key, absl::StrCat("activation '", name,
                                   "' is not supported (supported: gelu, "
                                   "gelu_new, gelu_fast, gelu_pytorch_tanh, "
                                   "quick_gelu, relu, silu)"));
}

// rope_scaling: null, {"type"|"rope_type": "linear", "factor"} or Llama 3's
// {"rope_type": "llama3", factor, low_freq_factor, high_freq_factor,
// original_max_position_embeddings}.
absl::Status ParseRopeScaling(const ConfigReader& r, ModelConfig& c) {
  if (!r.Has("rope_scaling")) return absl::OkStatus();
  const Json& s = r.json().at("rope_scaling");
  if (!s.is_object()) return r.Error("rope_scaling", "expected an object");
  ConfigReader sr(s, absl::StrCat(r.source(), ": rope_scaling"));
  FNPROBE_ASSIGN_OR_RETURN(std::string type, sr.String("type", ""));
  FNPROBE_ASSIGN_OR_RETURN(type, sr.String("rope_type", type));
  FNPROBE_ASSIGN_OR_RETURN(c.rope_factor, sr.Number("factor", 1.0));
  if (c.rope_factor <= 0) return sr.Error("factor", "must be positive");
  if (type == "linear") {
    c.rope_scaling = RopeScaling::kLinear;
  } else if (type == "llama3") {
    c.rope_scaling = RopeScaling::kLlama3;
    FNPROBE_ASSIGN_OR_RETURN(c.rope_low_freq_factor,
                             sr.Number("low_freq_factor", 1.0));
    FNPROBE_ASSIGN_OR_RETURN(c.rope_high_freq_factor,
                             sr.Number("high_freq_factor", 4.0));
    FNPROBE_ASSIGN_OR_RETURN(
        c.rope_original_max_positions,
        sr.PositiveInt("original_max_position_embeddings", 8192));
    if (c.rope_high_freq_factor <= c.rope_low_freq_factor) {
      return sr.Error("high_freq_factor", "must exceed low_freq_factor");
    }
  } else if (type == "default") {
    c.rope_scaling = RopeScaling::kNone;
  } else {
    return r.Error("rope_scaling",
                   absl::StrCat("type '", type,
                                "' is not supported (supported: linear, "
                                "llama3)"));
  }
  return absl::OkStatus();
}

absl::Status ParseOpt(const ConfigReader& r, ModelConfig& c) {
  c.family = ModelFamily::kOpt;
  FNPROBE_ASSIGN_OR_RETURN(c.hidden_size, r.PositiveInt("hidden_size"));
  FNPROBE_ASSIGN_OR_RETURN(c.num_layers, r.PositiveInt("num_hidden_layers"));
  FNPROBE_ASSIGN_OR_RETURN(c.num_heads, r.PositiveInt("num_attention_heads"));
  FNPROBE_ASSIGN_OR_RETURN(c.intermediate_size, r.PositiveInt("ffn_dim"));
  FNPROBE_ASSIGN_OR_RETURN(c.max_positions,
                           r.PositiveInt("max_position_embeddings"));
  FNPROBE_ASSIGN_OR_RETURN(c.word_embed_proj_dim,
                           r.PositiveInt("word_embed_proj_dim", c.hidden_size));
  FNPROBE_ASSIGN_OR_RETURN(c.pre_layer_norm,
                           r.Bool("do_layer_norm_before", true));
  FNPROBE_ASSIGN_OR_RETURN(bool remove_final,
                           r.Bool("_remove_final_layer_norm", false));
  c.has_final_norm = c.pre_layer_norm && !remove_final;
  FNPROBE_ASSIGN_OR_RETURN(c.attention_bias, r.Bool("enable_bias", true));
  c.mlp_bias = c.attention_bias;
  FNPROBE_ASSIGN_OR_RETURN(c.norm_affine,
                           r.Bool("layer_norm_elementwise_affine", true));
  FNPROBE_ASSIGN_OR_RETURN(c.activation,
                           ParseActivation(r, "activation_function", "relu"));
  FNPROBE_ASSIGN_OR_RETURN(c.tie_word_embeddings,
                           r.Bool("tie_word_embeddings", true));
  c.learned_positions = true;
  c.position_offset = 2;
  c.norm_eps = 1e-5;
  return absl::OkStatus();
}

absl::Status ParseGpt2(const ConfigReader& r, ModelConfig& c) {
  c.family = ModelFamily::kGpt2;
  FNPROBE_ASSIGN_OR_RETURN(c.hidden_size, r.PositiveInt("n_embd"));
  FNPROBE_ASSIGN_OR_RETURN(c.num_layers, r.PositiveInt("n_layer"));
  FNPROBE_ASSIGN_OR_RETURN(c.num_heads, r.PositiveInt("n_head"));
  FNPROBE_ASSIGN_OR_RETURN(c.intermediate_size,
                           r.PositiveInt("n_inner", 4 * c.hidden_size));
  if (r.Has("n_positions")) {
    FNPROBE_ASSIGN_OR_RETURN(c.max_positions, r.PositiveInt("n_positions"));
  } else {
    FNPROBE_ASSIGN_OR_RETURN(c.max_positions, r.PositiveInt("n_ctx"));
  }
  FNPROBE_ASSIGN_OR_RETURN(c.norm_eps, r.Number("layer_norm_epsilon", 1e-5));
  FNPROBE_ASSIGN_OR_RETURN(
      c.activation, ParseActivation(r, "activation_function", "gelu_new"));
  FNPROBE_ASSIGN_OR_RETURN(c.scale_attn_weights,
                           r.Bool("scale_attn_weights", true));
  FNPROBE_ASSIGN_OR_RETURN(c.scale_attn_by_inverse_layer_idx,
                           r.Bool("scale_attn_by_inverse_layer_idx", false));
  FNPROBE_ASSIGN_OR_RETURN(bool cross, r.Bool("add_cross_attention", false));
  if (cross) {
    return r.Error("add_cross_attention",
                   "cross-attention (encoder-decoder GPT-2) is not supported");
  }
  FNPROBE_ASSIGN_OR_RETURN(c.tie_word_embeddings,
                           r.Bool("tie_word_embeddings", true));
  c.learned_positions = true;
  return absl::OkStatus();
}

absl::Status ParseGptNeox(const ConfigReader& r, ModelConfig& c) {
  c.family = ModelFamily::kGptNeox;
  FNPROBE_ASSIGN_OR_RETURN(c.hidden_size, r.PositiveInt("hidden_size"));
  FNPROBE_ASSIGN_OR_RETURN(c.num_layers, r.PositiveInt("num_hidden_layers"));
  FNPROBE_ASSIGN_OR_RETURN(c.num_heads, r.PositiveInt("num_attention_heads"));
  FNPROBE_ASSIGN_OR_RETURN(c.intermediate_size,
                           r.PositiveInt("intermediate_size"));
  FNPROBE_ASSIGN_OR_RETURN(c.max_positions,
                           r.PositiveInt("max_position_embeddings"));
  FNPROBE_ASSIGN_OR_RETURN(double pct, r.Number("rotary_pct", 0.25));
  if (pct <= 0 || pct > 1) return r.Error("rotary_pct", "must be in (0, 1]");
  FNPROBE_ASSIGN_OR_RETURN(double base, r.Number("rotary_emb_base", 10000));
  FNPROBE_ASSIGN_OR_RETURN(c.rope_theta, r.Number("rope_theta", base));
  FNPROBE_ASSIGN_OR_RETURN(c.norm_eps, r.Number("layer_norm_eps", 1e-5));
  FNPROBE_ASSIGN_OR_RETURN(c.parallel_residual,
                           r.Bool("use_parallel_residual", true));
  FNPROBE_ASSIGN_OR_RETURN(c.activation,
                           ParseActivation(r, "hidden_act", "gelu"));
  FNPROBE_ASSIGN_OR_RETURN(c.attention_bias, r.Bool("attention_bias", true));
  FNPROBE_ASSIGN_OR_RETURN(c.tie_word_embeddings,
                           r.Bool("tie_word_embeddings", false));
  FNPROBE_RETURN_IF_ERROR(ParseRopeScaling(r, c));
  if (c.rope_scaling == RopeScaling::kLlama3) {
    return r.Error("rope_scaling", "llama3 scaling is not a GPT-NeoX option");
  }
  c.mlp_bias = true;
  c.head_dim = c.hidden_size / c.num_heads;
  // HF: int(head_size * rotary_pct).
  c.rotary_dim = static_cast<int64_t>(c.head_dim * pct);
  if (c.rotary_dim % 2 != 0 || c.rotary_dim == 0) {
    return r.Error("rotary_pct", absl::StrCat("gives ", c.rotary_dim,
                                              " rotary dims; need an even "
                                              "positive number"));
  }
  return absl::OkStatus();
}

absl::Status ParseLlama(const ConfigReader& r, ModelConfig& c) {
  c.family = ModelFamily::kLlama;
  FNPROBE_ASSIGN_OR_RETURN(c.hidden_size, r.PositiveInt("hidden_size"));
  FNPROBE_ASSIGN_OR_RETURN(c.num_layers, r.PositiveInt("num_hidden_layers"));
  FNPROBE_ASSIGN_OR_RETURN(c.num_heads, r.PositiveInt("num_attention_heads"));
  FNPROBE_ASSIGN_OR_RETURN(c.num_kv_heads,
                           r.PositiveInt("num_key_value_heads", c.num_heads));
  FNPROBE_ASSIGN_OR_RETURN(c.intermediate_size,
                           r.PositiveInt("intermediate_size"));
  FNPROBE_ASSIGN_OR_RETURN(c.max_positions,
                           r.PositiveInt("max_position_embeddings"));
  FNPROBE_ASSIGN_OR_RETURN(c.norm_eps, r.Number("rms_norm_eps", 1e-6));
  FNPROBE_ASSIGN_OR_RETURN(c.rope_theta, r.Number("rope_theta", 10000));
  FNPROBE_ASSIGN_OR_RETURN(c.activation,
                           ParseActivation(r, "hidden_act", "silu"));
  FNPROBE_ASSIGN_OR_RETURN(c.attention_bias, r.Bool("attention_bias", false));
  FNPROBE_ASSIGN_OR_RETURN(c.mlp_bias, r.Bool("mlp_bias", false));
  FNPROBE_ASSIGN_OR_RETURN(c.tie_word_embeddings,
                           r.Bool("tie_word_embeddings", false));
  FNPROBE_ASSIGN_OR_RETURN(
      c.head_dim, r.PositiveInt("head_dim", c.hidden_size / c.num_heads));
  FNPROBE_RETURN_IF_ERROR(ParseRopeScaling(r, c));
  c.rms_norm = true;
  c.rotary_dim = c.head_dim;
  if (c.num_heads % c.num_kv_heads != 0) {
    return r.Error("num_key_value_heads",
                   absl::StrCat(c.num_kv_heads, " does not divide ",
                                c.num_heads, " attention heads"));
  }
  return absl::OkStatus();
}

// Options that no supported family implements, refused wherever they appear.
absl::Status RefuseUnsupported(const ConfigReader& r) {
  if (r.Has("quantization_config")) {
    return r.Error("quantization_config",
                   "quantized checkpoints are not supported");
  }
  FNPROBE_ASSIGN_OR_RETURN(bool enc_dec, r.Bool("is_encoder_decoder", false));
  if (enc_dec) {
    return r.Error("is_encoder_decoder",
                   "encoder-decoder models are not supported");
  }
  return absl::OkStatus();
}

absl::Status CheckShape(const ConfigReader& r, ModelConfig& c) {
  if (c.family != ModelFamily::kLlama) {
    if (c.hidden_size % c.num_heads != 0) {
      return r.Error("num_attention_heads",
                     absl::StrCat(c.num_heads,
                                  " heads do not divide hidden "
                                  "size ",
                                  c.hidden_size));
    }
    c.head_dim = c.hidden_size / c.num_heads;
    c.num_kv_heads = c.num_heads;
  }
  if (c.word_embed_proj_dim == 0) c.word_embed_proj_dim = c.hidden_size;
  return absl::OkStatus();
}

}  // namespace

absl::string_view FamilyName(ModelFamily family) {
  switch (family) {
    case ModelFamily::kOpt:
      return "opt";
    case ModelFamily::kGpt2:
      return "gpt2";
    case ModelFamily::kGptNeox:
      return "gpt_neox";
    case ModelFamily::kLlama:
      return "llama";
  }
  return "unknown";
}

absl::StatusOr<ModelConfig> ModelConfig::FromJson(absl::string_view json,
                                                  absl::string_view source) {
  Json root = Json::parse(json.begin(), json.end(), nullptr,
                          /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not a JSON object"));
  }
  ConfigReader r(root, source);
  ModelConfig c;
  FNPROBE_ASSIGN_OR_RETURN(c.model_type, r.String("model_type", ""));
  FNPROBE_RETURN_IF_ERROR(RefuseUnsupported(r));
  if (c.model_type == "opt") {
    FNPROBE_RETURN_IF_ERROR(ParseOpt(r, c));
  } else if (c.model_type == "gpt2") {
    FNPROBE_RETURN_IF_ERROR(ParseGpt2(r, c));
  } else if (c.model_type == "gpt_neox") {
    FNPROBE_RETURN_IF_ERROR(ParseGptNeox(r, c));
  } else if (c.model_type == "llama") {
    FNPROBE_RETURN_IF_ERROR(ParseLlama(r, c));
  } else {
    return r.Error("model_type",
                   absl::StrCat("'", c.model_type,
                                "' is not supported (supported: opt, gpt2, "
                                "gpt_neox, llama)"));
  }
  FNPROBE_ASSIGN_OR_RETURN(c.vocab_size, r.PositiveInt("vocab_size"));
  FNPROBE_RETURN_IF_ERROR(CheckShape(r, c));
  FNPROBE_ASSIGN_OR_RETURN(c.bos_token_id, r.OptionalId("bos_token_id"));
  FNPROBE_ASSIGN_OR_RETURN(c.eos_token_ids, r.IdList("eos_token_id"));
  FNPROBE_ASSIGN_OR_RETURN(c.pad_token_id, r.OptionalId("pad_token_id"));
  return c;
}

absl::StatusOr<ModelConfig> ModelConfig::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::ostringstream ss;
  ss << in.rdbuf();
  return FromJson(ss.str(), path);
}

int64_t ModelConfig::ParameterCount() const {
  // Saturating: a config's sizes are bounded, but products of several of
  // them (layers x hidden x intermediate) can still pass int64.
  const auto mul = [](std::initializer_list<int64_t> factors) {
    int64_t product = 1;
    for (int64_t f : factors) product = SaturatingMul(product, f);
    return product;
  };
  const auto add = [](std::initializer_list<int64_t> terms) {
    int64_t sum = 0;
    for (int64_t t : terms) sum = SaturatingAdd(sum, t);
    return sum;
  };
  const int64_t h = hidden_size;
  const int64_t kv = mul({num_kv_heads, head_dim});
  const int64_t q = mul({num_heads, head_dim});
  const int64_t attn = add({mul({h, q}), mul({2, h, kv}), mul({q, h})});
  const int64_t mlp =
      mul({family == ModelFamily::kLlama ? 3 : 2, h, intermediate_size});
  const int64_t per_layer = add({attn, mlp, mul({4, h})});
  int64_t embed = mul({vocab_size, word_embed_proj_dim});
  if (learned_positions) {
    embed = add({embed, mul({add({max_positions, position_offset}), h})});
  }
  const int64_t head =
      tie_word_embeddings ? 0 : mul({vocab_size, word_embed_proj_dim});
  return add({embed, mul({num_layers, per_layer}), head, mul({2, h})});
}

}  // namespace fnprobe
