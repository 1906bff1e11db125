// AnalyzeExperiment end to end on simulated runs (planted effects + noise,
// through BuildRunDesign and OLS fits): the planted units are recovered per
// condition and held-out identification is perfect. On a small handmade
// example every network, overlap and held-out score is checked exactly.
// Edge cases: empty networks, zero-variance units, permutation cut-offs,
// and refused inputs.
#include "server/analysis/experiment_analysis.h"

#include <algorithm>
#include <armadillo>
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/held_out_classifier.h"
#include "server/analysis/level_two.h"
#include "server/analysis/network_overlap.h"
#include "server/analysis/network_threshold.h"
#include "server/analysis/ols_fit.h"
#include "server/analysis/p_values.h"
#include "server/analysis/prompt_accumulator.h"
#include "server/analysis/run_design.h"
#include "server/analysis/run_planner.h"
#include "server/analysis/thresholds.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::analysis {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

void AddPrompts(v1::PromptPool* pool, const std::string& stem, int n) {
  for (int i = 0; i < n; ++i) pool->add_prompts(stem + std::to_string(i));
}

// Conditions `names` against "rest"; baseline/task/baseline blocks of 4
// prompts x 10 tokens (120 frames), boxcar, linear drift, 3 repeats. (A
// cosine drift would need a cut-off above the 80-frame block cycle, or it
// absorbs the task.) TOKEN inference unless asked otherwise: most tests here
// are about the mechanics shared by both (networks, overlaps, held-out).
v1::ExperimentSpec MakeSpec(
    const std::vector<std::string>& names, v1::ThresholdSpec::Method method,
    bool classify,
    v1::InferenceLevel::Kind inference = v1::InferenceLevel::TOKEN) {
  v1::ExperimentSpec spec;
  spec.set_name("sim");
  spec.set_model("m");
  spec.mutable_generation()->set_tokens_per_prompt(10);
  spec.mutable_baseline()->set_name("rest");
  AddPrompts(spec.mutable_baseline(), "base ", 24);
  for (const std::string& n : names) {
    v1::PromptPool* c = spec.add_conditions();
    c->set_name(n);
    AddPrompts(c, n + " ", 12);
  }
  v1::BlockDesign* d = spec.mutable_design();
  for (const char* b : {"baseline", "task", "baseline"}) d->add_pattern(b);
  d->set_prompts_per_block(4);
  d->set_repeats(3);
  v1::AnalysisSpec* a = spec.mutable_analysis();
  a->set_hrf(v1::HrfModel::NONE);
  a->set_drift(v1::DriftModel::POLYNOMIAL);
  a->set_drift_order(1);
  a->mutable_threshold()->set_method(method);
  a->set_classify(classify);
  a->set_inference(inference);
  EXPECT_OK(ValidateSpec(spec));
  return WithDefaults(spec);
}

// ---------------------------------------------------------------------------
// Simulation: 400 units; A drives units 0..29, B 20..49 (10 shared with A),
// C 100..129 up and 130..139 down; effect 1 over unit noise, on an offset
// with a linear drift (which the design removes).
constexpr arma::uword kUnits = 400;

arma::uvec Planted(const std::string& condition) {
  if (condition == "A") return arma::regspace<arma::uvec>(0, 29);
  if (condition == "B") return arma::regspace<arma::uvec>(20, 49);
  return arma::regspace<arma::uvec>(100, 139);
}

arma::vec Effects(const std::string& condition) {
  arma::vec e(kUnits, arma::fill::zeros);
  e.elem(Planted(condition)).fill(1.0);
  if (condition == "C") e.subvec(130, 139).fill(-1.0);
  return e;
}

// Each prompt's effect on every unit (SD `prompt_sd`), the same wherever
// the prompt is presented: what the random draw of prompts repeats.
arma::rowvec PromptEffect(const std::string& prompt, double prompt_sd,
                          uint64_t seed) {
  arma::arma_rng::set_seed(std::hash<std::string>()(prompt) ^ seed);
  return prompt_sd * arma::randn<arma::rowvec>(kUnits);
}

