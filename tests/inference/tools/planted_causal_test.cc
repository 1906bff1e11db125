// The causal part of planted models (planted_model.h, step 8), through the
// real engine, teacher-forced and scored (next_token_scores.h): in texts
// made of a condition's words the model predicts those words; zeroing the
// condition's q dims where attention writes them (blocks.0.attn_out) raises
// the condition's loss far beyond what random units of the same number do,
// and leaves the other conditions' texts alone; keeping only the network's
// attention units keeps top-1 accuracy. And the null: on a random model a
// network found in noise is no more harmful than random units.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gtest/gtest.h"
#include "server/analysis/masking_spec.h"
#include "server/analysis/masking_statistics.h"
#include "server/inference/model/batch_generator.h"
#include "server/inference/model/engine.h"
#include "server/inference/model/hook_points.h"
#include "server/inference/model/model.h"
#include "server/inference/model/next_token_scores.h"
#include "server/inference/model/torch_engine.h"
#include "server/inference/tools/model_maker.h"
#include "server/inference/tools/planted_model.h"
#include "server/inference/tools/planted_spec.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::MakeTempDir;

constexpr char kPlant[] = R"({"conditions": [
  {"name": "alpha", "words": ["zorblat", "quixel", "vornak"]},
  {"name": "beta", "words": ["plimbus", "dravex", "snorfel"]}]})";
constexpr char kHook[] = "blocks.0.attn_out";

struct Scores {
  double nll = 0;   // mean over scored positions
  double top1 = 0;  // share of scored positions
};

class PlantedCausalTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string dir = MakeTempDir("planted_causal_") + "/m";
    MakeModelOptions options;
    options.shape = "tiny";
    options.family = GetParam();
    options.seed = 3;
    options.out_dir = dir;
    auto spec = ParsePlantSpec(kPlant, "plant.json");
    ASSERT_OK(spec);
    options.planted = *spec;
    auto made = MakeModel(options);
    ASSERT_OK(made);
    layout_ = *made->plan.planted;
    ModelOptions model_options;
    model_options.device = "cpu";
    auto model = Model::Load(dir, model_options);
    ASSERT_OK(model);
    model_ = *model;
    engine_ = NewTorchEngine(model_);
  }

  // Texts of 24 words of condition c, drawn with `seed`.
  std::vector<std::vector<int64_t>> Texts(size_t c, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::vector<int64_t>> texts;
    for (int i = 0; i < 6; ++i) {
      std::vector<std::string> words;
      for (int w = 0; w < 24; ++w) {
        const auto& pool = layout_.conditions[c].words;
        words.push_back(pool[rng() % pool.size()]);
      }
      auto ids = model_->tokenizer().Encode(absl::StrJoin(words, " "), true);
      EXPECT_OK(ids);
      texts.push_back(*ids);
    }
    return texts;
  }

  Scores Score(const std::vector<std::vector<int64_t>>& texts,
               const std::vector<UnitIntervention>& interventions) {
    StepRequest request;
    auto shared =
        std::make_shared<std::vector<UnitIntervention>>(interventions);
    for (const auto& t : texts) {
      StepItem item;
      item.sequence = engine_->StartSequence();
      item.tokens = t;
      item.all_positions = true;
      item.interventions = shared;
      request.items.push_back(item);
    }
    StepResult result;
    EXPECT_OK(engine_->Step(request, &result));
    const int64_t vocab = model_->config().vocab_size;
    Scores s;
    int64_t n = 0;
    for (size_t k = 0; k < texts.size(); ++k) {
      const auto scores = ScoreNextTokens(
          absl::MakeConstSpan(
              result.logits.data() + result.logit_row_begin[k] * vocab,
              texts[k].size() * vocab),
          vocab, texts[k]);
      for (size_t p = 0; p + 1 < scores.size(); ++p, ++n) {
        s.nll -= scores[p].logprob;
        s.top1 += scores[p].top1;
      }
      engine_->EndSequence(request.items[k].sequence);
    }
    s.nll /= n;
    s.top1 /= n;
    return s;
  }

  std::vector<int64_t> QDims(size_t c) const {
    return {layout_.conditions[c].output_plus,
            layout_.conditions[c].output_minus};
  }

  PlantedLayout layout_;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Engine> engine_;
};

