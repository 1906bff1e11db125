#include "server/inference/tools/model_maker.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/env.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/tokenizer.h"
#include "server/inference/tools/bpe_trainer.h"
#include "server/inference/tools/random_weights.h"
#include "server/inference/tools/staging_directory.h"

namespace fnprobe {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr char kEndOfText[] = "<|endoftext|>";
// The transformers version whose file layout we reproduce (as the reference
// checkpoints in shared/reference do).
constexpr char kTransformersVersion[] = "4.38.2";

// ---------------------------------------------------------------------------
// Shapes

// The dimensions of a checkpoint, before the tokenizer fixes its ids.
struct ShapeSpec {
  std::string name;
  ModelFamily family = ModelFamily::kOpt;
  int64_t hidden = 0;
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t kv_heads = 0;  // llama only
  int64_t intermediate = 0;
  int64_t max_positions = 0;
  int64_t vocab = 0;
};

// A named shape: `family` is the implied family, or nullopt if any family
// may be chosen (tiny).
struct NamedShape {
  const char* name;
  std::optional<ModelFamily> family;
};

constexpr ModelFamily kAllFamilies[] = {ModelFamily::kOpt, ModelFamily::kGpt2,
                                        ModelFamily::kGptNeox,
                                        ModelFamily::kLlama};

const std::vector<NamedShape>& NamedShapes() {
  static const auto* const shapes = new std::vector<NamedShape>{
      {"tiny", std::nullopt},
      {"galactica-125m", ModelFamily::kOpt},
      {"pythia-160m", ModelFamily::kGptNeox},
      {"llama-tiny", ModelFamily::kLlama},
  };
  return *shapes;
}

absl::StatusOr<ModelFamily> ParseFamily(absl::string_view name) {
  for (ModelFamily family : kAllFamilies) {
    if (FamilyName(family) == name) return family;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown family '", name,
      "' (supported: ", absl::StrJoin(ModelFamilyNames(), ", "), ")"));
}

// The dimensions of `named` in `family`.
ShapeSpec Dimensions(absl::string_view named, ModelFamily family) {
  ShapeSpec s;
  s.name = std::string(named);
  s.family = family;
  if (named == "galactica-125m") {
    // facebook/galactica-125m's config.json.
    s.hidden = 768, s.layers = 12, s.heads = 12, s.intermediate = 3072;
    s.max_positions = 2048, s.vocab = 50000;
  } else if (named == "pythia-160m") {
    // EleutherAI/pythia-160m's config.json.
    s.hidden = 768, s.layers = 12, s.heads = 12, s.intermediate = 3072;
    s.max_positions = 2048, s.vocab = 50304;
  } else if (named == "llama-tiny") {
    s.hidden = 256, s.layers = 4, s.heads = 8, s.kv_heads = 4;
    s.intermediate = 688, s.max_positions = 512, s.vocab = 2048;
  } else {  // tiny
    s.hidden = 64, s.layers = 2, s.heads = 4, s.intermediate = 256;
    s.max_positions = 512, s.vocab = 1024;
    if (family == ModelFamily::kLlama) s.kv_heads = 2, s.intermediate = 172;
  }
  return s;
}

absl::StatusOr<ShapeSpec> ResolveShape(const MakeModelOptions& options) {
  const NamedShape* named = nullptr;
  for (const NamedShape& candidate : NamedShapes()) {
    if (options.shape == candidate.name) named = &candidate;
  }
  if (named == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown shape '", options.shape,
        "' (supported: ", absl::StrJoin(ModelShapeNames(), ", "), ")"));
  }
  std::optional<ModelFamily> family;
  if (!options.family.empty()) {
    FNPROBE_ASSIGN_OR_RETURN(family, ParseFamily(options.family));
  }
  if (named->family.has_value()) {
    if (family.has_value() && *family != *named->family) {
      return absl::InvalidArgumentError(absl::StrCat(
          "shape '", named->name, "' implies family ",
          FamilyName(*named->family), "; family '", options.family,
          "' conflicts with it (leave the family unset for named shapes)"));
    }
    family = named->family;
  }
  return Dimensions(named->name, family.value_or(ModelFamily::kOpt));
}

// ---------------------------------------------------------------------------
// config.json and generation_config.json

const char* TorchDTypeName(DType dtype) {
  switch (dtype) {
    case DType::kF16:
      return "float16";
    case DType::kBF16:
      return "bfloat16";
    default:
      return "float32";
  }
}

