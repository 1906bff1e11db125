// ICA of stored runs (ica_decomposer.h) and its store (ica_store.h): the
// planted reference fixture (tests/data/ica) written into the activation
// store as one run is recovered through DecomposeRun as through the
// library; hook selection, low-rank hooks and the store's round trip.
#include "server/analysis/worker/ica_decomposer.h"

#include <armadillo>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/storage/activation_store.h"
#include "tests/analysis/ica/ica_test_util.h"
#include "tests/analysis/worker/store_test_fixture.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::worker {
namespace {

using ::testing::HasSubstr;

// Writes `x` (T x V) as a run's activation file (float32).
std::string WriteRun(const std::string& dir, const arma::fmat& x,
                     const std::string& name = "run.act") {
  const std::string path = dir + "/" + name;
  ActivationWriterOptions options;
  options.dtype = DType::kF32;
  options.sync = false;
  auto writer = ActivationWriter::Create(path, x.n_cols, options);
  EXPECT_OK(writer);
  const arma::fmat rows = x.t();  // column t: time point t's values
  for (arma::uword t = 0; t < x.n_rows; ++t) {
    EXPECT_OK((*writer)->Append(t, rows.colptr(t)));
  }
  EXPECT_OK((*writer)->Finish().status());
  return path;
}

absl::Status NoCancel() { return absl::OkStatus(); }

v1::IcaSpec Spec(int components) {
  v1::IcaSpec spec;
  spec.set_components(components);
  spec.set_z(3.6);
  spec.set_seed(1);
  spec.set_max_iter(400);
  return spec;
}

class IcaDecomposerTest : public store_test::StoreTest {};

TEST_F(IcaDecomposerTest, PlantedFixtureThroughTheStoreIsRecovered) {
  const ica::testing::PlantedFixture f = ica::testing::LoadPlantedFixture();
  // Two hook points: the fixture's units and a pure-noise hook beside them,
  // so the per-hook slicing is exercised.
  arma::fmat noise(f.x.n_rows, 40, arma::fill::randn);
  const arma::fmat x = arma::join_rows(noise, f.x);
  const Layout layout(
      {{"blocks.0.attn_out", 40},
       {"blocks.0.mlp_post", static_cast<int64_t>(f.x.n_cols)}});
  IcaRunInput run{7, 0, WriteRun(dir_.path(), x),
                  static_cast<int64_t>(x.n_rows)};
  IcaDecomposition only_mlp;
  only_mlp.hooks = {"blocks.*.mlp_post"};
  for (uint64_t seed : {1, 2, 3}) {
    v1::IcaSpec spec = Spec(4);
    spec.set_seed(seed);
    auto networks = DecomposeRun(spec, layout, run, only_mlp, NoCancel);
    ASSERT_OK(networks);
    ASSERT_EQ(networks->size(), 4u);
    arma::mat courses(x.n_rows, 4);
    for (size_t k = 0; k < 4; ++k) {
      const IcaNetwork& n = (*networks)[k];
      EXPECT_EQ(n.hook, "blocks.0.mlp_post");
      EXPECT_EQ(n.run_id, 7);
      EXPECT_EQ(n.component, static_cast<int>(k));
      ASSERT_EQ(n.time_course.size(), x.n_rows);
      courses.col(k) = arma::conv_to<arma::vec>::from(n.time_course);
      for (int64_t u : n.units) EXPECT_GE(u, 40) << "layout-global units";
    }
    // Time courses matched to the planted ones: the same recovery the
    // library reaches on the fixture.
    const arma::vec r = ica::testing::MatchedAbsCorrelation(
        courses, arma::conv_to<arma::mat>::from(f.timecourses).t());
    std::cout << "seed " << seed << ": matched |r| " << r.t();
    EXPECT_GE(r.min(), 0.95);
  }
}

TEST_F(IcaDecomposerTest, ScopeExperimentDecomposesTheRunsConcatenated) {
  // The planted fixture cut into two runs: scope experiment must see the
  // whole fixture again (one decomposition, time courses over both runs),
  // exactly as one run holding every time point does.
  const ica::testing::PlantedFixture f = ica::testing::LoadPlantedFixture();
  const Layout layout(
      {{"blocks.0.mlp_post", static_cast<int64_t>(f.x.n_cols)}});
  const arma::uword half = f.x.n_rows / 2;
  const arma::fmat first = f.x.rows(0, half - 1);
  const arma::fmat second = f.x.rows(half, f.x.n_rows - 1);
  const std::vector<IcaRunInput> runs = {
      {11, 0, WriteRun(dir_.path(), first, "a.act"),
       static_cast<int64_t>(first.n_rows)},
      {12, 1, WriteRun(dir_.path(), second, "b.act"),
       static_cast<int64_t>(second.n_rows)}};
  v1::IcaSpec spec = Spec(4);
  spec.set_scope(v1::IcaSpec::EXPERIMENT);
  std::vector<std::string> log;
  auto every = DecomposeRuns(spec, layout, runs, {}, NoCancel,
                             [&](const std::string& l) { log.push_back(l); });
  ASSERT_OK(every);
  ASSERT_EQ(every->size(), 4u);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_THAT(log[0], HasSubstr("2 runs concatenated"));
  arma::mat courses(f.x.n_rows, 4);
  for (size_t k = 0; k < 4; ++k) {
    const IcaNetwork& n = (*every)[k];
    EXPECT_EQ(n.run_id, 0);
    EXPECT_EQ(n.group, kEveryGroup);
    ASSERT_EQ(n.time_course.size(), f.x.n_rows) << "spans both runs";
    courses.col(k) = arma::conv_to<arma::vec>::from(n.time_course);
  }
  const arma::vec r = ica::testing::MatchedAbsCorrelation(
      courses, arma::conv_to<arma::mat>::from(f.timecourses).t());
  EXPECT_GE(r.min(), 0.95) << r.t();
  // The same as one run of every time point: same units, same courses.
  const IcaRunInput whole{13, 0, WriteRun(dir_.path(), f.x, "whole.act"),
                          static_cast<int64_t>(f.x.n_rows)};
  spec.set_scope(v1::IcaSpec::RUN);
  auto one = DecomposeRun(spec, layout, whole, {}, NoCancel);
  ASSERT_OK(one);
  ASSERT_EQ(one->size(), every->size());
  for (size_t k = 0; k < one->size(); ++k) {
    EXPECT_EQ((*one)[k].units, (*every)[k].units) << k;
    EXPECT_EQ((*one)[k].time_course, (*every)[k].time_course) << k;
  }
  // Scope run: each run its own decomposition, in order, its run named.
  auto each = DecomposeRuns(spec, layout, runs, {}, NoCancel, nullptr);
  ASSERT_OK(each);
  ASSERT_EQ(each->size(), 8u);
  EXPECT_EQ(each->front().run_id, 11);
  EXPECT_EQ(each->back().run_id, 12);
  EXPECT_EQ(each->back().group, 1);
  EXPECT_EQ(each->back().time_course.size(), second.n_rows);
}

TEST_F(IcaDecomposerTest, ScopeExperimentOnNoiseFindsOnlyChanceUnits) {
  // The null: Gaussian noise in three runs, concatenated. No unit carries a
  // source, so a network is what |z| > 3.6 admits by chance in a
  // maximally non-Gaussian direction: a small fraction of the units,
  // nothing like a planted network's share.
  arma::arma_rng::set_seed(4);
  const Layout layout({{"blocks.0.mlp_post", 2000}});
  std::vector<IcaRunInput> runs;
  for (int r = 0; r < 3; ++r) {
    const arma::fmat x(60, 2000, arma::fill::randn);
    runs.push_back(
        {r + 1, r, WriteRun(dir_.path(), x, absl::StrCat(r, ".act")), 60});
  }
  v1::IcaSpec spec = Spec(5);
  spec.set_scope(v1::IcaSpec::EXPERIMENT);
  auto networks = DecomposeRuns(spec, layout, runs, {}, NoCancel, nullptr);
  ASSERT_OK(networks);
  ASSERT_EQ(networks->size(), 5u);
  size_t units = 0;
  for (const IcaNetwork& n : *networks) units += n.units.size();
  const double share = static_cast<double>(units) / (5.0 * 2000);
  std::cout << "noise: " << units << " network units of 5 x 2000 ("
            << share * 100 << "%; Gaussian two-sided P(|z| > 3.6) = 0.032%)\n";
  EXPECT_LT(share, 0.005);
}

TEST_F(IcaDecomposerTest, NetworksAreThePlantedMapsLargestUnits) {
  const ica::testing::PlantedFixture f = ica::testing::LoadPlantedFixture();
  const Layout layout(
      {{"blocks.0.mlp_post", static_cast<int64_t>(f.x.n_cols)}});
  IcaRunInput run{1, 0, WriteRun(dir_.path(), f.x),
                  static_cast<int64_t>(f.x.n_rows)};
  auto networks = DecomposeRun(Spec(4), layout, run, {}, NoCancel);
  ASSERT_OK(networks);
  // Each planted map's units beyond |z| 3.6 against the best network.
  for (arma::uword s = 0; s < f.sources.n_rows; ++s) {
    arma::rowvec map = arma::conv_to<arma::rowvec>::from(f.sources.row(s));
    map = (map - arma::mean(map)) / arma::stddev(map, 1);
    std::set<int64_t> truth;
    for (arma::uword u = 0; u < map.n_elem; ++u) {
      if (std::abs(map[u]) > 3.6) truth.insert(u);
    }
    double best = 0;
    for (const IcaNetwork& n : *networks) {
      int both = 0;
      for (int64_t u : n.units) both += truth.count(u);
      const double iou =
          static_cast<double>(both) / (truth.size() + n.units.size() - both);
      best = std::max(best, iou);
    }
    EXPECT_GE(best, 0.8) << "source " << s << " (" << truth.size() << " units)";
  }
}

TEST_F(IcaDecomposerTest, ALowRankHookGetsFewerComponentsNotAFailure) {
  // Rank 2 plus nothing: K = 10 is lowered to what the data span.
  arma::fmat x(200, 30, arma::fill::zeros);
  arma::fvec a = arma::randn<arma::fvec>(200), b = arma::randn<arma::fvec>(200);
  for (arma::uword u = 0; u < 30; ++u) {
    x.col(u) = a * std::sin(u + 1.0f) + b * std::cos(2.0f * u);
  }
  const Layout layout({{"blocks.0.attn_out", 30}});
  IcaRunInput run{1, 0, WriteRun(dir_.path(), x), 200};
  auto networks = DecomposeRun(Spec(10), layout, run, {}, NoCancel);
  ASSERT_OK(networks);
  EXPECT_GE(networks->size(), 1u);
  EXPECT_LT(networks->size(), 10u);
}

TEST_F(IcaDecomposerTest, AHookSelectorThatMatchesNothingIsNamed) {
  const Layout layout({{"blocks.0.mlp_post", 8}});
  IcaDecomposition d;
  d.hooks = {"blocks.9.*"};
  auto hooks = SelectIcaHooks(layout, d);
  EXPECT_EQ(hooks.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(hooks.status().message(),
              HasSubstr("'blocks.9.*' matches no captured hook point"));
}

TEST_F(IcaDecomposerTest, StoredNetworksReadBackAndAreReplacedWhole) {
  const int64_t id = Create();
  const Layout layout = store_test::SmallLayout();
  FinishAll(layout);
  IcaNetwork n;
  n.run_id = run_ids_[1];
  n.hook = "blocks.0.mlp_post";
  n.component = 2;
  n.units = {5, 7};
  n.z = {4.5, -3.9};
  n.time_course = {0.5f, -1.25f, 2.0f};
  n.stability = 0.93;
  n.explained_variance = 0.2;
  ASSERT_OK(store_->ica().ReplaceIcaNetworks(id, layout, 3.6, {n}));
  auto read = store_->ica().LoadIcaNetworks(id, "", true);
  ASSERT_OK(read);
  ASSERT_EQ(read->size(), 1u);
  const IcaNetwork& r = (*read)[0];
  EXPECT_GT(r.network_id, 0);
  EXPECT_EQ(r.run_id, n.run_id);
  EXPECT_EQ(r.group, plans_[1].repeat);
  EXPECT_EQ(r.hook, n.hook);
  EXPECT_EQ(r.component, 2);
  EXPECT_EQ(r.units, n.units);
  EXPECT_EQ(r.z, n.z);
  EXPECT_EQ(r.time_course, n.time_course);
  EXPECT_DOUBLE_EQ(r.stability, 0.93);
  // Another hook reads nothing; a replacement removes the first set.
  auto other = store_->ica().LoadIcaNetworks(id, "final_norm", false);
  ASSERT_OK(other);
  EXPECT_TRUE(other->empty());
  n.component = 0;
  n.stability = -1;
  ASSERT_OK(store_->ica().ReplaceIcaNetworks(id, layout, 3.6, {n}));
  read = store_->ica().LoadIcaNetworks(id, "", false);
  ASSERT_OK(read);
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].component, 0);
  EXPECT_LT((*read)[0].stability, 0);
  EXPECT_TRUE((*read)[0].time_course.empty()) << "not asked for";
}

