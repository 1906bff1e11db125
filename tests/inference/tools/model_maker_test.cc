// Tests of the random-weight checkpoint maker
// (server/inference/tools/model_maker.h): every family's tiny checkpoint loads
// and generates, files are deterministic per seed, the tokenizer round-trips,
// the named real shapes match their Hub configs, and bad options fail cleanly
// without touching the file system.
#include "server/inference/tools/model_maker.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/safetensors_reader.h"
#include "common/safetensors_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/inference/model/batch_generator.h"
#include "server/inference/model/model.h"
#include "server/inference/model/torch_engine.h"
#include "server/inference/tokenizer/tokenizer.h"
#include "server/inference/tools/bpe_trainer.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

namespace fs = std::filesystem;
using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::ReadFileOrDie;
using ::fnprobe::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr const char* kFiles[] = {"config.json", "generation_config.json",
                                  "model.safetensors", "tokenizer.json",
                                  "tokenizer_config.json"};

MakeModelOptions Options(const std::string& shape, const std::string& family,
                         const std::string& out_dir, uint64_t seed = 0) {
  MakeModelOptions options;
  options.shape = shape;
  options.family = family;
  options.seed = seed;
  options.out_dir = out_dir;
  return options;
}

std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

class TinyFamilyTest : public ::testing::TestWithParam<std::string> {};

// A tiny checkpoint of each family loads with Model::Load on the CPU and
// generates 8 in-vocabulary tokens for each of two batched prompts.
TEST_P(TinyFamilyTest, LoadsAndGenerates) {
  const std::string dir = MakeTempDir("model_maker_") + "/" + GetParam();
  auto made = MakeModel(Options("tiny", GetParam(), dir, 1));
  ASSERT_OK(made);
  EXPECT_EQ(made->directory, dir);
  std::vector<std::string> names;
  for (const auto& [name, size] : made->files) {
    names.push_back(name);
    EXPECT_GT(size, 0) << name;
  }
  EXPECT_THAT(names, ::testing::ElementsAreArray(kFiles));
  EXPECT_THAT(DirEntries(dir), ::testing::ElementsAreArray(kFiles));

  ModelOptions model_options;
  model_options.device = "cpu";
  auto model = Model::Load(dir, model_options);
  ASSERT_OK(model);
  const ModelConfig& config = (*model)->config();
  EXPECT_EQ(FamilyName(config.family), GetParam());
  EXPECT_EQ(config.hidden_size, 64);
  EXPECT_EQ(config.num_layers, 2);
  EXPECT_EQ(config.num_heads, 4);
  EXPECT_EQ(config.max_positions, 512);
  EXPECT_EQ(config.vocab_size, 1024);
  EXPECT_EQ((*model)->tokenizer().vocab_size(), config.vocab_size);
  EXPECT_THAT((*model)->unused_tensors(), ::testing::IsEmpty());
  if (config.family == ModelFamily::kLlama) {
    EXPECT_EQ(config.num_kv_heads, 2);
    EXPECT_EQ(config.intermediate_size, 172);
  } else {
    EXPECT_EQ(config.intermediate_size, 256);
  }

  std::vector<Prompt> prompts;
  for (const char* text : {"The history of science", "Bees visit flowers"}) {
    auto ids = (*model)->tokenizer().Encode(text, false);
    ASSERT_OK(ids);
    ASSERT_FALSE(ids->empty());
    prompts.push_back(*ids);
  }
  std::unique_ptr<Engine> engine = NewTorchEngine(*model);
  GenerationOptions generation;
  generation.max_new_tokens = 8;
  std::map<int64_t, std::vector<int64_t>> tokens;
  ASSERT_OK(GenerateBatch(*engine, prompts, Layout(), generation,
                          [&](const GeneratedToken& t) {
                            tokens[t.prompt].push_back(t.token);
                            return absl::OkStatus();
                          }));
  ASSERT_EQ(tokens.size(), 2u);
  for (const auto& [prompt, ids] : tokens) {
    EXPECT_EQ(ids.size(), 8u) << "prompt " << prompt;
    for (int64_t id : ids) {
      EXPECT_GE(id, 0);
      EXPECT_LT(id, config.vocab_size);
    }
  }
}