// config.json with the keys transformers 4.38.2 writes for the family.
// Keys sort as Python's json.dumps(sort_keys=True) sorts them.
Json ConfigJson(const ShapeSpec& s, int64_t special_id, DType dtype) {
  Json j;
  // Hub checkpoints use their own tokenizer's ids (galactica: bos 0, pad 1,
  // eos 2; pythia: 0). Ours use the generated tokenizer's <|endoftext|>,
  // since 0/1/2 are byte symbols in its vocabulary.
  j["bos_token_id"] = special_id;
  j["eos_token_id"] = special_id;
  j["model_type"] = std::string(FamilyName(s.family));
  j["torch_dtype"] = TorchDTypeName(dtype);
  j["transformers_version"] = kTransformersVersion;
  j["use_cache"] = true;
  j["vocab_size"] = s.vocab;
  switch (s.family) {
    case ModelFamily::kOpt:
      // facebook/galactica-125m's flags; tiny shrinks only the dimensions.
      j["_remove_final_layer_norm"] = false;
      j["activation_dropout"] = 0.0;
      j["activation_function"] = "gelu";
      j["architectures"] = Json::array({"OPTForCausalLM"});
      j["attention_dropout"] = 0.1;
      j["do_layer_norm_before"] = true;
      j["dropout"] = 0.1;
      j["enable_bias"] = true;
      j["ffn_dim"] = s.intermediate;
      j["hidden_size"] = s.hidden;
      j["init_std"] = 0.02;
      j["layer_norm_elementwise_affine"] = true;
      j["layerdrop"] = 0.0;
      j["learned_embeddings"] = true;
      j["max_position_embeddings"] = s.max_positions;
      j["num_attention_heads"] = s.heads;
      j["num_hidden_layers"] = s.layers;
      j["pad_token_id"] = special_id;
      j["scale_embeddings"] = false;
      j["word_embed_proj_dim"] = s.hidden;
      break;
    case ModelFamily::kGpt2:
      j["activation_function"] = "gelu_new";
      j["architectures"] = Json::array({"GPT2LMHeadModel"});
      j["attn_pdrop"] = 0.1;
      j["embd_pdrop"] = 0.1;
      j["initializer_range"] = 0.02;
      j["layer_norm_epsilon"] = 1e-5;
      j["n_embd"] = s.hidden;
      j["n_head"] = s.heads;
      // null means 4 * n_embd, as GPT-2's own configs say it.
      j["n_inner"] =
          s.intermediate == 4 * s.hidden ? Json(nullptr) : Json(s.intermediate);
      j["n_layer"] = s.layers;
      j["n_positions"] = s.max_positions;
      j["reorder_and_upcast_attn"] = false;
      j["resid_pdrop"] = 0.1;
      j["scale_attn_by_inverse_layer_idx"] = false;
      j["scale_attn_weights"] = true;
      j["summary_activation"] = nullptr;
      j["summary_first_dropout"] = 0.1;
      j["summary_proj_to_labels"] = true;
      j["summary_type"] = "cls_index";
      j["summary_use_proj"] = true;
      break;
    case ModelFamily::kGptNeox:
      // EleutherAI/pythia-160m's options.
      j["architectures"] = Json::array({"GPTNeoXForCausalLM"});
      j["attention_bias"] = true;
      j["attention_dropout"] = 0.0;
      j["classifier_dropout"] = 0.1;
      j["hidden_act"] = "gelu";
      j["hidden_dropout"] = 0.0;
      j["hidden_size"] = s.hidden;
      j["initializer_range"] = 0.02;
      j["intermediate_size"] = s.intermediate;
      j["layer_norm_eps"] = 1e-5;
      j["max_position_embeddings"] = s.max_positions;
      j["num_attention_heads"] = s.heads;
      j["num_hidden_layers"] = s.layers;
      j["rope_scaling"] = nullptr;
      j["rotary_emb_base"] = 10000;
      j["rotary_pct"] = 0.25;
      j["tie_word_embeddings"] = false;
      j["use_parallel_residual"] = true;
      break;
    case ModelFamily::kLlama:
      j["architectures"] = Json::array({"LlamaForCausalLM"});
      j["attention_bias"] = false;
      j["attention_dropout"] = 0.0;
      j["hidden_act"] = "silu";
      j["hidden_size"] = s.hidden;
      j["initializer_range"] = 0.02;
      j["intermediate_size"] = s.intermediate;
      j["max_position_embeddings"] = s.max_positions;
      j["num_attention_heads"] = s.heads;
      j["num_hidden_layers"] = s.layers;
      j["num_key_value_heads"] = s.kv_heads;
      j["pretraining_tp"] = 1;
      j["rms_norm_eps"] = 1e-6;
      j["rope_scaling"] = nullptr;
      j["rope_theta"] = 10000.0;
      j["tie_word_embeddings"] = false;
      break;
  }
  return j;
}

