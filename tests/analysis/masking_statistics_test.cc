// Masking statistics (server/analysis/masking_statistics.h), each checked
// both ways: on a planted truth (a network that harms far more than its
// controls: percentile 1, p = 1 / (1 + N)) and on a null (a "network" that
// is one more draw of the controls' distribution: its percentile uniform,
// P(p = k / (1 + N)) = 1 / (1 + N)).
#include "server/analysis/masking_statistics.h"

#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/analysis/experiment_spec.h"

namespace fnprobe {
namespace {

ScoreTotals Totals(double nll, double top1, int64_t tokens = 1000) {
  ScoreTotals t;
  t.tokens = tokens;
  t.nll_sum = nll * static_cast<double>(tokens);
  t.top1 = std::llround(top1 * static_cast<double>(tokens));
  return t;
}

TEST(MaskingStatisticsTest, PlantedEffectIsBeyondEveryControl) {
  std::vector<ScoreTotals> controls;
  for (int k = 0; k < 10; ++k) controls.push_back(Totals(2.0 + 0.01 * k, 0.5));
  const MaskingResult nll =
      SummarizeMasking("nll", Totals(2.0, 0.5), Totals(5.0, 0.1), controls);
  EXPECT_DOUBLE_EQ(nll.unmasked, 2.0);
  EXPECT_DOUBLE_EQ(nll.masked, 5.0);
  EXPECT_DOUBLE_EQ(nll.change, 3.0);
  EXPECT_DOUBLE_EQ(nll.percentile, 1.0);
  EXPECT_NEAR(nll.p, 1.0 / 11, 1e-12);
  ASSERT_EQ(nll.controls.size(), 10u);
  EXPECT_NEAR(nll.control_mean, 2.045, 1e-12);
  EXPECT_NEAR(nll.control_sd, 0.01 * std::sqrt(110.0 / 12.0), 1e-12);
  EXPECT_DOUBLE_EQ(nll.control_min, 2.0);
  EXPECT_NEAR(nll.control_max, 2.09, 1e-12);
  // top1 harm is a drop.
  const MaskingResult top1 =
      SummarizeMasking("top1", Totals(2.0, 0.5), Totals(5.0, 0.1), controls);
  EXPECT_NEAR(top1.change, -0.4, 1e-12);
  EXPECT_DOUBLE_EQ(top1.percentile, 1.0);
  EXPECT_NEAR(top1.p, 1.0 / 11, 1e-12);
  // A network that helps (nll down) is at the bottom: p = 1.
  const MaskingResult helps =
      SummarizeMasking("nll", Totals(2.0, 0.5), Totals(1.0, 0.5), controls);
  EXPECT_DOUBLE_EQ(helps.percentile, 0.0);
  EXPECT_DOUBLE_EQ(helps.p, 1.0);
  // A masking that changes nothing, among controls that change nothing
  // (up to float rounding): ties, not "beyond every control".
  std::vector<ScoreTotals> same(10, Totals(2.0, 0.5));
  ScoreTotals rounded = Totals(2.0, 0.5);
  rounded.nll_sum += 1e-8;
  const MaskingResult tie =
      SummarizeMasking("nll", Totals(2.0, 0.5), rounded, same);
  EXPECT_DOUBLE_EQ(tie.percentile, 0.5);
  EXPECT_DOUBLE_EQ(tie.p, 1.0);
}

TEST(MaskingStatisticsTest, NullNetworkIsUniformAmongItsControls) {
  // 4000 null experiments of 10 controls: the network is an 11th draw.
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0.0, 0.1);
  const int kExperiments = 4000, kControls = 10;
  std::vector<int> p_counts(kControls + 2, 0);
  double mean_percentile = 0;
  int beyond = 0;
  for (int e = 0; e < kExperiments; ++e) {
    std::vector<ScoreTotals> controls;
    for (int k = 0; k < kControls; ++k) {
      controls.push_back(Totals(2.0 + noise(rng), 0.5));
    }
    const MaskingResult r = SummarizeMasking(
        "nll", Totals(2.0, 0.5), Totals(2.0 + noise(rng), 0.5), controls);
    mean_percentile += r.percentile / kExperiments;
    ++p_counts[std::lround(r.p * (kControls + 1))];
    beyond += r.percentile > 0.95;
  }
  // P(p = k/11) = 1/11 for k = 1..11: each about 364 of 4000 (sd ~18).
  for (int k = 1; k <= kControls + 1; ++k) {
    EXPECT_NEAR(p_counts[k], kExperiments / 11.0, 80) << "p = " << k << "/11";
  }
  EXPECT_NEAR(mean_percentile, 0.5, 0.03);
  // "Beyond every control" happens 1 time in 11 under the null.
  EXPECT_NEAR(beyond / static_cast<double>(kExperiments), 1 / 11.0, 0.02);
}

TEST(MaskingStatisticsTest, ResultsFromStoredScoresSkipIncompleteOnes) {
  v1::ExperimentSpec spec;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"name": "m", "model": "demo", "masking": {
    "networks": [{"units": ["h[1]"]}], "operations": ["ZERO"], "controls": 5,
    "evaluation": [{"name": "a", "texts": ["x", "y"]},
                   {"name": "b", "texts": ["z"]}]}})",
                  &spec)
                  .ok());
  spec = WithDefaults(spec);
  MaskingPlan plan;
  plan.networks.resize(1);
  plan.networks[0].name = "network-0";
  plan.networks[0].units = {{"h", {1}}};
  plan.networks[0].controls.resize(5, UnitSelection{{"h", {2}}});
  plan.runs = PlanMaskingRuns(spec, 1, 5);
  ASSERT_EQ(plan.runs.size(), 4u);  // unmasked a, b; ZERO a, b
  std::vector<MaskingScore> scores;
  auto add = [&](int run, int member, int text, double nll) {
    scores.push_back({run, member, text, 10, nll * 10, 5});
  };
  add(0, 0, 0, 1.0);
  add(0, 0, 1, 3.0);
  add(1, 0, 0, 2.0);
  for (int m = 0; m <= 5; ++m) {
    add(2, m, 0, m == 0 ? 5.0 : 1.5);
    add(2, m, 1, m == 0 ? 5.0 : 2.5);
  }
  // Run 3 (ZERO on b) only partly scored: b is left out.
  add(3, 0, 0, 9.0);
  const auto results = ComputeMaskingResults(spec, plan, scores);
  ASSERT_EQ(results.size(), 2u);  // a: nll and top1
  EXPECT_EQ(results[0].network, "network-0");
  EXPECT_EQ(results[0].operation, "ZERO");
  EXPECT_EQ(results[0].evaluation, "a");
  EXPECT_EQ(results[0].metric, "nll");
  EXPECT_DOUBLE_EQ(results[0].unmasked, 2.0);
  EXPECT_DOUBLE_EQ(results[0].masked, 5.0);
  EXPECT_DOUBLE_EQ(results[0].control_mean, 2.0);
  EXPECT_DOUBLE_EQ(results[0].percentile, 1.0);
  EXPECT_NEAR(results[0].p, 1.0 / 6, 1e-12);
  EXPECT_EQ(results[1].metric, "top1");
  EXPECT_DOUBLE_EQ(results[1].unmasked, 0.5);
}

