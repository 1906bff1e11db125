// Level two of prompt-level inference: parity with statsmodels / scipy on
// tests/data/level_two (made by make_fixture.py beside it), the null (p
// uniform, FDR and permutation family-wise error at their nominal rates),
// planted effects found, exact permutation p-values against brute force,
// refusal of unreachable alphas, and the pooling of runs.
#include "server/analysis/level_two.h"

#include <algorithm>
#include <armadillo>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/analysis/network_threshold.h"
#include "server/analysis/p_values.h"
#include "server/analysis/prompt_accumulator.h"
#include "tests/support/ks_distance.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::analysis {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::KsDistance;
using ::fnprobe::testing::StatusIs;
using Json = nlohmann::json;

Json LoadFixture() {
  std::ifstream in(std::string(FNPROBE_TEST_DATA_DIR) +
                   "/level_two/level_two.json");
  std::stringstream text;
  text << in.rdbuf();
  return Json::parse(text.str());
}

arma::vec Vec(const Json& j) { return arma::vec(j.get<std::vector<double>>()); }

PromptSample FixtureSample(const Json& j) {
  PromptSample s;
  const auto rows = j["values"].get<std::vector<std::vector<double>>>();
  s.values.set_size(rows.size(), rows[0].size());
  for (size_t i = 0; i < rows.size(); ++i) {
    for (size_t u = 0; u < rows[i].size(); ++u) s.values(i, u) = rows[i][u];
  }
  for (int t : j["task"].get<std::vector<int>>()) s.task.push_back(t);
  s.run = j["run"].get<std::vector<int>>();
  return s;
}

double MaxRelative(const arma::vec& got, const arma::vec& want) {
  return arma::max(arma::abs(got - want) /
                   arma::clamp(arma::abs(want), 1e-300, arma::datum::inf));
}

TEST(LevelTwoParityTest, RunOlsMatchesStatsmodels) {
  const Json j = LoadFixture();
  auto map = LevelTwoMap(FixtureSample(j), LevelTwoModel::kRunOls, "a > b");
  ASSERT_THAT(map, IsOk());
  const Json& ref = j["run_ols"];
  EXPECT_LT(MaxRelative(map->effect, Vec(ref["effect"])), 1e-6);
  EXPECT_LT(MaxRelative(map->variance, Vec(ref["variance"])), 1e-6);
  EXPECT_LT(MaxRelative(map->t, Vec(ref["t"])), 1e-6);
  EXPECT_LT(MaxRelative(map->p, Vec(ref["p"])), 1e-6);
  EXPECT_DOUBLE_EQ(map->dof, ref["dof"].get<double>());
  EXPECT_EQ(map->contrast, "a > b");
}

TEST(LevelTwoParityTest, WelchMatchesScipy) {
  const Json j = LoadFixture();
  auto map = LevelTwoMap(FixtureSample(j), LevelTwoModel::kWelch, "a > b");
  ASSERT_THAT(map, IsOk());
  const Json& ref = j["welch"];
  EXPECT_LT(MaxRelative(map->effect, Vec(ref["effect"])), 1e-6);
  EXPECT_LT(MaxRelative(map->variance, Vec(ref["variance"])), 1e-6);
  EXPECT_LT(MaxRelative(map->t, Vec(ref["t"])), 1e-6);
  EXPECT_LT(MaxRelative(map->p, Vec(ref["p"])), 1e-6);
  EXPECT_NEAR(map->dof, arma::mean(Vec(ref["df"])), 1e-6 * map->dof);
}

// A block-design experiment's level one: each prompt's mean over `tokens`
// tokens, with a prompt effect (what the random draw of prompts repeats)
// and token noise; `effect` added to task prompts of units [0, planted).
PromptSample Simulate(std::mt19937_64& rng, int runs, int task_per_run,
                      int baseline_per_run, int units, int tokens, int planted,
                      double effect) {
  std::normal_distribution<double> normal;
  PromptSample s;
  const int n = runs * (task_per_run + baseline_per_run);
  s.values.set_size(n, units);
  int row = 0;
  for (int r = 0; r < runs; ++r) {
    for (int i = 0; i < task_per_run + baseline_per_run; ++i, ++row) {
      const bool task = i < task_per_run;
      s.task.push_back(task);
      s.run.push_back(r);
      for (int u = 0; u < units; ++u) {
        double token_sum = 0;
        for (int k = 0; k < tokens; ++k) token_sum += normal(rng);
        s.values(row, u) = normal(rng) + 0.5 * token_sum / tokens +
                           (task && u < planted ? effect : 0.0);
      }
    }
  }
  return s;
}