Json GenerationConfigJson(ModelFamily family, int64_t special_id) {
  Json j;
  j["_from_model_config"] = true;
  j["bos_token_id"] = special_id;
  j["eos_token_id"] = special_id;
  if (family == ModelFamily::kOpt) j["pad_token_id"] = special_id;
  j["transformers_version"] = kTransformersVersion;
  return j;
}

// As transformers writes JSON: indent 2, sorted keys, trailing newline.
std::string Render(const Json& j) { return j.dump(2) + "\n"; }

// ---------------------------------------------------------------------------
// tokenizer.json and tokenizer_config.json

// A JSON string literal (UTF-8 kept as is, as HF tokenizers writes it).
std::string Quote(absl::string_view s) { return Json(std::string(s)).dump(); }

// The name of inert filler token `k`.
std::string UnusedToken(int64_t k) {
  return absl::StrCat("<|unused_", k, "|>");
}

// Planted words by the id they take (empty outside planted mode).
using PlantedTokens = std::map<int64_t, std::string>;

// The "added_tokens" entry of a planted word: not special (so decoding shows
// it and HF counts it as text), matched on the raw input before the
// pre-tokenizer (normalized false; there is no normalizer anyway), whole
// words only (single_word, so "zorblats" stays ordinary text), and leaving
// the surrounding spaces to the neighbouring text (no lstrip / rstrip, so
// decoding round-trips).
std::string PlantedAddedToken(int64_t id, absl::string_view word) {
  return absl::StrCat(R"(,
    {
      "id": )",
                      id, R"(,
      "content": )",
                      Quote(word), R"(,
      "single_word": true,
      "lstrip": false,
      "rstrip": false,
      "normalized": false,
      "special": false
    })");
}

// tokenizer.json in HF tokenizers' GPT-2 serialisation (pretty-printed).
// Ids: [0, learned) the trained vocabulary, `learned` <|endoftext|>, then
// inert "<|unused_k|>" tokens up to vocab_size, except that a planted word
// takes its slot, in the vocab too (as <|endoftext|> is in both), so that a
// reader taking added-token ids from the vocab agrees. Written by hand rather
// than through an ordered JSON object, which would be quadratic in the vocab.
std::string TokenizerJson(const BpeVocabulary& bpe, int64_t vocab_size,
                          const PlantedTokens& planted) {
  const int64_t special_id = static_cast<int64_t>(bpe.tokens.size());
  std::string out;
  out.reserve(static_cast<size_t>(vocab_size) * 32 + bpe.merges.size() * 24);
  absl::StrAppend(&out, R"({
  "version": "1.0",
  "truncation": null,
  "padding": null,
  "added_tokens": [
    {
      "id": )",
                  special_id, R"(,
      "content": )",
                  Quote(kEndOfText), R"(,
      "single_word": false,
      "lstrip": false,
      "rstrip": false,
      "normalized": true,
      "special": true
    })");
  for (const auto& [id, word] : planted) {
    absl::StrAppend(&out, PlantedAddedToken(id, word));
  }
  absl::StrAppend(&out, R"(
  ],
  "normalizer": null,
  "pre_tokenizer": {
    "type": "ByteLevel",
    "add_prefix_space": false,
    "trim_offsets": true,
    "use_regex": true
  },
  "post_processor": {
    "type": "ByteLevel",
    "add_prefix_space": true,
    "trim_offsets": false,
    "use_regex": true
  },
  "decoder": {
    "type": "ByteLevel",
    "add_prefix_space": true,
    "trim_offsets": true,
    "use_regex": true
  },
  "model": {
    "type": "BPE",
    "dropout": null,
    "unk_token": null,
    "continuing_subword_prefix": "",
    "end_of_word_suffix": "",
    "fuse_unk": false,
    "byte_fallback": false,
    "vocab": {)");
  auto add_entry = [&](absl::string_view token, int64_t id) {
    absl::StrAppend(&out, id == 0 ? "\n" : ",\n", "      ", Quote(token), ": ",
                    id);
  };
  for (size_t id = 0; id < bpe.tokens.size(); ++id) {
    add_entry(bpe.tokens[id], static_cast<int64_t>(id));
  }
  add_entry(kEndOfText, special_id);
  for (int64_t id = special_id + 1; id < vocab_size; ++id) {
    auto it = planted.find(id);
    add_entry(
        it != planted.end() ? it->second : UnusedToken(id - special_id - 1),
        id);
  }
  absl::StrAppend(&out, "\n    },\n    \"merges\": [");
  for (size_t i = 0; i < bpe.merges.size(); ++i) {
    absl::StrAppend(
        &out, i == 0 ? "\n" : ",\n", "      ",
        Quote(absl::StrCat(bpe.merges[i].first, " ", bpe.merges[i].second)));
  }
  absl::StrAppend(&out, bpe.merges.empty() ? "]" : "\n    ]", "\n  }\n}");
  return out;
}