// A spec of networks "alpha" and "beta" (explicit units, so each network's
// condition is its name) and the given evaluation sets, with its plan over
// `controls` controls.
struct DissociationCase {
  v1::ExperimentSpec spec;
  MaskingPlan plan;
};

DissociationCase MakeDissociationCase(const std::string& evaluation_json,
                                      int controls) {
  DissociationCase c;
  const std::string json = absl::StrCat(
      R"({"name": "m", "model": "demo", "masking": {
    "networks": [{"name": "alpha", "units": ["h[1]"]},
                 {"name": "beta", "units": ["h[2]"]},
                 {"name": "gamma", "units": ["h[3]"]}],
    "operations": ["ZERO"], "controls": )",
      controls, R"(, "evaluation": )", evaluation_json, "}}");
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &c.spec).ok());
  c.spec = WithDefaults(c.spec);
  EXPECT_TRUE(FindSpecProblems(c.spec).empty());
  for (const char* name : {"alpha", "beta", "gamma"}) {
    MaskedNetwork n;
    n.name = name;
    n.units = {{"h", {1}}};
    n.controls.resize(controls, UnitSelection{{"h", {5}}});
    c.plan.networks.push_back(n);
  }
  c.plan.runs = PlanMaskingRuns(c.spec, 3, controls);
  return c;
}

