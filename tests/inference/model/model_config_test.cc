#include "server/inference/model/model_config.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/inference/model/hook_points.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::ReadFileOrDie;
using ::fnprobe::testing::ReferencePath;
using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;
using Json = nlohmann::json;

Json ReferenceConfig(const std::string& family) {
  return Json::parse(
      ReadFileOrDie(ReferencePath("models/" + family + "/config.json")));
}

absl::StatusOr<ModelConfig> Parse(const Json& json) {
  return ModelConfig::FromJson(json.dump(), "config.json");
}

TEST(ModelConfigTest, ReadsOptReference) {
  auto c = Parse(ReferenceConfig("opt"));
  ASSERT_OK(c);
  EXPECT_EQ(c->family, ModelFamily::kOpt);
  EXPECT_EQ(c->position_offset, 2);
  EXPECT_TRUE(c->learned_positions);
  EXPECT_TRUE(c->pre_layer_norm);
  EXPECT_TRUE(c->has_final_norm);
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->activation, Activation::kGelu);
  EXPECT_EQ(c->intermediate_size, 256);
  EXPECT_EQ(c->eos_token_ids, std::vector<int64_t>{1256});
}

TEST(ModelConfigTest, ReadsGptNeoxPartialRotary) {
  auto c = Parse(ReferenceConfig("gpt_neox"));
  ASSERT_OK(c);
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->rotary_dim, 4);  // rotary_pct 0.25
  EXPECT_TRUE(c->parallel_residual);
  EXPECT_FALSE(c->tie_word_embeddings);
  // Parallel residual: no resid_mid hook point.
  for (const std::string& name : ModelHookNames(*c)) {
    EXPECT_EQ(name.find("resid_mid"), std::string::npos) << name;
  }
}

TEST(ModelConfigTest, ReadsLlamaGroupedQueryAttention) {
  auto c = Parse(ReferenceConfig("llama"));
  ASSERT_OK(c);
  EXPECT_EQ(c->num_kv_heads, 2);
  EXPECT_TRUE(c->rms_norm);
  EXPECT_DOUBLE_EQ(c->norm_eps, 1e-6);
  EXPECT_EQ(c->rotary_dim, 16);
  EXPECT_FALSE(c->attention_bias);
}

// OPT-350m: post-LayerNorm, no final norm, 512-wide embeddings projected.
TEST(ModelConfigTest, ReadsOpt350mOptions) {
  Json j = ReferenceConfig("opt");
  j["do_layer_norm_before"] = false;
  j["word_embed_proj_dim"] = 32;
  j["activation_function"] = "relu";
  auto c = Parse(j);
  ASSERT_OK(c);
  EXPECT_FALSE(c->pre_layer_norm);
  EXPECT_FALSE(c->has_final_norm);
  EXPECT_EQ(c->word_embed_proj_dim, 32);
  EXPECT_EQ(c->activation, Activation::kRelu);
}

// Llama 3: list of EOS ids, rope_scaling llama3, explicit head_dim.
TEST(ModelConfigTest, ReadsLlama3Options) {
  Json j = ReferenceConfig("llama");
  j["eos_token_id"] = {128001, 128008, 128009};
  j["rope_theta"] = 500000.0;
  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  j["head_dim"] = 16;
  auto c = Parse(j);
  ASSERT_OK(c);
  EXPECT_EQ(c->eos_token_ids.size(), 3u);
  EXPECT_EQ(c->rope_scaling, RopeScaling::kLlama3);
  EXPECT_DOUBLE_EQ(c->rope_factor, 8.0);
  EXPECT_DOUBLE_EQ(c->rope_theta, 500000.0);
}

// NeoX sequential residual gains a resid_mid hook point.
TEST(ModelConfigTest, NeoxSequentialResidualHasResidMid) {
  Json j = ReferenceConfig("gpt_neox");
  j["use_parallel_residual"] = false;
  auto c = Parse(j);
  ASSERT_OK(c);
  auto names = ModelHookNames(*c);
  EXPECT_NE(std::find(names.begin(), names.end(), "blocks.1.resid_mid"),
            names.end());
}

struct Refusal {
  std::string family;
  std::string key;
  Json value;
  std::string message;
};

class ModelConfigRefusalTest : public ::testing::TestWithParam<Refusal> {};

// Options we do not implement are refused, naming the key, never ignored.
TEST_P(ModelConfigRefusalTest, RefusesNamingTheKey) {
  const Refusal& r = GetParam();
  Json j = ReferenceConfig(r.family);
  if (r.value.is_null()) {
    j.erase(r.key);
  } else {
    j[r.key] = r.value;
  }
  EXPECT_THAT(Parse(j), StatusIs(absl::StatusCode::kInvalidArgument,
                                 HasSubstr(r.message)));
}

INSTANTIATE_TEST_SUITE_P(
    Options, ModelConfigRefusalTest,
    ::testing::Values(
        Refusal{"opt", "model_type", "bert", "'bert' is not supported"},
        Refusal{"llama",
                "rope_scaling",
                {{"type", "dynamic"}, {"factor", 2}},
                "key 'rope_scaling': type 'dynamic' is not supported"},
        Refusal{"gpt2", "add_cross_attention", true,
                "key 'add_cross_attention'"},
        Refusal{"gpt2", "activation_function", "gelu_xyz",
                "activation 'gelu_xyz' is not supported"},
        Refusal{"llama",
                "quantization_config",
                {{"quant_method", "gptq"}},
                "key 'quantization_config'"},
        Refusal{"opt", "num_attention_heads", 5,
                "5 heads do not divide hidden size 64"},
        Refusal{"llama", "num_key_value_heads", 3,
                "3 does not divide 4 attention heads"},
        Refusal{"gpt_neox", "vocab_size", nullptr, "key 'vocab_size': missing"},
        Refusal{"gpt_neox", "hidden_size", "64",
                "key 'hidden_size': expected a positive integer"},
        Refusal{"gpt_neox", "use_parallel_residual", 1,
                "key 'use_parallel_residual': expected true or false"},
        // Sizes are bounded, or 4 * n_embd (GPT-2's default n_inner)
        // overflows (found by tests/fuzz/model_config_fuzzer).
        Refusal{"gpt2", "n_embd", int64_t{1} << 62,
                "key 'n_embd': expected a positive integer up to 16777216"},
        Refusal{"llama", "num_hidden_layers", (int64_t{1} << 24) + 1,
                "key 'num_hidden_layers': expected a positive integer up to "
                "16777216"}));

// A count past int64 saturates instead of overflowing (found by
// tests/fuzz/model_config_fuzzer on sizes FromJson now refuses; the bounded
// ones still multiply past int64).
TEST(ModelConfigTest, ParameterCountSaturates) {
  auto c = Parse(ReferenceConfig("llama"));
  ASSERT_OK(c);
  EXPECT_GT(c->ParameterCount(), 0);
  for (int64_t* size : {&c->hidden_size, &c->intermediate_size, &c->num_layers,
                        &c->vocab_size, &c->head_dim}) {
    *size = int64_t{1} << 24;
  }
  EXPECT_EQ(c->ParameterCount(), INT64_MAX);
}

TEST(ModelConfigTest, NotJsonIsRefused) {
  EXPECT_THAT(ModelConfig::FromJson("{nope", "x/config.json"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("x/config.json: not a JSON object")));
  EXPECT_THAT(ModelConfig::FromFile("/nonexistent/config.json"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("/nonexistent/config.json")));
}

}  // namespace
}  // namespace fnprobe