// tokenizer_config.json as GPT2Tokenizer.save_pretrained writes it, so that
// AutoTokenizer loads tokenizer.json as a GPT2TokenizerFast.
Json TokenizerConfigJson(int64_t special_id, int64_t max_positions,
                         const PlantedTokens& planted) {
  Json j;
  j["add_bos_token"] = false;
  j["add_prefix_space"] = false;
  j["added_tokens_decoder"][std::to_string(special_id)] = {
      {"content", kEndOfText}, {"lstrip", false},      {"normalized", true},
      {"rstrip", false},       {"single_word", false}, {"special", true}};
  for (const auto& [id, word] : planted) {
    j["added_tokens_decoder"][std::to_string(id)] = {
        {"content", word}, {"lstrip", false},     {"normalized", false},
        {"rstrip", false}, {"single_word", true}, {"special", false}};
  }
  j["bos_token"] = kEndOfText;
  // False so that HF's decode equals ours (no " ." -> "." clean-up).
  j["clean_up_tokenization_spaces"] = false;
  j["eos_token"] = kEndOfText;
  j["errors"] = "replace";
  j["model_max_length"] = max_positions;
  j["pad_token"] = nullptr;
  j["tokenizer_class"] = "GPT2Tokenizer";
  j["unk_token"] = kEndOfText;
  return j;
}

// ---------------------------------------------------------------------------
// Files (the directory around them: staging_directory.h)

absl::Status FsError(const std::error_code& ec, const std::string& path,
                     absl::string_view what) {
  return ErrnoStatus(path, what, ec.value());
}

// Creates `path` in a fresh directory, writes `contents` and syncs it.
absl::Status WriteNewFile(Env& env, const std::string& path,
                          absl::string_view contents) {
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                           env.NewWritableFile(path));
  FNPROBE_RETURN_IF_ERROR(file->Append(contents));
  FNPROBE_RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

absl::StatusOr<int64_t> FileSize(const std::string& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return FsError(ec, path, "cannot stat");
  return static_cast<int64_t>(size);
}

// ---------------------------------------------------------------------------
// Planted mode

// Planted mode's limits that do not need the tokenizer, checked before
// training it.
absl::Status CheckPlantedOptions(const ShapeSpec& shape,
                                 const MakeModelOptions& options) {
  if (shape.family != ModelFamily::kOpt && shape.family != ModelFamily::kGpt2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "planted models need learned positions and a tied LM head: family ",
        FamilyName(shape.family), " is not supported (use opt or gpt2)"));
  }
  if (options.dtype != DType::kF32) {
    // Rounding would give ordinary tokens slightly unequal LayerNorm scales,
    // which leaks the context into units that must not respond.
    return absl::InvalidArgumentError(absl::StrCat(
        "planted models are stored as F32 only, not ", DTypeName(options.dtype),
        " (rounded weights would let context reach non-planted units)"));
  }
  // The trainer needs room for the 256 byte symbols.
  const int64_t words = options.planted->num_words();
  if (words > shape.vocab - 1 - 256) {
    return absl::InvalidArgumentError(absl::StrCat(
        "planted conditions: ", words, " words do not fit a vocabulary of ",
        shape.vocab, " ids"));
  }
  return absl::OkStatus();
}