// config.json has the keys of the reference checkpoint of the family (as
// transformers 4.38.2 writes them), and model.safetensors its tensor names.
TEST_P(TinyFamilyTest, MatchesReferenceKeysAndTensorNames) {
  const std::string dir = MakeTempDir("model_maker_ref_") + "/m";
  ASSERT_OK(MakeModel(Options("tiny", GetParam(), dir)));
  const std::string ref = "models/" + GetParam();
  const auto ours = nlohmann::json::parse(ReadFileOrDie(dir + "/config.json"));
  const auto theirs = nlohmann::json::parse(
      ReadFileOrDie(::fnprobe::testing::ReferencePath(ref + "/config.json")));
  std::vector<std::string> our_keys, their_keys;
  for (const auto& item : ours.items()) our_keys.push_back(item.key());
  for (const auto& item : theirs.items()) their_keys.push_back(item.key());
  EXPECT_EQ(our_keys, their_keys);

  auto our_weights = SafetensorsReader::Open(dir + "/model.safetensors");
  ASSERT_OK(our_weights);
  auto their_weights = SafetensorsReader::Open(
      ::fnprobe::testing::ReferencePath(ref + "/model.safetensors"));
  ASSERT_OK(their_weights);
  std::vector<std::string> our_names = (*our_weights)->names();
  std::vector<std::string> their_names = (*their_weights)->names();
  std::sort(our_names.begin(), our_names.end());
  std::sort(their_names.begin(), their_names.end());
  EXPECT_EQ(our_names, their_names);
  EXPECT_EQ((*our_weights)->metadata(), (*their_weights)->metadata());
}