// Every text of every run scored 10 tokens at `nll(run, member)` (top1 5).
std::vector<MaskingScore> ScoreAll(
    const MaskingPlan& plan,
    const std::function<double(const MaskingRun&, int)>& nll) {
  std::vector<MaskingScore> scores;
  for (size_t r = 0; r < plan.runs.size(); ++r) {
    const MaskingRun& run = plan.runs[r];
    for (int m = 0; m < run.members; ++m) {
      for (int t = 0; t < run.num_texts; ++t) {
        scores.push_back({static_cast<int>(r), m, run.first_text + t, 10,
                          10 * nll(run, m), 5});
      }
    }
  }
  return scores;
}

const MaskingDissociation* FindDissociation(
    const std::vector<MaskingDissociation>& all, const std::string& network,
    const std::string& metric, const std::string& other) {
  for (const MaskingDissociation& d : all) {
    if (d.network == network && d.metric == metric && d.other == other) {
      return &d;
    }
  }
  return nullptr;
}

TEST(MaskingStatisticsTest, PlantedDoubleDissociation) {
  // Sets 0 and 2 test alpha (set 2 by its condition), set 1 beta.
  DissociationCase c = MakeDissociationCase(
      R"([{"name": "alpha", "texts": ["a", "b"]},
          {"name": "beta", "texts": ["c"]},
          {"name": "alpha-more", "condition": "alpha", "texts": ["d"]}])",
      10);
  // Unmasked: alpha texts 2, beta texts 3. Alpha's network harms alpha's
  // texts by 3 and beta's by 0.5; beta's the reverse (0.2 and 3); control
  // k harms alpha's by 0.1k and beta's by 0.05k (contrasts 0.05k <= 0.5).
  auto nll = [](const MaskingRun& run, int member) {
    const bool alpha_text = run.evaluation != 1;
    const double base = alpha_text ? 2.0 : 3.0;
    if (run.network < 0) return base;
    if (member > 0) return base + (alpha_text ? 0.1 : 0.05) * member;
    if (run.network == 0) return base + (alpha_text ? 3.0 : 0.5);
    if (run.network == 1) return base + (alpha_text ? 0.2 : 3.0);
    return base + 1.0;  // gamma: no evaluation set of its condition
  };
  const auto results =
      ComputeMaskingResults(c.spec, c.plan, ScoreAll(c.plan, nll));
  ASSERT_EQ(results.size(), 18u);  // 3 networks x 3 sets x 2 metrics
  EXPECT_EQ(results[4].evaluation, "alpha-more");
  EXPECT_EQ(results[4].condition, "alpha");
  EXPECT_EQ(results[2].condition, "beta");
  const auto all =
      ComputeMaskingDissociations(c.spec, c.plan, ScoreAll(c.plan, nll));
  // alpha and beta x nll, top1 x one other condition each; gamma has none.
  ASSERT_EQ(all.size(), 4u);
  const MaskingDissociation* a = FindDissociation(all, "alpha", "nll", "beta");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->operation, "ZERO");
  EXPECT_EQ(a->condition, "alpha");
  EXPECT_NEAR(a->change, 3.0, 1e-12);  // pooled over alpha and alpha-more
  EXPECT_NEAR(a->other_change, 0.5, 1e-12);
  EXPECT_NEAR(a->control_change, 0.55, 1e-12);  // 0.1 x mean(1..10)
  EXPECT_NEAR(a->other_control_change, 0.275, 1e-12);
  EXPECT_NEAR(a->contrast, 2.5, 1e-12);
  ASSERT_EQ(a->control_contrasts.size(), 10u);
  EXPECT_NEAR(a->control_contrasts[9], 0.5, 1e-12);
  EXPECT_DOUBLE_EQ(a->percentile, 1.0);
  EXPECT_NEAR(a->p, 1.0 / 11, 1e-12);
  const MaskingDissociation* b = FindDissociation(all, "beta", "nll", "alpha");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->condition, "beta");
  EXPECT_NEAR(b->contrast, 2.8, 1e-12);
  // The controls' contrast for beta vs alpha: -0.05k, all below.
  EXPECT_NEAR(b->control_contrasts[0], -0.05, 1e-12);
  EXPECT_DOUBLE_EQ(b->percentile, 1.0);
  // top1 unchanged everywhere: every contrast ties at 0.
  const MaskingDissociation* t = FindDissociation(all, "alpha", "top1", "beta");
  ASSERT_NE(t, nullptr);
  EXPECT_DOUBLE_EQ(t->contrast, 0);
  EXPECT_DOUBLE_EQ(t->percentile, 0.5);
  EXPECT_DOUBLE_EQ(t->p, 1.0);

  // One run missing a text: the dissociations that need it are left out.
  std::vector<MaskingScore> partial = ScoreAll(c.plan, nll);
  partial.pop_back();  // the last run: ZERO gamma on alpha-more
  EXPECT_EQ(ComputeMaskingDissociations(c.spec, c.plan, partial).size(), 4u);
  partial.erase(partial.begin());  // unmasked alpha, text 0
  EXPECT_TRUE(ComputeMaskingDissociations(c.spec, c.plan, partial).empty());
}