// Gives each planted word, in spec order, the next filler slot after
// <|endoftext|> (training left exactly that many free). A word that is
// already a vocabulary token would have two ids, so it is refused.
absl::StatusOr<PlantedTokens> AssignPlantedTokens(const PlantSpec& spec,
                                                  const BpeVocabulary& bpe,
                                                  std::vector<int64_t>& ids) {
  std::map<std::string, int64_t> learned;
  for (size_t id = 0; id < bpe.tokens.size(); ++id) {
    learned.emplace(bpe.tokens[id], static_cast<int64_t>(id));
  }
  PlantedTokens planted;
  int64_t next = static_cast<int64_t>(bpe.tokens.size()) + 1;
  for (size_t c = 0; c < spec.conditions.size(); ++c) {
    const std::vector<std::string>& words = spec.conditions[c].words;
    for (size_t w = 0; w < words.size(); ++w) {
      auto it = learned.find(words[w]);
      if (it != learned.end()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "planted conditions[", c, "].words[", w, "]: '", words[w],
            "' is already a token of the generated vocabulary (id ", it->second,
            "); plant made-up words"));
      }
      ids.push_back(next);
      planted.emplace(next++, words[w]);
    }
  }
  return planted;
}

// Checks that our tokenizer turns each planted word into its one id.
absl::Status CheckPlantedTokens(const Tokenizer& tokenizer,
                                const PlantedTokens& planted) {
  for (const auto& [id, word] : planted) {
    FNPROBE_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                             tokenizer.Encode(absl::StrCat("a ", word, " b"),
                                              /*add_special_tokens=*/false));
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
      return absl::InternalError(absl::StrCat(
          "planted word '", word, "' does not encode to its id ", id));
    }
  }
  return absl::OkStatus();
}

// Planted mode's part of PlanModel once config.json and the tokenizer are
// known: places the conditions and renders planted.json.
absl::Status PlanPlanted(const MakeModelOptions& options,
                         const std::vector<int64_t>& ids, ModelPlan& plan) {
  FNPROBE_ASSIGN_OR_RETURN(
      PlantedLayout layout,
      LayoutPlantedModel(plan.config, *options.planted, ids));
  plan.json_files["planted.json"] =
      PlantedJson(plan.config, layout, plan.shape, options.seed);
  plan.planted = std::move(layout);
  return absl::OkStatus();
}