// model.safetensors is streamed, but byte for byte what SafetensorsWriter
// writes for the same tensors; the values have the documented spread.
TEST_P(TinyFamilyTest, WeightsFileMatchesSafetensorsWriter) {
  const std::string dir = MakeTempDir("model_maker_st_") + "/m";
  MakeModelOptions options = Options("tiny", GetParam(), dir, 5);
  options.dtype = DType::kBF16;
  ASSERT_OK(MakeModel(options));
  const std::string path = dir + "/model.safetensors";
  auto reader = SafetensorsReader::Open(path);
  ASSERT_OK(reader);
  SafetensorsWriter writer;
  for (const auto& [key, value] : (*reader)->metadata()) {
    writer.SetMetadata(key, value);
  }
  for (const std::string& name : (*reader)->names()) {
    const TensorView* view = (*reader)->Find(name);
    ASSERT_NE(view, nullptr);
    EXPECT_EQ(view->dtype, DType::kBF16);
    ASSERT_OK(writer.Add(
        name, view->dtype, view->shape,
        std::vector<uint8_t>(view->data, view->data + view->nbytes)));
  }
  EXPECT_TRUE(writer.Serialize() == ReadFileOrDie(path));

  // Mean and standard deviation of every tensor, by kind.
  for (const std::string& name : (*reader)->names()) {
    auto values = (*reader)->ReadFloat32(name);
    ASSERT_OK(values);
    double sum = 0, sum_sq = 0;
    for (float v : *values) sum += v;
    const double mean = sum / values->size();
    for (float v : *values) sum_sq += (v - mean) * (v - mean);
    const double sd = std::sqrt(sum_sq / values->size());
    const bool is_norm = name.find("norm") != std::string::npos ||
                         name.find("ln_") != std::string::npos;
    const bool is_bias =
        name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (values->size() < 1000) continue;  // too few for tight bounds
    if (is_norm && !is_bias) {
      EXPECT_NEAR(mean, 1.0, 0.01) << name;
    } else {
      EXPECT_NEAR(mean, 0.0, 0.01) << name;
    }
    EXPECT_NEAR(sd, is_bias ? 0.01 : 0.02, 0.003) << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Families, TinyFamilyTest,
                         ::testing::Values("opt", "gpt2", "gpt_neox", "llama"),
                         [](const auto& info) { return info.param; });

// The same options give byte-identical files; another seed changes only the
// weights.
TEST(ModelMakerTest, SameSeedGivesIdenticalFilesOtherSeedOtherWeights) {
  const std::string root = MakeTempDir("model_maker_seed_");
  ASSERT_OK(MakeModel(Options("tiny", "gpt2", root + "/a", 42)));
  ASSERT_OK(MakeModel(Options("tiny", "gpt2", root + "/b", 42)));
  ASSERT_OK(MakeModel(Options("tiny", "gpt2", root + "/c", 43)));
  for (const char* name : kFiles) {
    const std::string a = ReadFileOrDie(root + "/a/" + name);
    EXPECT_EQ(a, ReadFileOrDie(root + "/b/" + name)) << name;
    const std::string c = ReadFileOrDie(root + "/c/" + name);
    if (std::string(name) == "model.safetensors") {
      EXPECT_EQ(a.size(), c.size());
      EXPECT_NE(a, c);
    } else {
      EXPECT_EQ(a, c) << name;
    }
  }
}

// Storing in f16 or bf16 halves model.safetensors, and the result loads.
TEST(ModelMakerTest, HalfPrecisionStorageLoads) {
  const std::string root = MakeTempDir("model_maker_dtype_");
  auto f32 = MakeModel(Options("tiny", "llama", root + "/f32"));
  ASSERT_OK(f32);
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    MakeModelOptions options =
        Options("tiny", "llama", root + "/" + std::string(DTypeName(dtype)));
    options.dtype = dtype;
    auto made = MakeModel(options);
    ASSERT_OK(made);
    const auto size = [](const MadeModel& m) {
      for (const auto& [name, bytes] : m.files) {
        if (name == "model.safetensors") return bytes;
      }
      return int64_t{0};
    };
    EXPECT_NEAR(static_cast<double>(size(*made)), size(*f32) / 2.0,
                0.01 * size(*f32));
    const auto config =
        nlohmann::json::parse(ReadFileOrDie(made->directory + "/config.json"));
    EXPECT_EQ(config["torch_dtype"],
              dtype == DType::kF16 ? "float16" : "bfloat16");
    ModelOptions model_options;
    model_options.device = "cpu";
    EXPECT_OK(Model::Load(made->directory, model_options));
  }
}

// The generated tokenizer loads with Tokenizer::FromFile, round-trips ASCII
// prose, has learned English merges and one special token.
TEST(ModelMakerTest, TokenizerRoundTrips) {
  const std::string dir = MakeTempDir("model_maker_tok_") + "/m";
  auto made = MakeModel(Options("tiny", "", dir));
  ASSERT_OK(made);
  auto tokenizer = Tokenizer::FromFile(dir + "/tokenizer.json");
  ASSERT_OK(tokenizer);
  const Tokenizer& tok = **tokenizer;
  EXPECT_EQ(tok.vocab_size(), 1024);
  const int64_t eot = made->plan.special_token_id;
  EXPECT_EQ(tok.TokenToId("<|endoftext|>"), eot);
  EXPECT_THAT(tok.SpecialTokenIds(), ElementsAre(eot));
  EXPECT_EQ(made->plan.config.bos_token_id, eot);
  EXPECT_THAT(made->plan.config.eos_token_ids, ElementsAre(eot));
  EXPECT_EQ(made->plan.config.pad_token_id, eot);         // OPT has a pad id
  EXPECT_TRUE(tok.TokenToId("\xC4\xA0the").has_value());  // "Ġthe"

  const std::vector<std::string> texts = {
      "The quick brown fox jumps over the lazy dog.",
      "Doctors didn't know; we'll see what they've found in 1932!",
      "  Leading spaces,\ttabs\nand newlines\r\n  stay exactly as written.  ",
      "Zebra-striped quasars: xylophone @ 99.5% (approx.) #42 ~ {braces}",
      std::string(ModelMakerCorpus()),
  };
  for (const std::string& text : texts) {
    auto ids = tok.Encode(text, false);
    ASSERT_OK(ids);
    EXPECT_EQ(tok.Decode(*ids), text);
    for (int64_t id : *ids) EXPECT_LT(id, eot);
  }
  // Learned merges compress English: well under one token per byte.
  auto corpus_ids = tok.Encode(ModelMakerCorpus(), false);
  ASSERT_OK(corpus_ids);
  EXPECT_LT(corpus_ids->size(), ModelMakerCorpus().size() / 2.5);

  auto with_special = tok.Encode("end<|endoftext|>start", false);
  ASSERT_OK(with_special);
  EXPECT_THAT(*with_special, ::testing::Contains(eot));
  EXPECT_EQ(tok.Decode(*with_special), "end<|endoftext|>start");
  // Every id decodes, filler included.
  for (int64_t id = 0; id < tok.vocab_size(); ++id) {
    EXPECT_TRUE(tok.IdToToken(id).has_value()) << id;
  }
}

