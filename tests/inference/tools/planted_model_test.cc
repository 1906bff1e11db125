// Tests of planted-response checkpoints (fnprobe-make-model --planted;
// server/inference/tools/planted_model.h, planted_spec.h): PLANT.json
// validation, planted.json against the model's hook layout, determinism, the
// exact properties the construction relies on, and - through the real engine
// with temperature-1 sampling, every generated token a time point, every hook
// point captured - that the planted units respond strongly to their
// condition's words and no other unit responds.
#include "server/inference/tools/planted_model.h"

#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/half_float.h"
#include "common/layout.h"
#include "common/safetensors_reader.h"
#include "common/status_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/inference/model/batch_generator.h"
#include "server/inference/model/hook_points.h"
#include "server/inference/model/model.h"
#include "server/inference/model/torch_engine.h"
#include "server/inference/tools/model_maker.h"
#include "server/inference/tools/planted_spec.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

namespace fs = std::filesystem;
using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::ReadFileOrDie;
using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kPlant[] = R"({"conditions": [
  {"name": "alpha", "words": ["zorblat", "quixel"]},
  {"name": "beta", "words": ["vornik", "glimbo"]},
  {"name": "gamma", "words": ["trazzle", "plonquist"]}]})";

PlantSpec Spec(absl::string_view json = kPlant) {
  absl::StatusOr<PlantSpec> spec = ParsePlantSpec(json, "plant.json");
  EXPECT_OK(spec);
  return spec.ok() ? *spec : PlantSpec();
}

MakeModelOptions PlantedOptions(const std::string& family,
                                const std::string& out_dir, uint64_t seed = 0,
                                absl::string_view plant = kPlant) {
  MakeModelOptions options;
  options.shape = "tiny";
  options.family = family;
  options.seed = seed;
  options.out_dir = out_dir;
  options.planted = Spec(plant);
  return options;
}

// ---------------------------------------------------------------------------
// PLANT.json validation

struct BadSpec {
  const char* json;
  const char* message;
};

TEST(PlantSpecTest, RefusesInvalidSpecsNamingTheField) {
  const BadSpec cases[] = {
      {"[1]", "plant.json: must be an object"},
      {"{", "plant.json: not valid JSON"},
      {"{}", "plant.json: conditions: missing"},
      {R"({"conditions": []})", "conditions: must list at least one"},
      {R"({"conditions": [], "extra": 1})", "extra: unknown field"},
      {R"({"conditions": [{"words": ["zorb"]}]})",
       "conditions[0].name: missing"},
      {R"({"conditions": [{"name": "", "words": ["zorb"]}]})",
       "conditions[0].name: must not be empty"},
      {R"({"conditions": [{"name": "a b", "words": ["zorb"]}]})",
       "conditions[0].name: 'a b' may contain only"},
      {R"({"conditions": [{"name": "a", "words": ["zorb"]},
                          {"name": "a", "words": ["quib"]}]})",
       "conditions[1].name: 'a' duplicates conditions[0].name"},
      {R"({"conditions": [{"name": "a"}]})", "conditions[0].words: missing"},
      {R"({"conditions": [{"name": "a", "words": []}]})",
       "conditions[0].words: must list at least one word"},
      {R"({"conditions": [{"name": "a", "words": "zorb"}]})",
       "conditions[0].words: must be an array"},
      {R"({"conditions": [{"name": "a", "words": [7]}]})",
       "conditions[0].words[0]: must be a string"},
      {R"({"conditions": [{"name": "a", "words": ["zor blat"]}]})",
       "conditions[0].words[0]: \"zor blat\" is not a plain word"},
      {R"({"conditions": [{"name": "a", "words": ["zorb1"]}]})",
       "conditions[0].words[0]: \"zorb1\" is not a plain word"},
      {R"({"conditions": [{"name": "a", "words": ["z\u00f6rb"]}]})",
       "is not a plain word"},
      {R"({"conditions": [{"name": "a", "words": [""]}]})",
       "conditions[0].words[0]: must not be empty"},
      {R"({"conditions": [{"name": "a", "words": ["zorb", "zorb"]}]})",
       "conditions[0].words[1]: 'zorb' is already a word of condition 'a'"},
      {R"({"conditions": [{"name": "a", "words": ["zorb"]},
                          {"name": "b", "words": ["quib", "zorb"]}]})",
       "conditions[1].words[1]: 'zorb' is already a word of condition 'a'"},
      {R"({"conditions": [{"name": "a", "word": ["zorb"]}]})",
       "conditions[0].word: unknown field"},
  };
  for (const BadSpec& c : cases) {
    EXPECT_THAT(
        ParsePlantSpec(c.json, "plant.json"),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.json;
  }
}