// Runs of `spec` as the worker would store them: the token GLM's map
// (TOKEN) or the level-two map over the prompts' means (PROMPT), and the
// prompts' values. With prompt_sd > 0 every prompt has an effect of its own
// and the run no linear trend (a language model's prompts are independent
// contexts: nothing drifts along a run); with 0, a trend of 0..2 that the
// token GLM's drift removes. `planted` false simulates the null: task
// prompts differ from baseline prompts only through their own effects.
std::vector<RunInput> SimulateRuns(const v1::ExperimentSpec& spec,
                                   double prompt_sd = 0.0, bool planted = true,
                                   uint64_t seed = 2023) {
  std::vector<RunInput> runs;
  const int tpp = spec.generation().tokens_per_prompt();
  int index = 0;
  arma::arma_rng::set_seed(seed);
  for (const RunPlan& plan : PlanRuns(spec)) {
    auto design = BuildRunDesign(spec, plan);
    EXPECT_OK(design);
    const arma::mat& x = design->design.x;
    arma::mat prompt_part(x.n_rows, kUnits, arma::fill::zeros);
    arma::vec trend = arma::linspace(0.0, 2.0, x.n_rows);
    if (prompt_sd > 0) {
      trend.zeros();
      for (size_t p = 0; p < plan.prompts.size(); ++p) {
        prompt_part.rows(p * tpp, (p + 1) * tpp - 1).each_row() =
            PromptEffect(plan.prompts[p], prompt_sd, seed);
      }
      arma::arma_rng::set_seed(seed + 7919 * ++index);
    }
    arma::mat y = arma::randn(x.n_rows, kUnits) + 3.0 + prompt_part;
    y.each_col() += trend;
    if (planted) y += x.col(0) * Effects(plan.condition_name).t();
    RunInput run;
    run.run_id = 100 + plan.index;
    run.index = plan.index;
    run.condition = plan.condition_name;
    run.repeat = plan.repeat;
    arma::mat means(plan.prompts.size(), kUnits);
    for (size_t p = 0; p < plan.prompts.size(); ++p) {
      means.row(p) = arma::mean(y.rows(p * tpp, (p + 1) * tpp - 1), 0);
    }
    auto prompts = MakeRunPrompts(plan, std::move(means));
    EXPECT_OK(prompts);
    run.prompts = *std::move(prompts);
    if (spec.analysis().inference() == v1::InferenceLevel::PROMPT) {
      auto map = PromptRunMap(spec, plan, run.prompts);
      EXPECT_OK(map);
      run.map = *map;
    } else {
      auto fit = FitOls(x, y);
      EXPECT_OK(fit);
      auto map = MapFromOls(*fit, design->contrast, design->contrast_name);
      EXPECT_OK(map);
      run.map = *map;
    }
    runs.push_back(std::move(run));
  }
  return runs;
}

double Precision(const Network& n, const arma::uvec& truth) {
  if (n.units.empty()) return 0.0;
  int64_t hits = 0;
  for (int64_t u : n.units) hits += arma::any(truth == arma::uword(u));
  return static_cast<double>(hits) / n.units.size();
}

double Recall(const Network& n, const arma::uvec& truth) {
  int64_t hits = 0;
  for (arma::uword u : truth) {
    hits += std::count(n.units.begin(), n.units.end(), int64_t(u));
  }
  return static_cast<double>(hits) / truth.n_elem;
}

TEST(AnalyzeExperimentTest, RecoversPlantedNetworksAndIdentifiesHeldOutRuns) {
  const v1::ExperimentSpec spec =
      MakeSpec({"A", "B", "C"}, v1::ThresholdSpec::FDR, true);
  const std::vector<RunInput> runs = SimulateRuns(spec);
  ASSERT_EQ(runs.size(), 9u);
  auto result = AnalyzeExperiment(spec, runs);
  ASSERT_THAT(result, IsOk());
  // 3 condition maps + 9 leave-one-out maps; 3 + 9 + 9 networks.
  ASSERT_EQ(result->condition_maps.size(), 12u);
  ASSERT_EQ(result->networks.size(), 21u);
  for (int c = 0; c < 3; ++c) {
    const Network& n = result->networks[c];
    const std::string name = spec.conditions(c).name();
    EXPECT_EQ(n.kind, NetworkKind::kCondition);
    EXPECT_EQ(n.condition, name);
    EXPECT_EQ(n.contrast, name + " > rest");
    EXPECT_EQ(n.threshold_method, "fdr");
    EXPECT_EQ(Recall(n, Planted(name)), 1.0) << name;
    EXPECT_GE(Precision(n, Planted(name)), 0.9) << name;
  }
  for (int r = 0; r < 9; ++r) {
    const Network& n = result->networks[3 + r];
    EXPECT_EQ(n.kind, NetworkKind::kRun);
    EXPECT_EQ(n.run_id, runs[r].run_id);
    EXPECT_EQ(n.map_index, r);
    EXPECT_GE(Recall(n, Planted(n.condition)), 0.9) << r;
    EXPECT_GE(Precision(n, Planted(n.condition)), 0.85) << r;
  }
  // C's network holds the negative units with negative t.
  const Network& c_net = result->networks[2];
  for (size_t i = 0; i < c_net.units.size(); ++i) {
    if (c_net.units[i] >= 130 && c_net.units[i] < 140) {
      EXPECT_LT(c_net.t[i], 0.0);
    }
  }
  // A and B share 10 of 30 planted units: Dice near 1/3, C apart.
  ASSERT_GE(result->overlaps.size(), 3u);
  EXPECT_NEAR(result->overlaps[0].dice, 1.0 / 3, 0.05);
  EXPECT_LT(result->overlaps[1].dice, 0.1);
  ASSERT_EQ(result->held_out.size(), 9u);
  for (size_t r = 0; r < runs.size(); ++r) {
    const HeldOutResult& h = result->held_out[r];
    EXPECT_EQ(h.run_id, runs[r].run_id);
    EXPECT_EQ(h.true_condition, runs[r].condition);
    EXPECT_EQ(h.predicted, runs[r].condition) << r;
    EXPECT_EQ(h.predicted_by_correlation, runs[r].condition) << r;
  }
}

