// Golden-file parity of the GLM core against nipy 0.5 / statsmodels 0.13.5
// (reference/glm). Tolerances from reference/README.md: design columns max
// |d| <= 1e-6 of the column's scale; beta, t, F relative <= 1e-6 (OLS) and
// <= 1e-5 (AR(1)); p and q absolute <= 1e-6; selected unit sets equal.
#include <algorithm>
#include <armadillo>
#include <cstdio>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/ar1.h"
#include "server/analysis/contrast.h"
#include "server/analysis/design_matrix.h"
#include "server/analysis/glm_accumulator.h"
#include "server/analysis/p_values.h"
#include "server/analysis/thresholds.h"
#include "tests/analysis/glm_fixture.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::analysis {
namespace {

using ::fnprobe::testing::IsOk;
using testing::GlmConfigs;
using testing::JsonMat;
using testing::JsonVec;
using testing::MaxRelativeDiff;

// The per-unit statistics the fixture records for one noise model.
struct Statistics {
  arma::mat beta;
  double df = 0;
  std::vector<std::pair<std::string, arma::vec>> t;  // A, B, A_minus_B.
  arma::vec f;
};

class GlmParityTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    expected_ = testing::LoadExpected(GetParam());
    y_ = testing::LoadY();
    DesignMatrixBuilder builder(
        testing::OptionsFor(expected_, static_cast<int>(y_.n_rows)));
    auto design = builder.Build(testing::LoadEvents());
    ASSERT_THAT(design, IsOk());
    design_ = *std::move(design);
  }

  // Contrasts over the design columns: A, B, A - B and [A; B].
  arma::vec Contrast(double a, double b) const {
    arma::vec c(design_.x.n_cols, arma::fill::zeros);
    c[0] = a;
    c[1] = b;
    return c;
  }
  arma::mat FContrast() const {
    return arma::join_cols(Contrast(1, 0).t(), Contrast(0, 1).t());
  }

  template <typename Fit>
  Statistics Compute(const Fit& fit, double df) const {
    Statistics s;
    s.beta = fit.beta;
    s.df = df;
    const std::vector<std::pair<std::string, arma::vec>> contrasts = {
        {"A", Contrast(1, 0)},
        {"B", Contrast(0, 1)},
        {"A_minus_B", Contrast(1, -1)}};
    for (const auto& [name, c] : contrasts) {
      auto t = TStatistic(fit, c);
      EXPECT_THAT(t, IsOk());
      s.t.emplace_back(name, *t);
    }
    auto f = FStatistic(fit, FContrast());
    EXPECT_THAT(f, IsOk());
    s.f = *f;
    return s;
  }

  // Compares everything in expected_[block]; returns nothing, reports the
  // worst deviations on stdout for the record.
  void ExpectMatches(const Statistics& s, const std::string& block,
                     double rel_tol) const {
    const nlohmann::json& e = expected_[block];
    EXPECT_EQ(s.df, e["df"].get<double>());
    double worst_stat = MaxRelativeDiff(s.beta, JsonMat(e["beta"]));
    EXPECT_LE(worst_stat, rel_tol) << "beta";
    double worst_p = 0;
    for (const auto& [name, t] : s.t) {
      const double dt = MaxRelativeDiff(t, JsonVec(e["t_" + name]));
      EXPECT_LE(dt, rel_tol) << "t_" << name;
      worst_stat = std::max(worst_stat, dt);
      const arma::vec p1 = TPValues(t, s.df, Tail::kUpper);
      const arma::vec p2 = TPValues(t, s.df, Tail::kTwoSided);
      worst_p = std::max(worst_p, ExpectAbs(p1, e["p_one_sided_" + name]));
      worst_p = std::max(worst_p, ExpectAbs(p2, e["p_two_sided_" + name]));
    }
    const double df_f = MaxRelativeDiff(s.f, JsonVec(e["F_A_and_B"]));
    EXPECT_LE(df_f, rel_tol) << "F_A_and_B";
    worst_stat = std::max(worst_stat, df_f);
    EXPECT_EQ(e["F_df"][0].get<double>(), 2.0);
    EXPECT_EQ(e["F_df"][1].get<double>(), s.df);
    worst_p = std::max(worst_p,
                       ExpectAbs(FPValues(s.f, 2.0, s.df), e["p_F_A_and_B"]));
    const arma::vec p_a = TPValues(s.t[0].second, s.df, Tail::kUpper);
    worst_p = std::max(worst_p, ExpectAbs(FdrBhQValues(p_a), e["fdr_bh_q_A"]));
    ExpectSameUnits(FdrBhSelect(p_a, 0.05), e["fdr_bh_0.05_units_A"]);
    ExpectSameUnits(BonferroniSelect(p_a, 0.05), e["bonferroni_0.05_units_A"]);
    std::printf("[ %s %s ] max rel dev beta/t/F %.3g, max abs dev p/q %.3g\n",
                GetParam().c_str(), block.c_str(), worst_stat, worst_p);
  }

  static double ExpectAbs(const arma::vec& got, const nlohmann::json& want) {
    const double d = arma::abs(got - JsonVec(want)).max();
    EXPECT_LE(d, 1e-6);
    return d;
  }

  static void ExpectSameUnits(const arma::uvec& got,
                              const nlohmann::json& want) {
    std::vector<arma::uword> want_units = want.get<std::vector<arma::uword>>();
    std::sort(want_units.begin(), want_units.end());
    EXPECT_THAT(arma::conv_to<std::vector<arma::uword>>::from(got),
                ::testing::ElementsAreArray(want_units));
  }

  nlohmann::json expected_;
  arma::mat y_;
  DesignMatrix design_;
};