TEST(PlantSpecTest, ParsesConditionsInOrder) {
  const PlantSpec spec = Spec();
  ASSERT_EQ(spec.conditions.size(), 3u);
  EXPECT_EQ(spec.conditions[1].name, "beta");
  EXPECT_THAT(spec.conditions[1].words,
              ::testing::ElementsAre("vornik", "glimbo"));
  EXPECT_EQ(spec.num_words(), 6);
  EXPECT_THAT(ReadPlantSpecFile("/nonexistent/plant.json"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("/nonexistent/plant.json")));
}

// What depends on the model is refused by MakeModel, before anything is
// written.
TEST(PlantedModelTest, RefusesWhatTheModelCannotHold) {
  const std::string dir = MakeTempDir("planted_bad_") + "/m";
  for (const char* family : {"gpt_neox", "llama"}) {
    EXPECT_THAT(MakeModel(PlantedOptions(family, dir)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrCat("family ", family,
                                                " is not supported"))));
  }
  MakeModelOptions half = PlantedOptions("opt", dir);
  half.dtype = DType::kF16;
  EXPECT_THAT(MakeModel(half), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("stored as F32 only")));

  std::vector<std::string> conditions;
  for (int c = 0; c < 9; ++c) {
    conditions.push_back(absl::StrCat(R"({"name": "c)", c,
                                      R"(", "words": ["zorb)",
                                      std::string(1, 'a' + c), R"("]})"));
  }
  const std::string nine =
      absl::StrCat(R"({"conditions": [)", absl::StrJoin(conditions, ","), "]}");
  EXPECT_THAT(
      MakeModel(PlantedOptions("gpt2", dir, 0, nine)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("conditions: 9 conditions do not fit a model of "
                         "hidden size 64 (at most 8")));

  EXPECT_THAT(
      MakeModel(PlantedOptions(
          "opt", dir, 0,
          R"({"conditions": [{"name": "a", "words": ["zorb", "the"]}]})")),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("planted conditions[0].words[1]: 'the' is already a "
                         "token of the generated vocabulary")));
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(fs::is_empty(fs::path(dir).parent_path()));
}

// ---------------------------------------------------------------------------
// Files