// Leave-one-out maps are fixed effects over the other runs, and held-out
// scoring of a run of repeat k uses, for every condition, the network built
// without that condition's repeat-k run.
TEST(AnalyzeExperimentTest, LeaveOneOutMapsExcludeTheirRun) {
  const v1::ExperimentSpec spec =
      MakeSpec({"A", "B"}, v1::ThresholdSpec::FDR, true);
  const std::vector<RunInput> runs = SimulateRuns(spec);
  auto result = AnalyzeExperiment(spec, runs);
  ASSERT_THAT(result, IsOk());
  const int first_loo = 2 + static_cast<int>(runs.size());
  for (size_t i = first_loo; i < result->networks.size(); ++i) {
    const Network& n = result->networks[i];
    ASSERT_EQ(n.kind, NetworkKind::kLeaveOneOut);
    std::vector<const StatMap*> others;
    for (const RunInput& r : runs) {
      if (r.condition == n.condition && r.run_id != n.excluded_run_id) {
        others.push_back(&r.map);
      }
    }
    ASSERT_EQ(others.size(), 2u);
    auto expected = FixedEffects(others);
    ASSERT_THAT(expected, IsOk());
    EXPECT_TRUE(arma::approx_equal(result->condition_maps[n.map_index].t,
                                   expected->t, "absdiff", 0.0));
  }
  for (size_t r = 0; r < runs.size(); ++r) {
    for (const HeldOutScore& s : result->held_out[r].scores) {
      const Network& n = result->networks[s.network];
      EXPECT_EQ(n.kind, NetworkKind::kLeaveOneOut);
      EXPECT_EQ(n.condition, s.condition);
      if (s.condition == runs[r].condition) {
        EXPECT_EQ(n.excluded_run_id, runs[r].run_id);
      }
      const RunInput* excluded = nullptr;
      for (const RunInput& other : runs) {
        if (other.run_id == n.excluded_run_id) excluded = &other;
      }
      ASSERT_NE(excluded, nullptr);
      EXPECT_EQ(excluded->repeat, runs[r].repeat);
    }
  }
}

// PROMPT inference: the same planted networks from the prompts' means.
TEST(AnalyzeExperimentTest, PromptInferenceRecoversPlantedNetworks) {
  const v1::ExperimentSpec spec =
      MakeSpec({"A", "B", "C"}, v1::ThresholdSpec::FDR, true,
               v1::InferenceLevel::PROMPT);
  const std::vector<RunInput> runs = SimulateRuns(spec, 0.3);
  auto result = AnalyzeExperiment(spec, runs);
  ASSERT_THAT(result, IsOk());
  ASSERT_EQ(result->networks.size(), 21u);
  for (int c = 0; c < 3; ++c) {
    const Network& n = result->networks[c];
    const std::string name = spec.conditions(c).name();
    EXPECT_EQ(n.inference, "prompt");
    EXPECT_EQ(n.contrast, name + " > rest");
    // 12 task and 24 baseline prompts in 3 runs: df = 36 - 3 - 1.
    EXPECT_DOUBLE_EQ(n.dof, 32.0);
    EXPECT_GE(Recall(n, Planted(name)), 0.95) << name;

    EXPECT_GE(Precision(n, Planted(name)), 0.9) << name;
  }
  for (size_t r = 0; r < runs.size(); ++r) {
    EXPECT_EQ(result->held_out[r].predicted, runs[r].condition) << r;
  }
}