// Writes every file of the checkpoint into `dir`.
absl::Status WriteCheckpoint(Env& env, const std::string& dir,
                             const ModelPlan& plan,
                             const MakeModelOptions& options, MadeModel& made) {
  for (const auto& [name, contents] : plan.json_files) {
    FNPROBE_RETURN_IF_ERROR(WriteNewFile(env, dir + "/" + name, contents));
  }
  const std::string weights_path = dir + "/model.safetensors";
  FNPROBE_ASSIGN_OR_RETURN(
      RandomWeightsFile weights,
      WriteRandomWeights(env, weights_path, CheckpointTensors(plan.config),
                         options.seed, options.dtype));
  if (plan.planted.has_value()) {
    // The random weights are the starting point: the planted construction
    // overwrites only what it needs, so the rest stays as in random mode.
    FNPROBE_RETURN_IF_ERROR(
        PlantWeights(weights_path, plan.config, *plan.planted));
  }
  made.num_tensors = weights.num_tensors;
  made.num_parameters = weights.num_parameters;
  // Best effort, as for the parent in CommitStagingDirectory.
  env.SyncDirectory(dir).IgnoreError();
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> ModelShapeNames() {
  std::vector<std::string> names;
  for (const NamedShape& shape : NamedShapes()) names.push_back(shape.name);
  return names;
}

std::vector<std::string> ModelFamilyNames() {
  std::vector<std::string> names;
  for (ModelFamily family : kAllFamilies) {
    names.emplace_back(FamilyName(family));
  }
  return names;
}

absl::StatusOr<ModelPlan> PlanModel(const MakeModelOptions& options) {
  FNPROBE_ASSIGN_OR_RETURN(ShapeSpec shape, ResolveShape(options));
  if (options.dtype != DType::kF32 && options.dtype != DType::kF16 &&
      options.dtype != DType::kBF16) {
    return absl::InvalidArgumentError(
        absl::StrCat("dtype ", DTypeName(options.dtype),
                     " cannot store weights (supported: F32, F16, BF16)"));
  }

  const bool planted = options.planted.has_value();
  if (planted) FNPROBE_RETURN_IF_ERROR(CheckPlantedOptions(shape, options));

  // The tokenizer first: its size fixes the special token's id. One id is
  // kept for <|endoftext|> and one per planted word; what training does not
  // fill becomes filler.
  BpeTrainerOptions trainer;
  trainer.max_tokens =
      shape.vocab - 1 - (planted ? options.planted->num_words() : 0);
  FNPROBE_ASSIGN_OR_RETURN(BpeVocabulary bpe,
                           TrainByteLevelBpe(ModelMakerCorpus(), trainer));
  PlantedTokens planted_tokens;
  std::vector<int64_t> planted_ids;
  if (planted) {
    FNPROBE_ASSIGN_OR_RETURN(
        planted_tokens,
        AssignPlantedTokens(*options.planted, bpe, planted_ids));
  }
  ModelPlan plan;
  plan.shape = shape.name;
  plan.learned_tokens = static_cast<int64_t>(bpe.tokens.size());
  plan.merges = static_cast<int64_t>(bpe.merges.size());
  plan.special_token_id = plan.learned_tokens;

  plan.json_files["config.json"] =
      Render(ConfigJson(shape, plan.special_token_id, options.dtype));
  plan.json_files["generation_config.json"] =
      Render(GenerationConfigJson(shape.family, plan.special_token_id));
  plan.json_files["tokenizer.json"] =
      TokenizerJson(bpe, shape.vocab, planted_tokens);
  plan.json_files["tokenizer_config.json"] = Render(TokenizerConfigJson(
      plan.special_token_id, shape.max_positions, planted_tokens));

  // Check the files with our own readers, so that a checkpoint this tool
  // writes always loads.
  FNPROBE_ASSIGN_OR_RETURN(
      plan.config,
      ModelConfig::FromJson(plan.json_files["config.json"], "config.json"));
  FNPROBE_ASSIGN_OR_RETURN(
      std::unique_ptr<Tokenizer> tokenizer,
      Tokenizer::FromJson(plan.json_files["tokenizer.json"], "tokenizer.json"));
  if (tokenizer->vocab_size() != plan.config.vocab_size ||
      tokenizer->TokenToId(kEndOfText) != plan.special_token_id) {
    return absl::InternalError(
        absl::StrCat("generated tokenizer has ", tokenizer->vocab_size(),
                     " tokens, the config ", plan.config.vocab_size));
  }
  if (planted) {
    FNPROBE_RETURN_IF_ERROR(CheckPlantedTokens(*tokenizer, planted_tokens));
    FNPROBE_RETURN_IF_ERROR(PlanPlanted(options, planted_ids, plan));
  }
  return plan;
}

absl::StatusOr<MadeModel> MakeModel(const MakeModelOptions& options) {
  Env& env = options.env != nullptr ? *options.env : *Env::Default();
  MadeModel made;
  FNPROBE_ASSIGN_OR_RETURN(made.plan, PlanModel(options));
  FNPROBE_ASSIGN_OR_RETURN(CheckpointDestination dest,
                           InspectDestination(options.out_dir));
  if (dest.exists && !dest.empty && !options.force) {
    return absl::AlreadyExistsError(
        absl::StrCat(dest.path,
                     ": directory exists and is not empty (pass --force to "
                     "replace it)"));
  }
  if (!dest.exists) FNPROBE_RETURN_IF_ERROR(env.CreateDirectories(dest.parent));

  StagingDirectory tmp(env);
  FNPROBE_RETURN_IF_ERROR(tmp.Create(dest.parent, dest.base));
  FNPROBE_RETURN_IF_ERROR(
      WriteCheckpoint(env, tmp.path(), made.plan, options, made));
  std::error_code ec;
  for (fs::directory_iterator it(tmp.path(), ec), end; !ec && it != end;
       it.increment(ec)) {
    FNPROBE_ASSIGN_OR_RETURN(int64_t size, FileSize(it->path().string()));
    made.files.emplace_back(it->path().filename().string(), size);
  }
  if (ec) return FsError(ec, tmp.path(), "cannot list");
  std::sort(made.files.begin(), made.files.end());
  FNPROBE_RETURN_IF_ERROR(CommitStagingDirectory(env, tmp, dest));
  made.directory = dest.path;
  return made;
}

}  // namespace fnprobe