// The ground truth names units of the model's full layout ("all"), as many
// as the construction plants, disjoint between conditions; each word is its
// own token, in the tokenizer and in planted.json.
TEST(PlantedModelTest, PlantedJsonIsCompleteAndConsistentWithTheLayout) {
  const std::string dir = MakeTempDir("planted_json_") + "/m";
  ASSERT_OK(MakeModel(PlantedOptions("gpt2", dir)));
  ModelOptions model_options;
  model_options.device = "cpu";
  auto model = Model::Load(dir, model_options);
  ASSERT_OK(model);
  const ModelConfig& config = (*model)->config();
  const Tokenizer& tokenizer = (*model)->tokenizer();
  auto layout = SelectLayout(config, {"all"});
  ASSERT_OK(layout);

  const Json planted = Json::parse(ReadFileOrDie(dir + "/planted.json"));
  EXPECT_EQ(planted["format"], "fnprobe-planted-1");
  EXPECT_EQ(planted["family"], "gpt2");
  EXPECT_EQ(planted["hidden_size"], 64);
  EXPECT_EQ(planted["num_layers"], 2);
  const PlantSpec spec = Spec();
  ASSERT_EQ(planted["conditions"].size(), spec.conditions.size());
  const int64_t endoftext = *tokenizer.TokenToId("<|endoftext|>");
  std::set<int64_t> all_units;
  size_t total = 0;
  for (size_t c = 0; c < spec.conditions.size(); ++c) {
    const Json& cond = planted["conditions"][c];
    EXPECT_EQ(cond["name"], spec.conditions[c].name);
    ASSERT_EQ(cond["words"].get<std::vector<std::string>>(),
              spec.conditions[c].words);
    for (size_t w = 0; w < spec.conditions[c].words.size(); ++w) {
      const std::string& word = spec.conditions[c].words[w];
      const int64_t id = cond["token_ids"][w];
      EXPECT_GT(id, endoftext) << word;  // a former <|unused_N|> slot
      EXPECT_LT(id, config.vocab_size) << word;
      EXPECT_EQ(tokenizer.TokenToId(word), id);
      auto ids = tokenizer.Encode(absl::StrCat("the ", word, " lies ."), false);
      ASSERT_OK(ids);
      EXPECT_EQ(std::count(ids->begin(), ids->end(), id), 1) << word;
      EXPECT_EQ(tokenizer.Decode(*ids), absl::StrCat("the ", word, " lies ."));
      // Whole words only: a longer word is ordinary text.
      auto longer = tokenizer.Encode(word + "s", false);
      ASSERT_OK(longer);
      EXPECT_EQ(std::count(longer->begin(), longer->end(), id), 0) << word;
    }
    const auto units = cond["units"].get<std::vector<std::string>>();
    // 12: the four causal neurons' mlp_pre (planted_model.h, step 8)
    // joined the 8.
    EXPECT_EQ(units.size(), 12 + 4 * config.num_layers);
    int64_t previous = -1;
    for (const std::string& name : units) {
      auto unit = layout->ParseUnit(name);
      ASSERT_OK(unit) << name;
      EXPECT_GT(*unit, previous) << name << " out of layout order";
      previous = *unit;
      all_units.insert(*unit);
    }
    total += units.size();
  }
  EXPECT_EQ(all_units.size(), total) << "conditions share units";

  const Json tokenizer_config =
      Json::parse(ReadFileOrDie(dir + "/tokenizer_config.json"));
  const int64_t first = planted["conditions"][0]["token_ids"][0];
  EXPECT_EQ(tokenizer_config["added_tokens_decoder"][std::to_string(first)]
                            ["content"],
            "zorblat");
}

TEST(PlantedModelTest, SameOptionsGiveIdenticalFiles) {
  const std::string root = MakeTempDir("planted_same_");
  ASSERT_OK(MakeModel(PlantedOptions("opt", root + "/a", 4)));
  ASSERT_OK(MakeModel(PlantedOptions("opt", root + "/b", 4)));
  ASSERT_OK(MakeModel(PlantedOptions("opt", root + "/c", 5)));
  for (const char* name :
       {"config.json", "model.safetensors", "planted.json", "tokenizer.json",
        "tokenizer_config.json", "generation_config.json"}) {
    EXPECT_EQ(ReadFileOrDie(root + "/a/" + name),
              ReadFileOrDie(root + "/b/" + name))
        << name;
  }
  EXPECT_NE(ReadFileOrDie(root + "/a/model.safetensors"),
            ReadFileOrDie(root + "/c/model.safetensors"));
}