// galactica-125m is facebook/galactica-125m's config with the generated
// tokenizer's special ids, about 125M parameters; checked without writing
// the weights.
TEST(ModelMakerTest, Galactica125mMatchesHubConfig) {
  auto plan = PlanModel(Options("galactica-125m", "", ""));
  ASSERT_OK(plan);
  const ModelConfig& c = plan->config;
  EXPECT_EQ(c.family, ModelFamily::kOpt);
  EXPECT_EQ(c.hidden_size, 768);
  EXPECT_EQ(c.num_layers, 12);
  EXPECT_EQ(c.num_heads, 12);
  EXPECT_EQ(c.intermediate_size, 3072);
  EXPECT_EQ(c.word_embed_proj_dim, 768);
  EXPECT_EQ(c.max_positions, 2048);
  EXPECT_EQ(c.vocab_size, 50000);
  EXPECT_EQ(c.activation, Activation::kGelu);
  EXPECT_TRUE(c.pre_layer_norm);
  EXPECT_TRUE(c.has_final_norm);
  EXPECT_TRUE(c.attention_bias);
  EXPECT_TRUE(c.norm_affine);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_NEAR(static_cast<double>(c.ParameterCount()), 125e6, 1.5e6);

  const auto json = nlohmann::json::parse(plan->json_files.at("config.json"));
  EXPECT_EQ(json["model_type"], "opt");
  EXPECT_EQ(json["ffn_dim"], 3072);
  EXPECT_EQ(json["activation_function"], "gelu");
  EXPECT_EQ(json["do_layer_norm_before"], true);
  EXPECT_EQ(json["enable_bias"], true);
  EXPECT_EQ(json["layer_norm_elementwise_affine"], true);
  EXPECT_EQ(json["learned_embeddings"], true);
  EXPECT_EQ(json["scale_embeddings"], false);
  EXPECT_EQ(json["_remove_final_layer_norm"], false);
  EXPECT_EQ(json["dropout"], 0.1);
  EXPECT_EQ(json["attention_dropout"], 0.1);
  EXPECT_EQ(json["activation_dropout"], 0.0);
  EXPECT_EQ(json["layerdrop"], 0.0);
  EXPECT_EQ(json["init_std"], 0.02);
  const int64_t eot = plan->special_token_id;
  EXPECT_EQ(json["bos_token_id"], eot);
  EXPECT_EQ(json["pad_token_id"], eot);
  EXPECT_EQ(json["eos_token_id"], eot);
  EXPECT_FALSE(json.contains("tie_word_embeddings"));  // OPT default: tied

  auto tokenizer =
      Tokenizer::FromJson(plan->json_files.at("tokenizer.json"), "tok");
  ASSERT_OK(tokenizer);
  EXPECT_EQ((*tokenizer)->vocab_size(), 50000);
  EXPECT_EQ((*tokenizer)->TokenToId("<|endoftext|>"), eot);
  EXPECT_EQ((*tokenizer)->IdToToken(49999),
            absl::StrCat("<|unused_", 49999 - eot - 1, "|>"));
}