// The condition map is the level-two test of the pooled prompts: the
// condition's leave-one-out map equals LevelTwoMap over the other runs.
TEST(AnalyzeExperimentTest, PromptInferenceMapsAreLevelTwoOverPooledPrompts) {
  const v1::ExperimentSpec spec = MakeSpec({"A", "B"}, v1::ThresholdSpec::FDR,
                                           true, v1::InferenceLevel::PROMPT);
  const std::vector<RunInput> runs = SimulateRuns(spec, 0.3);
  auto result = AnalyzeExperiment(spec, runs);
  ASSERT_THAT(result, IsOk());
  for (const Network& n : result->networks) {
    if (n.kind != NetworkKind::kLeaveOneOut) continue;
    std::vector<const RunPrompts*> others;
    for (const RunInput& r : runs) {
      if (r.condition == n.condition && r.run_id != n.excluded_run_id) {
        others.push_back(&r.prompts);
      }
    }
    auto sample = PoolRuns(others);
    ASSERT_THAT(sample, IsOk());
    EXPECT_EQ(sample->values.n_rows, 24u);  // 2 runs x 12 distinct prompts
    auto expected = LevelTwoMap(*sample, LevelTwoModel::kRunOls, "x");
    ASSERT_THAT(expected, IsOk());
    EXPECT_TRUE(arma::approx_equal(result->condition_maps[n.map_index].t,
                                   expected->t, "absdiff", 0.0));
  }
  std::vector<RunInput> missing = runs;
  missing[1].prompts = RunPrompts();
  EXPECT_THAT(AnalyzeExperiment(spec, missing),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("prompt-level inference needs")));
}

// The null of issue #12 in miniature: every prompt has an effect of its own
// (shared by its tokens), task and baseline prompts differ in nothing else.
// Tokens as observations call units in nearly every experiment; prompts as
// observations at the nominal rate.
TEST(AnalyzeExperimentTest, PromptInferenceSurvivesTheNullThatTokensFail) {
  int token_nonempty = 0, prompt_nonempty = 0, networks = 0;
  for (uint64_t seed = 0; seed < 10; ++seed) {
    for (auto inference :
         {v1::InferenceLevel::TOKEN, v1::InferenceLevel::PROMPT}) {
      v1::ExperimentSpec spec =
          MakeSpec({"A", "B"}, v1::ThresholdSpec::FDR, false, inference);
      spec.mutable_generation()->set_seed(seed);  // another draw of prompts
      auto result = AnalyzeExperiment(
          spec, SimulateRuns(spec, 0.5, /*planted=*/false, 1000 * seed));
      ASSERT_THAT(result, IsOk());
      for (int c = 0; c < 2; ++c) {
        const bool nonempty = !result->networks[c].units.empty();
        if (inference == v1::InferenceLevel::TOKEN) {
          token_nonempty += nonempty;
        } else {
          prompt_nonempty += nonempty;
          ++networks;
        }
      }
    }
  }
  EXPECT_EQ(networks, 20);
  EXPECT_GE(token_nonempty, 18);  // the bug this inference fixes
  EXPECT_LE(prompt_nonempty, 3);  // FDR 0.05: binomial 99% bound of 20
}

// PERMUTATION under PROMPT inference: every map gets its own max-|t| cut-off
// from exchanging prompt labels within runs, and its p the per-unit
// permutation p-values.
TEST(AnalyzeExperimentTest, PromptPermutationThresholdsEveryMap) {
  v1::ExperimentSpec spec = MakeSpec({"A", "B"}, v1::ThresholdSpec::PERMUTATION,
                                     false, v1::InferenceLevel::PROMPT);
  spec.mutable_analysis()->mutable_threshold()->set_permutations(200);
  const std::vector<RunInput> runs = SimulateRuns(spec, 0.3);
  auto result = AnalyzeExperiment(spec, runs);
  ASSERT_THAT(result, IsOk());
  for (const Network& n : result->networks) {
    EXPECT_EQ(n.threshold_method, "permutation");
    if (n.kind == NetworkKind::kRun) continue;  // 4 task prompts: weak
    // Family-wise error control is stricter than FDR: networks of all three
    // runs find nearly all planted units, those of two (leave-one-out) most.
    EXPECT_GE(Recall(n, Planted(n.condition)),
              n.kind == NetworkKind::kCondition ? 0.9 : 0.5)
        << n.condition;
    EXPECT_GE(Precision(n, Planted(n.condition)), 0.95) << n.condition;
  }
  // 201 labellings: a permutation p-value is a multiple of 1/201.
  const arma::vec& p = result->condition_maps[0].p;
  EXPECT_NEAR(p.min(), 1.0 / 201, 1e-12);
  EXPECT_NEAR(arma::max(arma::abs(p * 201 - arma::round(p * 201))), 0, 1e-9);
}