// The exact properties the construction relies on (planted_model.h): equal
// LayerNorm scale for every token, marker pairs by membership, zero
// positions, attention writing only the planted entries.
TEST(PlantedModelTest, WeightsHaveTheConstructionsExactProperties) {
  const std::string dir = MakeTempDir("planted_weights_") + "/m";
  auto made = MakeModel(PlantedOptions("opt", dir));
  ASSERT_OK(made);
  const PlantedLayout& layout = *made->plan.planted;
  auto reader = SafetensorsReader::Open(dir + "/model.safetensors");
  ASSERT_OK(reader);
  auto embed = (*reader)->ReadFloat32("model.decoder.embed_tokens.weight");
  ASSERT_OK(embed);
  const int64_t h = 64, vocab = 1024;
  std::map<int64_t, size_t> condition_of;
  for (size_t c = 0; c < layout.conditions.size(); ++c) {
    for (int64_t id : layout.conditions[c].token_ids) condition_of[id] = c;
  }
  for (int64_t t = 0; t < vocab; ++t) {
    const float* row = embed->data() + t * h;
    double mean = 0, var = 0;
    for (int64_t d = 0; d < h; ++d) mean += row[d] / h;
    for (int64_t d = 0; d < h; ++d)
      var += (row[d] - mean) * (row[d] - mean) / h;
    ASSERT_NEAR(var, 0.02 * 0.02, 1e-9) << "token " << t;
    ASSERT_LT(std::abs(mean), 0.02 * 0.05) << "token " << t;
    for (size_t c = 0; c < layout.conditions.size(); ++c) {
      const PlantedConditionLayout& cond = layout.conditions[c];
      const float sign = condition_of.count(t) && condition_of[t] == c ? 1 : -1;
      ASSERT_EQ(row[cond.input_plus], sign * 0.02f) << t;
      ASSERT_EQ(row[cond.input_minus], -sign * 0.02f) << t;
      ASSERT_EQ(row[cond.output_plus], 0.0f) << t;
    }
  }
  auto positions =
      (*reader)->ReadFloat32("model.decoder.embed_positions.weight");
  ASSERT_OK(positions);
  EXPECT_TRUE(std::all_of(positions->begin(), positions->end(),
                          [](float v) { return v == 0.0f; }));
  for (int layer = 0; layer < 2; ++layer) {
    const std::string p = absl::StrCat("model.decoder.layers.", layer, ".");
    auto out = (*reader)->ReadFloat32(p + "self_attn.out_proj.weight");
    ASSERT_OK(out);
    const int64_t nonzero =
        std::count_if(out->begin(), out->end(), [](float v) { return v != 0; });
    EXPECT_EQ(nonzero, layer == 0 ? 2 * 3 : 0) << p;
  }
}