TEST_P(PlantedCausalTest, ZeroingAConditionsUnitsRaisesOnlyItsLoss) {
  const auto alpha = Texts(0, 1), beta = Texts(1, 2);
  const Scores a0 = Score(alpha, {}), b0 = Score(beta, {});
  const Scores a_zero =
      Score(alpha, {{kHook, QDims(0), UnitIntervention::Op::kZero}});
  const Scores b_zero =
      Score(beta, {{kHook, QDims(0), UnitIntervention::Op::kZero}});
  const Scores a_keep =
      Score(alpha, {{kHook, QDims(0), UnitIntervention::Op::kKeepOnly}});
  // Random pairs of attn_out units, the network's own excluded.
  std::mt19937 rng(7);
  std::vector<double> controls;
  const int64_t width = model_->config().hidden_size;
  for (int k = 0; k < 10; ++k) {
    std::vector<int64_t> units;
    while (units.size() < 2) {
      const int64_t u = static_cast<int64_t>(rng() % width);
      if (u == QDims(0)[0] || u == QDims(0)[1] ||
          std::count(units.begin(), units.end(), u)) {
        continue;
      }
      units.push_back(u);
    }
    controls.push_back(
        Score(alpha, {{kHook, units, UnitIntervention::Op::kZero}}).nll -
        a0.nll);
  }
  const double max_control = std::abs(*std::max_element(
      controls.begin(), controls.end(),
      [](double x, double y) { return std::abs(x) < std::abs(y); }));
  std::cout << GetParam() << ": alpha NLL " << a0.nll << " -> " << a_zero.nll
            << " zeroed (controls' largest change " << max_control
            << "), top-1 " << a0.top1 << " -> " << a_keep.top1
            << " keep-only; beta NLL " << b0.nll << " -> " << b_zero.nll
            << "\n";
  // Half the targets are the spaces between words, which the causal part
  // makes harder to predict; the words after them it makes predictable.
  EXPECT_GT(a_zero.nll - a0.nll, 3.0);
  EXPECT_GT(a_zero.nll - a0.nll, 20 * max_control);
  EXPECT_LT(std::abs(b_zero.nll - b0.nll), 0.05);
  EXPECT_NEAR(a_keep.top1, a0.top1, 0.1 * a0.top1);
}