// ---------------------------------------------------------------------------
// Handmade: 10 units; t is 50 on a run's active units and 0 elsewhere
// (variance 1). Runs a1, a2 of A and b1, b2 of B.
RunInput HandRun(int64_t id, const std::string& condition,
                 const std::vector<arma::uword>& active, double t = 50.0) {
  RunInput run;
  run.run_id = id;
  run.condition = condition;
  run.repeat = static_cast<int>(id % 10) - 1;  // 11, 21: repeat 0
  StatMap& m = run.map;
  m.contrast = condition + " > rest";
  m.dof = 100;
  m.effect.zeros(10);
  m.effect.elem(arma::uvec(active)).fill(t);
  m.variance.ones(10);
  m.t = m.effect;
  m.p = TPValues(m.t, m.dof, Tail::kTwoSided);
  return run;
}

std::vector<RunInput> HandRuns() {
  return {HandRun(11, "A", {0, 1, 2, 3}), HandRun(12, "A", {0, 1, 2, 4}),
          HandRun(21, "B", {2, 3, 5}), HandRun(22, "B", {2, 3, 5, 6})};
}

// Bonferroni at 0.05 over 10 units keeps t = 50 (or 35 after fixed
// effects) and drops t = 0. A = {0..4}, B = {2, 3, 5, 6}.
TEST(AnalyzeExperimentTest, HandmadeNetworksAndOverlapsAreExact) {
  const v1::ExperimentSpec spec =
      MakeSpec({"A", "B"}, v1::ThresholdSpec::BONFERRONI, false);
  auto result = AnalyzeExperiment(spec, HandRuns());
  ASSERT_THAT(result, IsOk());
  ASSERT_EQ(result->networks.size(), 2u + 4 + 4);
  EXPECT_THAT(result->networks[0].units, ElementsAre(0, 1, 2, 3, 4));
  EXPECT_THAT(result->networks[1].units, ElementsAre(2, 3, 5, 6));
  EXPECT_THAT(result->networks[2].units, ElementsAre(0, 1, 2, 3));
  EXPECT_THAT(result->networks[5].units, ElementsAre(2, 3, 5, 6));
  // A without run 11 is run 12 alone.
  const Network& loo = result->networks[6];
  EXPECT_EQ(loo.kind, NetworkKind::kLeaveOneOut);
  EXPECT_EQ(loo.condition, "A");
  EXPECT_EQ(loo.excluded_run_id, 11);
  EXPECT_THAT(loo.units, ElementsAre(0, 1, 2, 4));
  EXPECT_EQ(result->networks[9].excluded_run_id, 22);
  EXPECT_THAT(result->networks[9].units, ElementsAre(2, 3, 5));

  // Units 0..2 are active in both A runs (t = 50 sqrt 2), 3 and 4 in one
  // (fixed effects 25 over sqrt(1/2): t = 25 sqrt 2).
  const Network& a = result->networks[0];
  EXPECT_EQ(a.threshold_method, "bonferroni");
  EXPECT_EQ(a.dof, 200.0);
  EXPECT_NEAR(a.t[0], 50 * std::sqrt(2.0), 1e-9);
  EXPECT_NEAR(a.beta[3], 25.0, 1e-12);
  EXPECT_NEAR(a.threshold, 25 * std::sqrt(2.0), 1e-9);
  EXPECT_EQ(a.alpha, 0.05);
  const arma::vec q = FdrBhQValues(result->condition_maps[0].p);
  for (size_t i = 0; i < a.units.size(); ++i) {
    EXPECT_EQ(a.q[i], q[a.units[i]]);
    EXPECT_EQ(a.p[i], result->condition_maps[0].p[a.units[i]]);
  }

  // (A, B): |{2,3}| = 2: Dice 4/9, Jaccard 2/7. Then the run pairs:
  // a1 a2 {0,1,2}: 6/8, 3/5   a1 b1 {2,3}: 4/7, 2/5   a1 b2 {2,3}: 4/8, 2/6
  // a2 b1 {2}: 2/7, 1/6       a2 b2 {2}: 2/8, 1/7     b1 b2 {2,3,5}: 6/7, 3/4
  struct Want {
    int a, b, common;
    double dice, jaccard;
  };
  const std::vector<Want> want = {
      {0, 1, 2, 4. / 9, 2. / 7}, {2, 3, 3, 6. / 8, 3. / 5},
      {2, 4, 2, 4. / 7, 2. / 5}, {2, 5, 2, 4. / 8, 2. / 6},
      {3, 4, 1, 2. / 7, 1. / 6}, {3, 5, 1, 2. / 8, 1. / 7},
      {4, 5, 3, 6. / 7, 3. / 4}};
  ASSERT_EQ(result->overlaps.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const OverlapEntry& o = result->overlaps[i];
    EXPECT_EQ(o.a, want[i].a) << i;
    EXPECT_EQ(o.b, want[i].b) << i;
    EXPECT_EQ(o.intersection, want[i].common) << i;
    EXPECT_DOUBLE_EQ(o.dice, want[i].dice) << i;
    EXPECT_DOUBLE_EQ(o.jaccard, want[i].jaccard) << i;
  }
  EXPECT_THAT(result->held_out, IsEmpty());  // classify is off
}