// The binary with the flags a researcher types, and its refusals.
int RunMakeModel(const std::string& args, const std::string& log) {
  const std::string cmd =
      absl::StrCat(FNPROBE_MAKE_MODEL_BINARY, " ", args, " > ", log, " 2>&1");
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(PlantedModelTest, BinaryWritesPlantedJsonAndRefusesBadSpecs) {
  const std::string root = MakeTempDir("planted_cli_");
  {
    std::ofstream(root + "/plant.json") << kPlant;
    std::ofstream(root + "/bad.json")
        << R"({"conditions": [{"name": "a", "words": ["zor-blat"]}]})";
  }
  EXPECT_EQ(
      RunMakeModel(absl::StrCat("--shape tiny --family gpt2 --planted ", root,
                                "/plant.json --seed 3 --out ", root, "/m"),
                   root + "/ok.log"),
      0)
      << ReadFileOrDie(root + "/ok.log");
  EXPECT_TRUE(fs::exists(root + "/m/planted.json"));
  EXPECT_THAT(ReadFileOrDie(root + "/ok.log"), HasSubstr("alpha: tokens"));
  EXPECT_EQ(RunMakeModel(absl::StrCat("--shape tiny --planted ", root,
                                      "/bad.json --out ", root, "/n"),
                         root + "/bad.log"),
            1);
  EXPECT_THAT(ReadFileOrDie(root + "/bad.log"),
              HasSubstr("conditions[0].words[0]: \"zor-blat\" is not a plain "
                        "word"));
  EXPECT_FALSE(fs::exists(root + "/n"));
}

// ---------------------------------------------------------------------------
// Responses through the engine

constexpr int kPromptsPerCondition = 40;
constexpr int kTokensPerPrompt = 12;

// Ordinary words (all in the tokenizer's training corpus).
const std::vector<std::string>& OrdinaryWords() {
  static const auto* const words = new std::vector<std::string>{
      "the",   "old",  "map",   "shows", "a",      "small", "boat", "near",
      "river", "and",  "some",  "tall",  "trees",  "in",    "cold", "light",
      "of",    "city", "water", "house", "people", "long",  "road", "green",
      "hill",  "over", "from",  "with",  "stone",  "bridge"};
  return *words;
}

// A prompt and its baseline twin: the same ordinary words, the twin with
// ordinary words where the prompt has planted ones. Both end in " .".
struct PromptPair {
  std::string task;
  std::string baseline;
};

std::vector<PromptPair> MakePrompts(const PlantedCondition& condition,
                                    uint32_t seed) {
  std::mt19937 rng(seed);
  const std::vector<std::string>& ordinary = OrdinaryWords();
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  std::vector<PromptPair> prompts;
  for (int i = 0; i < kPromptsPerCondition; ++i) {
    std::vector<std::string> task, baseline;
    const size_t length = 7 + pick(4);
    for (size_t w = 0; w < length; ++w) {
      task.push_back(ordinary[pick(ordinary.size())]);
      baseline.push_back(task.back());
    }
    for (int k = 0; k < 2; ++k) {  // two planted words per task prompt
      const size_t at = pick(task.size() + 1);
      task.insert(task.begin() + at,
                  condition.words[pick(condition.words.size())]);
      baseline.insert(baseline.begin() + at, ordinary[pick(ordinary.size())]);
    }
    prompts.push_back(
        {absl::StrJoin(task, " ") + " .", absl::StrJoin(baseline, " ") + " ."});
  }
  return prompts;
}

// The captured values of every generated token, [time point][unit], time
// points prompt-major, with the token each was produced from (the input of
// the position: the prompt's last token for step 0, else the token
// generated before) and the token generated.
struct Capture {
  std::vector<std::vector<float>> values;
  std::vector<int64_t> inputs;
  std::vector<int64_t> tokens;
};

absl::StatusOr<Capture> Generate(Engine& engine, const Tokenizer& tokenizer,
                                 const std::vector<std::string>& texts,
                                 const Layout& layout, uint64_t seed) {
  std::vector<Prompt> prompts;
  for (const std::string& text : texts) {
    FNPROBE_ASSIGN_OR_RETURN(Prompt ids, tokenizer.Encode(text, false));
    prompts.push_back(std::move(ids));
  }
  GenerationOptions options;
  options.max_new_tokens = kTokensPerPrompt;
  options.sampling.temperature = 1.0;
  options.sampling.seed = seed;
  Capture capture;
  const size_t points = texts.size() * kTokensPerPrompt;
  capture.values.resize(points);
  capture.inputs.resize(points);
  capture.tokens.resize(points);
  FNPROBE_RETURN_IF_ERROR(GenerateBatch(
      engine, prompts, layout, options, [&](const GeneratedToken& t) {
        const size_t row = t.prompt * kTokensPerPrompt + t.step;
        capture.values[row].assign(t.values.begin(), t.values.end());
        capture.tokens[row] = t.token;
        capture.inputs[row] =
            t.step == 0 ? prompts[t.prompt].back() : capture.tokens[row - 1];
        return absl::OkStatus();
      }));
  return capture;
}

// Cohen's d of each unit, task minus baseline, with the pooled standard
// deviation. A unit constant and equal in both is 0; constant but unequal
// is +-infinity.
std::vector<double> CohensD(const Capture& task, const Capture& baseline) {
  const size_t width = task.values[0].size();
  std::vector<double> d(width);
  for (size_t u = 0; u < width; ++u) {
    double m[2] = {0, 0}, v[2] = {0, 0};
    const Capture* groups[2] = {&task, &baseline};
    for (int g = 0; g < 2; ++g) {
      const auto& rows = groups[g]->values;
      for (const auto& row : rows) m[g] += row[u];
      m[g] /= rows.size();
      for (const auto& row : rows) v[g] += (row[u] - m[g]) * (row[u] - m[g]);
      v[g] /= rows.size() - 1;
    }
    const double pooled = std::sqrt((v[0] + v[1]) / 2);
    const double diff = m[0] - m[1];
    d[u] = pooled > 0 ? diff / pooled
                      : (diff == 0 ? 0.0 : std::copysign(INFINITY, diff));
  }
  return d;
}

// `capture` with its values rounded to float16.
Capture RoundedToHalf(Capture capture) {
  for (std::vector<float>& row : capture.values) {
    for (float& v : row) v = HalfToFloat(FloatToHalf(v));
  }
  return capture;
}

class PlantedResponseTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir("planted_response_") + "/" + GetParam();
    auto made = MakeModel(PlantedOptions(GetParam(), dir_, 11));
    ASSERT_OK(made);
    layout_plan_ = *made->plan.planted;
    ModelOptions options;
    options.device = "cpu";
    auto model = Model::Load(dir_, options);
    ASSERT_OK(model);
    model_ = *model;
    engine_ = NewTorchEngine(model_);
    auto layout = SelectLayout(model_->config(), {"all"});
    ASSERT_OK(layout);
    layout_ = *layout;
    for (const auto& cond : layout_plan_.conditions) {
      planted_ids_.insert(cond.token_ids.begin(), cond.token_ids.end());
    }
  }

  // The units of planted.json for condition `c`, as layout indices.
  std::set<int64_t> Truth(size_t c) {
    const Json planted = Json::parse(ReadFileOrDie(dir_ + "/planted.json"));
    std::set<int64_t> units;
    for (const std::string& name :
         planted["conditions"][c]["units"].get<std::vector<std::string>>()) {
      units.insert(*layout_.ParseUnit(name));
    }
    return units;
  }

  // Cohen's d, task against baseline: |d| > 3 for the `truth` units, < 0.35
  // for all others. Prints the weakest planted unit of each hook point and
  // the strongest other unit.
  void CheckEffects(const Capture& task, const Capture& baseline,
                    const std::set<int64_t>& truth, const std::string& label) {
    const std::vector<double> d = CohensD(task, baseline);
    std::map<std::string, double> weakest;  // planted hook -> min |d|
    double max_other = 0;
    int64_t worst = 0;
    for (int64_t u = 0; u < layout_.width(); ++u) {
      const std::string name = *layout_.UnitName(u);
      if (truth.count(u)) {
        EXPECT_GT(std::abs(d[u]), 3.0) << label << " " << name;
        const std::string hook = name.substr(0, name.find('['));
        auto [it, fresh] = weakest.emplace(hook, std::abs(d[u]));
        if (!fresh) it->second = std::min(it->second, std::abs(d[u]));
      } else {
        EXPECT_LT(std::abs(d[u]), 0.35) << label << " " << name;
        if (std::abs(d[u]) > max_other) max_other = std::abs(d[u]), worst = u;
      }
    }
    std::vector<std::string> parts;
    for (const auto& [hook, value] : weakest) {
      parts.push_back(absl::StrCat(hook, " ", value));
    }
    std::cout << GetParam() << " " << label
              << ": planted min |d|: " << absl::StrJoin(parts, ", ")
              << "; other units max |d| " << max_other << " ("
              << *layout_.UnitName(worst) << ")\n";
  }

  std::string dir_;
  PlantedLayout layout_plan_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Engine> engine_;
  Layout layout_;
  std::set<int64_t> planted_ids_;
};

