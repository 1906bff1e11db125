// Masking statistics (server/analysis/masking_statistics.h), each checked
// both ways: on a planted truth (a network that harms far more than its
// controls: percentile 1, p = 1 / (1 + N)) and on a null (a "network" that
// is one more draw of the controls' distribution: its percentile uniform,
// P(p = k / (1 + N)) = 1 / (1 + N)).
#include "server/analysis/masking_statistics.h"

#include <google/protobuf/util/json_util.h>

#include <cmath>
#include <random>

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

}  // namespace
}  // namespace fnprobe