// Run a1 (repeat 0; t 50 on 0..3) against A without a1 ({0,1,2,4}: mean t
// (50+50+50+0)/4) and B without b1 ({2,3,5,6}: (50+50+0+0)/4).
TEST(AnalyzeExperimentTest, HandmadeHeldOutScoresAreExact) {
  const v1::ExperimentSpec spec =
      MakeSpec({"A", "B"}, v1::ThresholdSpec::BONFERRONI, true);
  const std::vector<RunInput> runs = HandRuns();
  auto result = AnalyzeExperiment(spec, runs);
  ASSERT_THAT(result, IsOk());
  ASSERT_EQ(result->held_out.size(), 4u);
  const HeldOutResult& a1 = result->held_out[0];
  ASSERT_EQ(a1.scores.size(), 2u);
  EXPECT_EQ(a1.scores[0].condition, "A");
  EXPECT_EQ(a1.scores[0].network, 6);
  EXPECT_DOUBLE_EQ(a1.scores[0].mean_t, 37.5);
  EXPECT_EQ(a1.scores[1].network, 8);
  EXPECT_DOUBLE_EQ(a1.scores[1].mean_t, 25.0);
  // Correlation with the leave-one-out map, which is run a2's t.
  EXPECT_NEAR(a1.scores[0].correlation,
              PearsonCorrelation(runs[0].map.t, runs[1].map.t), 1e-12);
  EXPECT_EQ(a1.predicted, "A");
  int correct = 0;
  for (const HeldOutResult& h : result->held_out) {
    correct += h.predicted == h.true_condition;
  }
  EXPECT_EQ(correct, 4);
}

// Nothing passes: every network is empty, overlaps are 0 (not NaN), mean t
// and correlation (constant maps) are 0 and ties go to the first condition.
TEST(AnalyzeExperimentTest, EmptyNetworksGiveZerosAndFirstCondition) {
  const v1::ExperimentSpec spec =
      MakeSpec({"A", "B"}, v1::ThresholdSpec::FDR, true);
  std::vector<RunInput> runs = {HandRun(1, "A", {}), HandRun(2, "A", {}),
                                HandRun(3, "B", {}), HandRun(4, "B", {})};
  auto result = AnalyzeExperiment(spec, runs);
  ASSERT_THAT(result, IsOk());
  for (const Network& n : result->networks) {
    EXPECT_THAT(n.units, IsEmpty());
    EXPECT_EQ(n.threshold, 0.0);
  }
  for (const OverlapEntry& o : result->overlaps) {
    EXPECT_EQ(o.intersection, 0);
    EXPECT_EQ(o.dice, 0.0);
    EXPECT_EQ(o.jaccard, 0.0);
  }
  for (const HeldOutResult& h : result->held_out) {
    for (const HeldOutScore& s : h.scores) {
      EXPECT_EQ(s.mean_t, 0.0);
      EXPECT_EQ(s.correlation, 0.0);
    }
    EXPECT_EQ(h.predicted, "A");
    EXPECT_EQ(h.predicted_by_correlation, "A");
  }
}