// The largest spread (max - min) of each unit among time points with the
// same input token, over all `captures`.
std::vector<double> WithinTokenSpread(
    const std::vector<const Capture*>& captures, int64_t width) {
  std::map<int64_t, std::pair<std::vector<float>, std::vector<float>>> range;
  for (const Capture* capture : captures) {
    for (size_t i = 0; i < capture->values.size(); ++i) {
      const std::vector<float>& row = capture->values[i];
      auto [it, fresh] = range.try_emplace(capture->inputs[i], row, row);
      for (int64_t u = 0; !fresh && u < width; ++u) {
        it->second.first[u] = std::min(it->second.first[u], row[u]);
        it->second.second[u] = std::max(it->second.second[u], row[u]);
      }
    }
  }
  std::vector<double> spread(width, 0.0);
  for (const auto& [token, minmax] : range) {
    for (int64_t u = 0; u < width; ++u) {
      spread[u] =
          std::max<double>(spread[u], minmax.second[u] - minmax.first[u]);
    }
  }
  return spread;
}

// Each unit's standard deviation over all time points of `captures`.
std::vector<double> StdDev(const std::vector<const Capture*>& captures,
                           int64_t width) {
  std::vector<double> sum(width, 0.0), square(width, 0.0);
  double n = 0;
  for (const Capture* capture : captures) {
    for (const std::vector<float>& row : capture->values) {
      for (int64_t u = 0; u < width; ++u) {
        sum[u] += row[u];
        square[u] += static_cast<double>(row[u]) * row[u];
      }
      ++n;
    }
  }
  std::vector<double> sd(width);
  for (int64_t u = 0; u < width; ++u) {
    sd[u] = std::sqrt(std::max(0.0, square[u] / n - sum[u] * sum[u] / n / n));
  }
  return sd;
}