TEST(LevelTwoNullTest, PValuesUniformAndFdrAtNominalRate) {
  std::mt19937_64 rng(7);
  for (LevelTwoModel model : {LevelTwoModel::kRunOls, LevelTwoModel::kWelch}) {
    std::vector<double> p;
    int nonempty = 0;
    constexpr int kExperiments = 300;
    for (int e = 0; e < kExperiments; ++e) {
      const PromptSample s = Simulate(rng, 3, 3, 6, 40, 8, 0, 0.0);
      auto map = LevelTwoMap(s, model, "null");
      ASSERT_THAT(map, IsOk());
      p.insert(p.end(), map->p.begin(), map->p.end());
      nonempty +=
          !ThresholdMap(*map, {ThresholdMethod::kFdr, 0.05}).units.empty();
    }
    // 12,000 p-values: the KS distance's 1% critical value is 0.0149.
    EXPECT_LT(KsDistance(p), 0.0149) << LevelTwoModelName(model);
    // FDR at 0.05 under the global null errs in at most 5% of experiments
    // (independent units); binomial 99% upper bound for 300 at 5%: 27.
    EXPECT_LE(nonempty, 27) << LevelTwoModelName(model);
  }
}

TEST(LevelTwoPowerTest, FindsPlantedUnits) {
  std::mt19937_64 rng(11);
  const PromptSample s = Simulate(rng, 3, 3, 6, 200, 8, 10, 3.0);
  for (LevelTwoModel model : {LevelTwoModel::kRunOls, LevelTwoModel::kWelch}) {
    auto map = LevelTwoMap(s, model, "planted");
    ASSERT_THAT(map, IsOk());
    const Network n = ThresholdMap(*map, {ThresholdMethod::kFdr, 0.05});
    int hits = 0;
    for (int64_t u : n.units) hits += u < 10;
    EXPECT_GE(hits, 9) << LevelTwoModelName(model);
    EXPECT_LE(n.units.size() - hits, 1u) << LevelTwoModelName(model);
  }
}

TEST(LevelTwoTest, ConstantUnitHasPOne) {
  std::mt19937_64 rng(3);
  PromptSample s = Simulate(rng, 2, 2, 4, 3, 4, 0, 0.0);
  s.values.col(1).fill(5.0);
  auto map = LevelTwoMap(s, LevelTwoModel::kRunOls, "c");
  ASSERT_THAT(map, IsOk());
  EXPECT_EQ(map->t[1], 0.0);
  EXPECT_EQ(map->p[1], 1.0);
  EXPECT_EQ(map->variance[1], 0.0);
}