// The design's names, order and values match nipy's make_dmtx.
TEST_P(GlmParityTest, DesignMatchesNipy) {
  EXPECT_EQ(design_.column_names,
            expected_["design_columns"].get<std::vector<std::string>>());
  const arma::mat want = testing::LoadX(GetParam());
  ASSERT_EQ(design_.x.n_rows, want.n_rows);
  ASSERT_EQ(design_.x.n_cols, want.n_cols);
  double worst = 0;
  for (arma::uword j = 0; j < want.n_cols; ++j) {
    const double scale = std::max(1e-300, arma::abs(want.col(j)).max());
    worst = std::max(worst,
                     arma::abs(design_.x.col(j) - want.col(j)).max() / scale);
  }
  EXPECT_LE(worst, 1e-6);
  std::printf("[ %s design ] max |dX| / column scale %.3g\n",
              GetParam().c_str(), worst);
}

// Streaming OLS (rows in order, through GlmAccumulator) matches nipy OLS.
TEST_P(GlmParityTest, StreamingOlsMatchesNipy) {
  auto acc = GlmAccumulator::Create(design_.x, y_.n_cols);
  ASSERT_THAT(acc, IsOk());
  const arma::mat yt = y_.t();  // Column t is frame t.
  for (arma::uword t = 0; t < y_.n_rows; ++t) {
    ASSERT_THAT(acc->Add(t, yt.colptr(t), yt.n_rows), IsOk());
  }
  auto fit = acc->Fit();
  ASSERT_THAT(fit, IsOk());
  ExpectMatches(Compute(*fit, fit->df), "ols", 1e-6);
}

// nipy's AR(1) model: binned rho, whitened refit, statistics.
TEST_P(GlmParityTest, Ar1MatchesNipy) {
  auto fit = FitAr1(design_.x, y_);
  ASSERT_THAT(fit, IsOk());
  const arma::vec want_rho = JsonVec(expected_["ar1"]["ar1_binned_rho"]);
  EXPECT_LE(arma::abs(fit->binned_rho - want_rho).max(), 1e-12);
  ExpectMatches(Compute(*fit, fit->df), "ar1", 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Configs, GlmParityTest,
                         ::testing::ValuesIn(GlmConfigs()));

}  // namespace
}  // namespace fnprobe::analysis