// Per condition: 40 task prompts (two of the condition's words among 7-10
// ordinary ones, ending in " .") and 40 baseline prompts (the same with
// ordinary words instead), 12 tokens each, sampled at temperature 1 with
// different seeds, as an experiment's blocks are. The condition's planted
// units separate task from baseline by |d| > 3 (q- dims and what reads them
// respond negatively), in float32 and rounded to float16 as the wire's
// default encoding carries them. Every other unit differs only by sampling
// noise: |d| < 0.35, about 5.4 standard errors of d for 480 against 480 time
// points (maximum over ~2,500 units). And every other unit is a function of
// the time point's input token alone: among time points with the same input
// token it varies by less than 1e-3 of its standard deviation (the
// LayerNorm coupling of planted_model.h), while the planted units vary with
// the context.
TEST_P(PlantedResponseTest, PlantedUnitsRespondAndNothingElseDoes) {
  const PlantSpec spec = Spec();
  const Tokenizer& tokenizer = model_->tokenizer();
  const int64_t width = layout_.width();
  std::vector<Capture> runs;
  runs.reserve(2 * spec.conditions.size());
  std::set<int64_t> any_truth;
  for (size_t c = 0; c < spec.conditions.size(); ++c) {
    SCOPED_TRACE(spec.conditions[c].name);
    std::vector<std::string> task, baseline;
    for (const PromptPair& p : MakePrompts(spec.conditions[c], 100 + c)) {
      task.push_back(p.task);
      baseline.push_back(p.baseline);
    }
    auto task_run = Generate(*engine_, tokenizer, task, layout_, 7 + 2 * c);
    ASSERT_OK(task_run);
    auto base_run = Generate(*engine_, tokenizer, baseline, layout_, 8 + 2 * c);
    ASSERT_OK(base_run);
    for (const Capture* run : {&*task_run, &*base_run}) {
      for (size_t i = 0; i < run->tokens.size(); ++i) {
        ASSERT_EQ(planted_ids_.count(run->tokens[i]), 0u)
            << "generated a planted word";
        if (i % kTokensPerPrompt == 0) {
          ASSERT_EQ(run->inputs[i], task_run->inputs[0]) << "last token";
        }
      }
    }

    const std::set<int64_t> truth = Truth(c);
    any_truth.insert(truth.begin(), truth.end());
    CheckEffects(*task_run, *base_run, truth, spec.conditions[c].name);
    // As the wire's default F16 encoding carries the values.
    CheckEffects(RoundedToHalf(*task_run), RoundedToHalf(*base_run), truth,
                 spec.conditions[c].name + " (f16)");
    runs.push_back(*std::move(task_run));
    runs.push_back(*std::move(base_run));
  }

  std::vector<const Capture*> all;
  for (const Capture& run : runs) all.push_back(&run);
  const std::vector<double> spread = WithinTokenSpread(all, width);
  const std::vector<double> sd = StdDev(all, width);
  double max_ratio = 0, min_planted_ratio = INFINITY;
  int64_t worst = 0;
  for (int64_t u = 0; u < width; ++u) {
    const double ratio = sd[u] > 0 ? spread[u] / sd[u] : 0.0;
    if (any_truth.count(u)) {
      EXPECT_GT(ratio, 0.5) << *layout_.UnitName(u);
      min_planted_ratio = std::min(min_planted_ratio, ratio);
      continue;
    }
    EXPECT_LT(ratio, 1e-3) << *layout_.UnitName(u);
    if (ratio > max_ratio) max_ratio = ratio, worst = u;
  }
  const int64_t constant = std::count(sd.begin(), sd.end(), 0.0);
  std::cout << GetParam() << ": " << width << " units, " << constant
            << " constant; within-token spread / sd: other units max "
            << max_ratio << " (" << *layout_.UnitName(worst)
            << "), planted units min " << min_planted_ratio << "\n";
}

INSTANTIATE_TEST_SUITE_P(Families, PlantedResponseTest,
                         ::testing::Values("opt", "gpt2"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace fnprobe