// On a random model (nothing planted, nothing causal) a network found by a
// GLM-style test - the 8 units whose prompt means differ most between task
// prompts (with made-up words) and baseline prompts, teacher-forced - is
// noise; masking it must look like masking random units. For 20 control
// seeds (20 controls each, so that p can reach 0.05), the network's effect
// on the NLL of texts of those words falls inside the controls'
// distribution (p > 0.05) in at least 18. Engine level: the whole path
// (GLM experiment, masking experiment through both servers) 20 times over
// is too slow for the suite; masking_e2e_test covers that path once.
TEST(RandomModelMaskingTest, GlmNetworkOfNoiseIsInsideItsControls) {
  const std::string dir = MakeTempDir("random_masking_") + "/m";
  MakeModelOptions options;
  options.shape = "tiny";
  options.family = "opt";
  options.seed = 5;
  options.out_dir = dir;
  ASSERT_OK(MakeModel(options));
  ModelOptions model_options;
  model_options.device = "cpu";
  auto model = Model::Load(dir, model_options);
  ASSERT_OK(model);
  std::unique_ptr<Engine> engine = NewTorchEngine(*model);
  const Tokenizer& tokenizer = (*model)->tokenizer();
  const Layout layout = *SelectLayout((*model)->config(), {"standard"});
  const std::vector<std::string> ordinary = {
      "river", "stone", "garden", "window", "candle", "market", "forest"};
  const std::vector<std::string> planted = {"zorblat", "quixel", "vornak"};
  std::mt19937 rng(3);
  auto prompt = [&](bool task) {
    std::vector<std::string> w = {"the"};
    for (int i = 0; i < 8; ++i) {
      w.push_back(task && i % 3 == 1 ? planted[rng() % 3]
                                     : ordinary[rng() % ordinary.size()]);
    }
    return *tokenizer.Encode(absl::StrJoin(w, " "), true);
  };
  // Per prompt, each unit's mean over positions; Welch t per unit.
  std::vector<std::vector<double>> means[2];
  for (int g = 0; g < 2; ++g) {
    for (int i = 0; i < 12; ++i) {
      const std::vector<int64_t> ids = prompt(g == 0);
      ASSERT_OK(
          ForwardBatch(*engine, {ids}, layout, [&](const PromptActivations& a) {
            std::vector<double> m(layout.width(), 0);
            for (int64_t t = 0; t < a.length; ++t) {
              for (int64_t u = 0; u < layout.width(); ++u) {
                m[u] += a.values[t * layout.width() + u] /
                        static_cast<double>(a.length);
              }
            }
            means[g].push_back(std::move(m));
            return absl::OkStatus();
          }));
    }
  }
  std::vector<std::pair<double, int64_t>> t;
  for (int64_t u = 0; u < layout.width(); ++u) {
    double m[2] = {0, 0}, v[2] = {0, 0};
    for (int g = 0; g < 2; ++g) {
      for (const auto& row : means[g]) m[g] += row[u] / means[g].size();
      for (const auto& row : means[g]) {
        v[g] += (row[u] - m[g]) * (row[u] - m[g]) / (means[g].size() - 1);
      }
    }
    const double se = std::sqrt(v[0] / 12 + v[1] / 12);
    if (se > 0) t.push_back({std::abs(m[0] - m[1]) / se, u});
  }
  std::sort(t.rbegin(), t.rend());
  UnitSelection network;
  std::map<std::string, int64_t> widths;
  for (const HookSpec& h : layout.hooks()) widths[h.name] = h.width;
  for (int k = 0; k < 8; ++k) {
    const std::string name = *layout.UnitName(t[k].second);
    const UnitRef ref = *ParseUnitRef(name);
    network[ref.hook].push_back(ref.index);
  }
  for (auto& [hook, units] : network) std::sort(units.begin(), units.end());

  // Evaluation texts of the made-up words and ordinary ones.
  std::vector<std::vector<int64_t>> texts;
  for (int i = 0; i < 6; ++i) {
    std::vector<std::string> w;
    for (int k = 0; k < 24; ++k) {
      w.push_back(k % 2 ? planted[rng() % 3]
                        : ordinary[rng() % ordinary.size()]);
    }
    texts.push_back(*tokenizer.Encode(absl::StrJoin(w, " "), true));
  }
  const int64_t vocab = (*model)->config().vocab_size;
  auto score = [&](const UnitSelection& units) {
    std::vector<UnitIntervention> list;
    for (const auto& [hook, u] : units) {
      list.push_back({hook, u, UnitIntervention::Op::kZero});
    }
    auto shared = std::make_shared<std::vector<UnitIntervention>>(list);
    StepRequest request;
    for (const auto& ids : texts) {
      StepItem item;
      item.sequence = engine->StartSequence();
      item.tokens = ids;
      item.all_positions = true;
      item.interventions = shared;
      request.items.push_back(item);
    }
    StepResult result;
    EXPECT_OK(engine->Step(request, &result));
    ScoreTotals totals;
    for (size_t k = 0; k < texts.size(); ++k) {
      const auto s = ScoreNextTokens(
          absl::MakeConstSpan(
              result.logits.data() + result.logit_row_begin[k] * vocab,
              texts[k].size() * vocab),
          vocab, texts[k]);
      for (size_t p = 0; p + 1 < s.size(); ++p) {
        ++totals.tokens;
        totals.nll_sum -= s[p].logprob;
        totals.top1 += s[p].top1;
      }
      engine->EndSequence(request.items[k].sequence);
    }
    return totals;
  };
  const ScoreTotals unmasked = score({});
  const ScoreTotals masked = score(network);
  int inside = 0;
  std::vector<double> ps;
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    std::vector<ScoreTotals> controls;
    for (const UnitSelection& c : DrawControls(network, widths, 20, seed, 0)) {
      controls.push_back(score(c));
    }
    const MaskingResult r = SummarizeMasking("nll", unmasked, masked, controls);
    ps.push_back(r.p);
    inside += r.p > 0.05;
  }
  std::cout << "random model: GLM network of noise (8 units), NLL "
            << unmasked.Metric("nll") << " -> " << masked.Metric("nll")
            << "; inside its 20 controls (p > 0.05) for " << inside
            << " of 20 seeds; p: " << absl::StrJoin(ps, " ") << "\n";
  EXPECT_GE(inside, 18);
}

INSTANTIATE_TEST_SUITE_P(Families, PlantedCausalTest,
                         ::testing::Values("opt", "gpt2"));

}  // namespace
}  // namespace fnprobe