// Unit 7 has zero variance in every run: t 0, p 1, variance 0 in the
// condition map, in no network. Unit 8 has zero variance in run 11 only:
// the condition map is run 12's value there.
TEST(AnalyzeExperimentTest, ZeroVarianceUnitsAreLeftOut) {
  const v1::ExperimentSpec spec =
      MakeSpec({"A", "B"}, v1::ThresholdSpec::FDR, false);
  std::vector<RunInput> runs = HandRuns();
  for (RunInput& r : runs) {
    r.map.effect[7] = 80.0;
    r.map.variance[7] = 0.0;
    r.map.t[7] = 0.0;
    r.map.p[7] = 1.0;
  }
  runs[0].map.effect[8] = 9.0;
  runs[0].map.variance[8] = 0.0;
  runs[0].map.t[8] = 0.0;
  runs[0].map.p[8] = 1.0;
  runs[1].map.effect[8] = 4.0;
  runs[1].map.variance[8] = 4.0;
  auto result = AnalyzeExperiment(spec, runs);
  ASSERT_THAT(result, IsOk());
  const StatMap& a = result->condition_maps[0];
  EXPECT_EQ(a.t[7], 0.0);
  EXPECT_EQ(a.p[7], 1.0);
  EXPECT_EQ(a.variance[7], 0.0);
  EXPECT_DOUBLE_EQ(a.effect[8], 4.0);
  EXPECT_DOUBLE_EQ(a.variance[8], 4.0);
  for (const Network& n : result->networks) {
    EXPECT_EQ(std::count(n.units.begin(), n.units.end(), 7), 0);
  }
}

// Runs use their own block-permutation cut-off on |t| (so negative units
// count); combined maps, which have no permutation distribution, use FDR.
TEST(AnalyzeExperimentTest, PermutationCutsRunsAndFallsBackToFdrCombined) {
  const v1::ExperimentSpec spec =
      MakeSpec({"A", "B"}, v1::ThresholdSpec::PERMUTATION, false);
  std::vector<RunInput> runs = HandRuns();
  for (RunInput& r : runs) r.permutation_threshold = 4.0;
  runs[0].map.t[9] = -4.5;               // passes |t| > 4
  runs[0].map.t[8] = 3.9;                // does not
  runs[1].permutation_threshold = 60.0;  // nothing passes
  auto result = AnalyzeExperiment(spec, runs);
  ASSERT_THAT(result, IsOk());
  const Network& a1 = result->networks[2];
  EXPECT_EQ(a1.threshold_method, "permutation");
  EXPECT_THAT(a1.units, ElementsAre(0, 1, 2, 3, 9));
  EXPECT_DOUBLE_EQ(a1.threshold, 4.5);
  EXPECT_THAT(result->networks[3].units, IsEmpty());
  EXPECT_EQ(result->networks[3].threshold, 0.0);
  EXPECT_EQ(result->networks[0].threshold_method, "fdr");
  EXPECT_THAT(result->networks[0].units, ElementsAre(0, 1, 2, 3, 4));
  EXPECT_EQ(result->networks[6].threshold_method, "fdr");

  runs[2].permutation_threshold = 0.0;
  EXPECT_THAT(AnalyzeExperiment(spec, runs),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("run 21 has no permutation threshold")));
}

// One run of B: no leave-one-out for B, so no held-out identification.
TEST(AnalyzeExperimentTest, SingleRunConditionHasNoLeaveOneOutOrHeldOut) {
  const v1::ExperimentSpec spec =
      MakeSpec({"A", "B"}, v1::ThresholdSpec::FDR, true);
  std::vector<RunInput> runs = HandRuns();
  runs.pop_back();
  auto result = AnalyzeExperiment(spec, runs);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->condition_maps.size(), 2u + 2);  // A's two LOO maps
  EXPECT_EQ(result->networks.size(), 2u + 3 + 2);
  EXPECT_THAT(result->held_out, IsEmpty());
}

TEST(AnalyzeExperimentTest, RefusesInconsistentInputs) {
  const v1::ExperimentSpec spec =
      MakeSpec({"A", "B"}, v1::ThresholdSpec::FDR, true);
  EXPECT_THAT(AnalyzeExperiment(spec, {}),
              StatusIs(absl::StatusCode::kInvalidArgument));

  std::vector<RunInput> runs = HandRuns();
  runs[2].map.t.resize(9);
  EXPECT_THAT(
      AnalyzeExperiment(spec, runs),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("run 21 map")));

  runs = HandRuns();
  runs[1].map = HandRun(12, "A", {}).map;
  runs[1].map.effect.resize(12);
  runs[1].map.variance.resize(12);
  runs[1].map.t.resize(12);
  runs[1].map.p.resize(12);
  EXPECT_THAT(
      AnalyzeExperiment(spec, runs),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("expected 10")));

  runs = HandRuns();
  runs[3].condition = "Z";
  EXPECT_THAT(AnalyzeExperiment(spec, runs),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown condition \"Z\"")));

  runs = HandRuns();
  runs[3].run_id = 21;
  EXPECT_THAT(
      AnalyzeExperiment(spec, runs),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("repeats")));

  runs = HandRuns();
  runs.resize(2);  // B has no runs
  EXPECT_THAT(AnalyzeExperiment(spec, runs),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"B\" has no runs")));

  runs = HandRuns();
  runs[0].map.p[0] = arma::datum::nan;
  EXPECT_THAT(
      AnalyzeExperiment(spec, runs),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("non-finite")));
}