TEST_F(IcaDecomposerTest, ANetworkOfEveryRunStoresWithoutARun) {
  const int64_t id = Create();
  const Layout layout = store_test::SmallLayout();
  FinishAll(layout);
  IcaNetwork every;
  every.run_id = 0;
  every.group = kEveryGroup;
  every.hook = "blocks.0.mlp_post";
  every.component = 1;
  every.units = {3};
  every.z = {5.5};
  every.time_course = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f};
  ASSERT_OK(store_->ica().ReplaceIcaNetworks(id, layout, 3.6, {every}));
  auto read = store_->ica().LoadIcaNetworks(id, "", true);
  ASSERT_OK(read);
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].run_id, 0);
  EXPECT_EQ((*read)[0].group, kEveryGroup);
  EXPECT_EQ((*read)[0].time_course, every.time_course);
  EXPECT_EQ((*read)[0].units, every.units);
  every.run_id = -3;
  EXPECT_EQ(store_->ica().ReplaceIcaNetworks(id, layout, 3.6, {every}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(IcaDecomposerTest, ABadNetworkIsRefusedStoringNothing) {
  const int64_t id = Create();
  const Layout layout = store_test::SmallLayout();
  FinishAll(layout);
  IcaNetwork good;
  good.run_id = run_ids_[0];
  good.hook = "embed";
  good.units = {1};
  good.z = {5};
  good.time_course = {1.0f};
  IcaNetwork bad = good;
  bad.units = {3, 20};  // 20 is outside the 20-unit layout
  bad.z = {5, 6};
  const absl::Status s =
      store_->ica().ReplaceIcaNetworks(id, layout, 3.6, {good, bad});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("unit 20 out of the layout"));
  auto read = store_->ica().LoadIcaNetworks(id, "", false);
  ASSERT_OK(read);
  EXPECT_TRUE(read->empty());
}

}  // namespace
}  // namespace fnprobe::worker