// pythia-160m and llama-tiny carry their stated configs.
TEST(ModelMakerTest, OtherNamedShapesMatchTheirConfigs) {
  auto pythia = PlanModel(Options("pythia-160m", "gpt_neox", ""));
  ASSERT_OK(pythia);
  const ModelConfig& p = pythia->config;
  EXPECT_EQ(p.family, ModelFamily::kGptNeox);
  EXPECT_EQ(p.hidden_size, 768);
  EXPECT_EQ(p.num_layers, 12);
  EXPECT_EQ(p.num_heads, 12);
  EXPECT_EQ(p.intermediate_size, 3072);
  EXPECT_EQ(p.max_positions, 2048);
  EXPECT_EQ(p.vocab_size, 50304);
  EXPECT_EQ(p.rotary_dim, 16);  // 0.25 * 64
  EXPECT_EQ(p.rope_theta, 10000.0);
  EXPECT_TRUE(p.parallel_residual);
  EXPECT_FALSE(p.tie_word_embeddings);
  EXPECT_EQ(p.norm_eps, 1e-5);
  EXPECT_NEAR(static_cast<double>(p.ParameterCount()), 162e6, 2e6);

  auto llama = PlanModel(Options("llama-tiny", "", ""));
  ASSERT_OK(llama);
  const ModelConfig& l = llama->config;
  EXPECT_EQ(l.family, ModelFamily::kLlama);
  EXPECT_EQ(l.hidden_size, 256);
  EXPECT_EQ(l.num_layers, 4);
  EXPECT_EQ(l.num_heads, 8);
  EXPECT_EQ(l.num_kv_heads, 4);
  EXPECT_EQ(l.intermediate_size, 688);
  EXPECT_EQ(l.max_positions, 512);
  EXPECT_EQ(l.vocab_size, 2048);
  EXPECT_EQ(l.norm_eps, 1e-6);
  EXPECT_EQ(l.activation, Activation::kSilu);
  EXPECT_FALSE(l.attention_bias);
  EXPECT_FALSE(l.mlp_bias);
  EXPECT_FALSE(l.tie_word_embeddings);
}

TEST(ModelMakerTest, RefusesUnknownShape) {
  const std::string root = MakeTempDir("model_maker_err_");
  EXPECT_THAT(MakeModel(Options("huge", "", root + "/m")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("unknown shape 'huge'"),
                             HasSubstr("galactica-125m"))));
  EXPECT_THAT(MakeModel(Options("tiny", "bert", root + "/m")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown family 'bert'")));
  EXPECT_THAT(DirEntries(root), ::testing::IsEmpty());
}

TEST(ModelMakerTest, RefusesFamilyConflictingWithNamedShape) {
  const std::string root = MakeTempDir("model_maker_err_");
  EXPECT_THAT(MakeModel(Options("galactica-125m", "gpt2", root + "/m")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("'galactica-125m' implies family opt"),
                             HasSubstr("family 'gpt2' conflicts"))));
  EXPECT_THAT(DirEntries(root), ::testing::IsEmpty());
}