TEST(LevelTwoTest, RefusesInconsistentOrUntestableSamples) {
  PromptSample s;
  s.values.zeros(4, 2);
  s.task = {1, 0, 0};
  s.run = {0, 0, 0, 0};
  EXPECT_THAT(LevelTwoMap(s, LevelTwoModel::kRunOls, "c"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  s.task = {1, 1, 1, 1};  // no baseline prompt
  EXPECT_THAT(LevelTwoMap(s, LevelTwoModel::kRunOls, "c"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  s.task = {1, 0, 0, 0};  // one task prompt: Welch has no variance
  EXPECT_THAT(LevelTwoMap(s, LevelTwoModel::kWelch, "c"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  s.run = {0, 0, 2, 2};  // run 1 missing
  EXPECT_THAT(LevelTwoMap(s, LevelTwoModel::kRunOls, "c"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Brute force: the per-unit p-value and max-|t| cut-off over every
// labelling within runs, by LevelTwoMap itself.
struct BruteForce {
  arma::vec p;
  std::vector<double> maxima;
};

BruteForce Enumerate(const PromptSample& s, LevelTwoModel model) {
  const arma::vec observed = arma::abs(LevelTwoMap(s, model, "x").value().t);
  // Two runs of four prompts, two task prompts each.
  std::vector<std::vector<int>> pairs = {{0, 1}, {0, 2}, {0, 3},
                                         {1, 2}, {1, 3}, {2, 3}};
  BruteForce out;
  out.p.zeros(observed.n_elem);
  for (const auto& a : pairs) {
    for (const auto& b : pairs) {
      PromptSample q = s;
      std::fill(q.task.begin(), q.task.end(), 0);
      q.task[a[0]] = q.task[a[1]] = 1;
      q.task[4 + b[0]] = q.task[4 + b[1]] = 1;
      const arma::vec t = arma::abs(LevelTwoMap(q, model, "x").value().t);
      out.p += arma::conv_to<arma::vec>::from(t >= observed * (1 - 1e-12));
      out.maxima.push_back(t.max());
    }
  }
  out.p /= 36.0;
  return out;
}

TEST(LevelTwoPermutationTest, ExhaustiveMatchesBruteForce) {
  std::mt19937_64 rng(5);
  const PromptSample s = Simulate(rng, 2, 2, 2, 30, 4, 3, 2.0);
  EXPECT_DOUBLE_EQ(DistinctLabellings(s), 36.0);
  for (LevelTwoModel model : {LevelTwoModel::kRunOls, LevelTwoModel::kWelch}) {
    PermutationOptions o;
    o.permutations = 1000;
    o.alpha = 0.2;
    auto result = PermuteLevelTwo(s, model, o);
    ASSERT_THAT(result, IsOk());
    EXPECT_TRUE(result->exhaustive);
    EXPECT_EQ(result->labellings, 36);
    const BruteForce brute = Enumerate(s, model);
    EXPECT_LT(arma::max(arma::abs(result->p - brute.p)), 1e-12);
    std::vector<double> m = brute.maxima;
    std::sort(m.begin(), m.end(), std::greater<double>());
    // floor(0.2 * 36) = 7: members lie above the 8th largest maximum.
    EXPECT_DOUBLE_EQ(result->cutoff, m[7]);
  }
}

TEST(LevelTwoPermutationTest, RefusesAnAlphaTheDesignCannotReach) {
  std::mt19937_64 rng(5);
  // One run of 3 prompts, 1 task: 3 labellings, smallest p 1/3.
  const PromptSample s = Simulate(rng, 1, 1, 2, 5, 4, 0, 0.0);
  EXPECT_DOUBLE_EQ(DistinctLabellings(s), 3.0);
  PermutationOptions o;
  o.alpha = 0.05;
  auto result = PermuteLevelTwo(s, LevelTwoModel::kRunOls, o);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(result.status().message(), ::testing::HasSubstr("3 distinct"));
  // Balanced runs: a labelling and its complement give the same |t|.
  EXPECT_DOUBLE_EQ(SmallestPermutationP(20, true, 1000), 0.1);
  EXPECT_DOUBLE_EQ(SmallestPermutationP(1e6, false, 999), 1e-3);
}

TEST(LevelTwoPermutationTest, FamilyWiseErrorAtNominalRateUnderTheNull) {
  std::mt19937_64 rng(17);
  int any = 0;
  std::vector<double> p;
  constexpr int kExperiments = 200;
  for (int e = 0; e < kExperiments; ++e) {
    const PromptSample s = Simulate(rng, 3, 3, 6, 25, 4, 0, 0.0);
    PermutationOptions o;
    o.permutations = 199;
    o.seed = e;
    o.alpha = 0.05;
    auto result = PermuteLevelTwo(s, LevelTwoModel::kRunOls, o);
    ASSERT_THAT(result, IsOk());
    EXPECT_FALSE(result->exhaustive);
    EXPECT_EQ(result->labellings, 200);
    const StatMap map = LevelTwoMap(s, LevelTwoModel::kRunOls, "x").value();
    any += arma::any(arma::abs(map.t) > result->cutoff);
    p.push_back(result->p[0]);  // one unit per experiment: independent
  }
  // Binomial 99% upper bound for 200 at 5%: 18.
  EXPECT_LE(any, 18);
  EXPECT_LT(KsDistance(p), 0.115);  // KS 1% critical value for n = 200
}

TEST(LevelTwoPermutationTest, FindsPlantedUnits) {
  std::mt19937_64 rng(19);
  const PromptSample s = Simulate(rng, 3, 3, 6, 100, 4, 5, 3.0);
  PermutationOptions o;
  o.permutations = 499;
  auto result = PermuteLevelTwo(s, LevelTwoModel::kRunOls, o);
  ASSERT_THAT(result, IsOk());
  const StatMap map = LevelTwoMap(s, LevelTwoModel::kRunOls, "x").value();
  const arma::uvec called = arma::find(arma::abs(map.t) > result->cutoff);
  EXPECT_GE(called.n_elem, 4u);
  EXPECT_TRUE(arma::all(called < 5));
}

TEST(PoolRunsTest, APromptInSeveralRunsIsOneObservation) {
  RunPrompts a, b;
  a.values = {{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}};
  a.task = {0, 1, 0};
  a.text = {"rest one", "task one", "rest two"};
  b.values = {{7.0, 8.0}, {9.0, 10.0}, {11.0, 12.0}};
  b.task = {0, 1, 0};
  b.text = {"rest two", "task two", "rest three"};
  auto s = PoolRuns({&a, &b});
  ASSERT_THAT(s, IsOk());
  ASSERT_EQ(s->values.n_rows, 5u);  // "rest two" once
  EXPECT_EQ(s->values(2, 0), 6.0);  // (5 + 7) / 2
  EXPECT_EQ(s->values(2, 1), 7.0);
  EXPECT_EQ(s->run, (std::vector<int>{0, 0, 0, 1, 1}));
  EXPECT_EQ(s->task, (std::vector<uint8_t>{0, 1, 0, 1, 0}));
  b.values.set_size(3, 3);
  EXPECT_THAT(PoolRuns({&a, &b}), StatusIs(absl::StatusCode::kInvalidArgument));
}

// Held-out identification against chance: P(X >= k), X ~ Binomial(n, p).
TEST(BinomialUpperTailTest, KnownValues) {
  EXPECT_NEAR(BinomialUpperTail(3, 3, 1.0 / 3), 1.0 / 27, 1e-15);
  EXPECT_NEAR(BinomialUpperTail(1, 2, 0.5), 0.75, 1e-15);
  EXPECT_EQ(BinomialUpperTail(0, 5, 0.2), 1.0);
  EXPECT_EQ(BinomialUpperTail(6, 5, 0.2), 0.0);
  // 18 of 18 at chance 1/6.
  EXPECT_NEAR(BinomialUpperTail(18, 18, 1.0 / 6), std::pow(1.0 / 6, 18), 1e-28);
}

}  // namespace
}  // namespace fnprobe::analysis