// ThresholdMap's one-sort Benjamini-Hochberg equals thresholds.h's, ties
// and all; Bonferroni and the |t| cut-off select as documented.
TEST(NetworkThresholdTest, MatchesThresholdsHOnRandomMapsWithTies) {
  arma::arma_rng::set_seed(5);
  StatMap map;
  map.contrast = "A > rest";
  map.dof = 30;
  map.t = arma::round(arma::randn(5000) * 40) / 10;  // many ties
  map.t.head(200) += 5.0;
  map.effect = 2 * map.t;
  map.variance = arma::vec(5000, arma::fill::value(4.0));
  map.p = TPValues(map.t, map.dof, Tail::kTwoSided);
  const arma::vec q = FdrBhQValues(map.p);
  for (double alpha : {0.01, 0.05, 0.2}) {
    const Network fdr = ThresholdMap(map, {ThresholdMethod::kFdr, alpha});
    const arma::uvec want = FdrBhSelect(map.p, alpha);
    ASSERT_EQ(fdr.units.size(), want.n_elem) << alpha;
    ASSERT_GT(want.n_elem, 100u);
    for (size_t i = 0; i < want.n_elem; ++i) {
      EXPECT_EQ(fdr.units[i], static_cast<int64_t>(want[i]));
      EXPECT_EQ(fdr.q[i], q[want[i]]);
      EXPECT_EQ(fdr.beta[i], map.effect[want[i]]);
    }
    EXPECT_EQ(fdr.threshold, arma::min(arma::abs(arma::vec(map.t.elem(want)))));
  }
  const Network bonf = ThresholdMap(map, {ThresholdMethod::kBonferroni, 0.05});
  const arma::uvec want = BonferroniSelect(map.p, 0.05);
  EXPECT_EQ(bonf.units.size(), want.n_elem);
  EXPECT_EQ(bonf.threshold_method, "bonferroni");
  const Network perm =
      ThresholdMap(map, {ThresholdMethod::kPermutation, 0.05, 6.0});
  EXPECT_EQ(perm.units.size(),
            arma::uvec(arma::find(arma::abs(map.t) > 6.0)).n_elem);
  EXPECT_GT(perm.threshold, 6.0);
}

TEST(NetworkOverlapTest, DiceAndJaccardOfUnitLists) {
  const OverlapEntry o = UnitOverlap({1, 4, 7, 9}, {0, 4, 9});
  EXPECT_EQ(o.intersection, 2);
  EXPECT_DOUBLE_EQ(o.dice, 4.0 / 7);
  EXPECT_DOUBLE_EQ(o.jaccard, 2.0 / 5);
  const OverlapEntry same = UnitOverlap({3, 5}, {3, 5});
  EXPECT_EQ(same.dice, 1.0);
  EXPECT_EQ(same.jaccard, 1.0);
  const OverlapEntry one_empty = UnitOverlap({}, {3});
  EXPECT_EQ(one_empty.dice, 0.0);
  EXPECT_EQ(one_empty.jaccard, 0.0);
  EXPECT_EQ(UnitOverlap({}, {}).dice, 0.0);
}

TEST(HeldOutClassifierTest, PearsonCorrelationKnownValues) {
  EXPECT_DOUBLE_EQ(PearsonCorrelation({1, 2, 3}, {2, 4, 6}), 1.0);
  EXPECT_DOUBLE_EQ(PearsonCorrelation({1, 2, 3}, {3, 2, 1}), -1.0);
  // x = (1,2,3,4), y = (1,3,2,4): cov 3/4 ... r = 0.8.
  EXPECT_NEAR(PearsonCorrelation({1, 2, 3, 4}, {1, 3, 2, 4}), 0.8, 1e-15);
  EXPECT_EQ(PearsonCorrelation({2, 2, 2}, {1, 2, 3}), 0.0);
  EXPECT_EQ(PearsonCorrelation({0.1, 0.1, 0.1}, {1, 2, 3}), 0.0);
}

}  // namespace
}  // namespace fnprobe::analysis