// An existing non-empty directory is refused without force and left as it
// was (no temporary directory left beside it); with force it is replaced.
TEST(ModelMakerTest, ExistingDirectoryNeedsForce) {
  const std::string root = MakeTempDir("model_maker_force_");
  const std::string dir = root + "/m";
  fs::create_directory(dir);
  std::ofstream(dir + "/keep.txt") << "precious";

  EXPECT_THAT(MakeModel(Options("tiny", "", dir)),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       AllOf(HasSubstr(dir), HasSubstr("not empty"),
                             HasSubstr("--force"))));
  EXPECT_THAT(DirEntries(dir), ElementsAre("keep.txt"));
  EXPECT_EQ(ReadFileOrDie(dir + "/keep.txt"), "precious");
  EXPECT_THAT(DirEntries(root), ElementsAre("m"));

  MakeModelOptions options = Options("tiny", "", dir);
  options.force = true;
  ASSERT_OK(MakeModel(options));
  EXPECT_THAT(DirEntries(dir), ::testing::ElementsAreArray(kFiles));
  EXPECT_THAT(DirEntries(root), ElementsAre("m"));

  // An empty directory needs no force.
  const std::string empty = root + "/empty";
  fs::create_directory(empty);
  ASSERT_OK(MakeModel(Options("tiny", "", empty + "/")));
  EXPECT_THAT(DirEntries(empty), ::testing::ElementsAreArray(kFiles));
}

TEST(ModelMakerTest, RefusesAFileAsOutput) {
  const std::string root = MakeTempDir("model_maker_file_");
  std::ofstream(root + "/f") << "x";
  MakeModelOptions options = Options("tiny", "", root + "/f");
  options.force = true;
  EXPECT_THAT(MakeModel(options),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not a directory")));
  EXPECT_EQ(ReadFileOrDie(root + "/f"), "x");
}

// The trainer merges the most frequent pair first, breaks ties by the pair's
// strings, and stops when no pair occurs twice.
TEST(BpeTrainerTest, LearnsFrequentPairsDeterministically) {
  BpeTrainerOptions options;
  options.max_tokens = 1000;
  // Pieces: "abab" x1, " abab" x2, " cd" x1.
  auto vocab = TrainByteLevelBpe("abab abab abab cd", options);
  ASSERT_OK(vocab);
  ASSERT_GE(vocab->tokens.size(), 256u);
  EXPECT_EQ(vocab->tokens[0], "!");
  EXPECT_EQ(vocab->tokens[255], "\xC5\x83");  // byte 0xAD's symbol, U+0143
  // "a b" occurs 6 times; then "ab ab" 3 times (beating "Ġ ab", twice);
  // then "Ġ abab" twice; " cd" occurs once, so it is never merged.
  EXPECT_THAT(vocab->merges,
              ElementsAre(std::make_pair(std::string("a"), std::string("b")),
                          std::make_pair(std::string("ab"), std::string("ab")),
                          std::make_pair(std::string("\xC4\xA0"),
                                         std::string("abab"))));
  EXPECT_THAT(std::vector<std::string>(vocab->tokens.begin() + 256,
                                       vocab->tokens.end()),
              ElementsAre("ab", "abab",
                          "\xC4\xA0"
                          "abab"));

  // Ties (count 2 each) go to the smallest (left, right) strings; "Ġ" is
  // U+0120, so it sorts after ASCII letters.
  auto ties = TrainByteLevelBpe("ab cd ab cd", options);
  ASSERT_OK(ties);
  EXPECT_THAT(
      ties->merges,
      ElementsAre(std::make_pair(std::string("a"), std::string("b")),
                  std::make_pair(std::string("c"), std::string("d")),
                  std::make_pair(std::string("\xC4\xA0"), std::string("cd"))));

  options.max_tokens = 257;  // room for one merge only
  auto capped = TrainByteLevelBpe("abab abab abab cd", options);
  ASSERT_OK(capped);
  EXPECT_EQ(capped->tokens.size(), 257u);
  EXPECT_EQ(capped->merges.size(), 1u);
}

TEST(BpeTrainerTest, RefusesBadInput) {
  BpeTrainerOptions options;
  options.max_tokens = 100;
  EXPECT_THAT(TrainByteLevelBpe("text", options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("max_tokens 100")));
  options.max_tokens = 300;
  EXPECT_THAT(TrainByteLevelBpe("ok \xFF bad", options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not valid UTF-8 at byte offset 3")));
}

}  // namespace
}  // namespace fnprobe