TEST(MaskingStatisticsTest, NoDissociationWithOneCondition) {
  DissociationCase c = MakeDissociationCase(
      R"([{"name": "alpha", "texts": ["a"]},
          {"name": "x", "condition": "alpha", "texts": ["b"]}])",
      5);
  auto nll = [](const MaskingRun&, int) { return 1.0; };
  EXPECT_TRUE(ComputeMaskingDissociations(c.spec, c.plan, ScoreAll(c.plan, nll))
                  .empty());
}

TEST(MaskingStatisticsTest, NullDissociationIsUniformEvenWhenHarmIsShared) {
  // 1500 null experiments of 20 controls. Every member (the network and
  // each control) has its own harm, shared by both conditions' texts, plus
  // small independent noise per condition; the network's shared harm is 5
  // (far beyond every control's: it "matters", but for both conditions
  // alike). The paired contrast removes the shared harm, so the network's
  // contrast is one more draw of the controls': p uniform on k / 21, and
  // p <= 0.05 (k = 1) 1 time in 21.
  DissociationCase c = MakeDissociationCase(
      R"([{"name": "alpha", "texts": ["a"]}, {"name": "beta", "texts": ["b"]}])",
      20);
  std::mt19937_64 rng(11);
  std::normal_distribution<double> harm(0.0, 0.3), noise(0.0, 0.05);
  const int kExperiments = 1500;
  std::vector<int> p_counts(22, 0);
  int significant = 0, harm_beyond = 0;
  for (int x = 0; x < kExperiments; ++x) {
    std::vector<double> shared(21), own_a(21), own_b(21);
    for (int k = 0; k <= 20; ++k) {
      shared[k] = k == 0 ? 5.0 : harm(rng);
      own_a[k] = noise(rng);
      own_b[k] = noise(rng);
    }
    auto nll = [&](const MaskingRun& run, int member) {
      if (run.network < 0) return 2.0;
      return 2.0 + shared[member] +
             (run.evaluation == 0 ? own_a[member] : own_b[member]);
    };
    const std::vector<MaskingScore> scores = ScoreAll(c.plan, nll);
    const auto all = ComputeMaskingDissociations(c.spec, c.plan, scores);
    const MaskingDissociation* d =
        FindDissociation(all, "alpha", "nll", "beta");
    ASSERT_NE(d, nullptr);
    ++p_counts[std::lround(d->p * 21)];
    significant += d->p <= 0.05;
    const auto results = ComputeMaskingResults(c.spec, c.plan, scores);
    harm_beyond += results[0].percentile == 1.0;
  }
  // Each k / 21 about 71 of 1500 (sd ~8.2).
  for (int k = 1; k <= 21; ++k) {
    EXPECT_NEAR(p_counts[k], kExperiments / 21.0, 30) << "p = " << k << "/21";
  }
  EXPECT_NEAR(significant / static_cast<double>(kExperiments), 1 / 21.0, 0.015);
  // The shared harm itself is beyond every control each time.
  EXPECT_EQ(harm_beyond, kExperiments);
}

}  // namespace
}  // namespace fnprobe
