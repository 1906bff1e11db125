#include "server/analysis/worker/result_store.h"

#include "tests/analysis/worker/store_test_fixture.h"

namespace fnprobe::worker::store_test {
namespace {

// Analysis inputs and results: what SaveAnalysis writes and replaces.
using ResultStoreTest = StoreTest;

TEST_F(ResultStoreTest, FinishAnalysisOnlyForAnAnalyzingCompleteRun) {
  const int64_t id = Create();
  for (int i = 0; i + 1 < static_cast<int>(run_ids_.size()); ++i) {
    ASSERT_OK(RunToDone(i, SmallLayout()));
  }
  ASSERT_OK(store_->experiments().SetPhase(id, ExperimentPhase::kAnalyzing));
  EXPECT_THAT(store_->results().FinishAnalysis(id, HandResult(), SmallLayout()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("1 run(s) not done")));
  ASSERT_OK(RunToDone(static_cast<int>(run_ids_.size()) - 1, SmallLayout()));
  ASSERT_OK(
      store_->experiments().EndExperiment(id, ExperimentPhase::kCancelled));
  // Cancelled first: the analysis is not stored.
  EXPECT_THAT(store_->results().FinishAnalysis(id, HandResult(), SmallLayout()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("PHASE_CANCELLED")));
  EXPECT_EQ(Count("SELECT count(*) FROM networks"), 0);
  EXPECT_EQ(store_->experiments().GetExperiment(id, kAlice, false)->phase,
            ExperimentPhase::kCancelled);

  const int64_t done = Create(kAlice, "done");
  FinishAll(SmallLayout());
  ASSERT_OK(store_->experiments().SetPhase(done, ExperimentPhase::kAnalyzing));
  ASSERT_OK(
      store_->results().FinishAnalysis(done, HandResult(), SmallLayout()));
  EXPECT_EQ(store_->experiments().GetExperiment(done, kAlice, false)->phase,
            ExperimentPhase::kDone);
  EXPECT_EQ(Count("SELECT count(*) FROM networks"), 7);
  // Analyzing again (a re-analysis) is the only way out of done.
  ASSERT_OK(store_->experiments().SetPhase(done, ExperimentPhase::kAnalyzing));
  ASSERT_OK(
      store_->results().FinishAnalysis(done, HandResult(), SmallLayout()));
  EXPECT_EQ(Count("SELECT count(*) FROM networks"), 7);
}

TEST_F(ResultStoreTest, LoadRunInputsInPlanOrder) {
  const int64_t id = Create();
  for (int i : {4, 1, 3}) ASSERT_OK(RunToDone(i, SmallLayout()));
  auto inputs = store_->results().LoadRunInputs(id);
  ASSERT_OK(inputs);
  ASSERT_EQ(inputs->size(), 3u);
  const int expected[] = {1, 3, 4};
  for (int k = 0; k < 3; ++k) {
    const analysis::RunInput& in = (*inputs)[k];
    const int i = expected[k];
    EXPECT_EQ(in.run_id, run_ids_[i]);
    EXPECT_EQ(in.index, i);
    EXPECT_EQ(in.condition, plans_[i].condition_name);
    EXPECT_EQ(in.repeat, plans_[i].repeat);
    EXPECT_DOUBLE_EQ(in.permutation_threshold, 3.5 + i);
    ExpectSameMap(in.map, Finished(i, SmallLayout()).map);
  }
  auto layout = store_->experiments().ExperimentLayout(id);
  ASSERT_OK(layout);
  EXPECT_EQ(*layout, SmallLayout());
  EXPECT_EQ(layout->hash(), SmallLayout().hash());
}

TEST_F(ResultStoreTest, ReplaceRunMap) {
  const int64_t id = Create();
  ASSERT_OK(RunToDone(0, SmallLayout()));
  analysis::StatMap map = MakeMap(20, 77, "alpha > rest");
  map.noise_model = "AR1";
  ASSERT_OK(store_->results().ReplaceRunMap(run_ids_[0], map, 4.25));
  auto inputs = store_->results().LoadRunInputs(id);
  ASSERT_OK(inputs);
  ASSERT_EQ(inputs->size(), 1u);
  ExpectSameMap((*inputs)[0].map, map);
  EXPECT_DOUBLE_EQ((*inputs)[0].permutation_threshold, 4.25);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps"), 1);
  EXPECT_THAT(store_->results().ReplaceRunMap(run_ids_[0], MakeMap(21, 1)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->results().ReplaceRunMap(run_ids_[1], map),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store_->results().ReplaceRunMap(999, map),
              StatusIs(absl::StatusCode::kNotFound));
}

// --- SaveAnalysis and the queries ---

TEST_F(ResultStoreTest, SaveAnalysisReplacesThePreviousOne) {
  const int64_t id = Analyzed();
  EXPECT_EQ(Count("SELECT count(*) FROM networks"), 7);
  EXPECT_EQ(Count("SELECT count(*) FROM network_units"),
            4 + 3 + 2 + 2 + 3 + 1 + 2);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps WHERE run_id IS NULL"), 3);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps WHERE excluded_run_id IS "
                  "NOT NULL"),
            1);
  EXPECT_EQ(Count("SELECT count(*) FROM overlaps"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM classifications"), 1);

  analysis::AnalysisResult smaller;
  smaller.condition_maps = {MakeMap(20, 20, "alpha > rest"),
                            MakeMap(20, 21, "beta > rest")};
  analysis::Network n;
  n.condition = "beta";
  n.contrast = "beta > rest";
  n.threshold_method = "bonferroni";
  n.units = {1, 2};
  n.t = {9, 8};
  n.map_index = 1;
  smaller.networks.push_back(n);
  ASSERT_OK(store_->results().SaveAnalysis(id, smaller, SmallLayout()));
  EXPECT_EQ(Count("SELECT count(*) FROM networks"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM network_units"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM network_units WHERE beta IS NULL"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps WHERE run_id IS NULL"), 2);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps WHERE run_id IS NOT NULL"),
            6);  // The run maps stay.
  EXPECT_EQ(Count("SELECT count(*) FROM overlaps"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM classifications"), 0);
  // The map no network uses is condition 0 of the spec.
  StatMapQuery stat;
  stat.experiment_id = id;
  stat.condition = "alpha";
  auto alpha = store_->queries().GetStatMap(stat, kAlice);
  ASSERT_OK(alpha);
  EXPECT_DOUBLE_EQ(alpha->map.dof, 40);
  NetworkListQuery list;
  list.experiment_id = id;
  auto networks = store_->queries().ListNetworks(list, kAlice);
  ASSERT_OK(networks);
  ASSERT_EQ(networks->size(), 1u);
  EXPECT_EQ((*networks)[0].threshold_method, "bonferroni");
  EXPECT_DOUBLE_EQ((*networks)[0].alpha, 0.05);
}

TEST_F(ResultStoreTest, InvalidAnalysisWritesNothing) {
  const int64_t id = Analyzed();
  const auto refused = [&](analysis::AnalysisResult r, const char* why) {
    EXPECT_THAT(store_->results().SaveAnalysis(id, r, SmallLayout()),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(why)));
  };
  analysis::AnalysisResult r = HandResult();
  r.networks[0].map_index = 7;
  refused(r, "map_index");
  r = HandResult();
  r.networks[2].run_id = 99999;
  refused(r, "99999");
  r = HandResult();
  r.networks[1].units = {6, 5, 12};
  refused(r, "ascend");
  r = HandResult();
  r.networks[1].units = {5, 6, 20};
  refused(r, "ascend");
  r = HandResult();
  r.condition_maps[1] = MakeMap(19, 1);
  refused(r, "19");
  r = HandResult();
  r.overlaps.push_back({0, 9, 0, 0, 0});
  refused(r, "overlap");
  r = HandResult();
  r.held_out[0].scores[0].network = 12;
  refused(r, "network 12");
  r = HandResult();
  r.networks[0].map_index = 2;  // Disagrees with the leave-one-out network.
  refused(r, "disagree");
  EXPECT_THAT(
      store_->results().SaveAnalysis(id, HandResult(), Layout({{"embed", 20}})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("not the runs' layout")));
  EXPECT_EQ(Count("SELECT count(*) FROM networks"), 7);
  EXPECT_EQ(Count("SELECT count(*) FROM classifications"), 1);
  EXPECT_THAT(store_->results().SaveAnalysis(4242, HandResult(), SmallLayout()),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ResultStoreTest, RoundTripsARealAnalysis) {
  const int64_t id = Create();
  const Layout layout = SmallLayout();
  std::vector<arma::mat> stored;
  std::mt19937_64 rng(42);
  std::normal_distribution<double> wobble;
  for (int i = 0; i < 6; ++i) {
    FinishedRun run = Finished(i, layout);
    // Planted: alpha drives units 0-4, beta units 10-14, plus a small
    // run-dependent wobble.
    const int64_t first = plans_[i].condition_name == "alpha" ? 0 : 10;
    for (int64_t u = 0; u < 20; ++u) {
      const bool on = u >= first && u < first + 5;
      run.map.effect[u] = (on ? 9.0 : 0.0) + 0.3 * std::sin(i * 3.1 + u);
    }
    run.map.t = run.map.effect;
    run.map.dof = 20;
    run.map.p =
        analysis::TPValues(run.map.t, run.map.dof, analysis::Tail::kTwoSided);
    // Level one (prompt-level inference, the default): task prompts respond
    // on the planted units, every prompt wobbles.
    const RunPlan& plan = plans_[i];
    run.prompt_values.set_size(plan.prompts.size(), 20);
    for (const RunBlock& b : plan.blocks) {
      for (int p = b.first_prompt; p < b.first_prompt + b.num_prompts; ++p) {
        for (int64_t u = 0; u < 20; ++u) {
          const bool on = b.task && u >= first && u < first + 5;
          run.prompt_values(p, u) = (on ? 9.0 : 0.0) + 0.3 * wobble(rng);
        }
      }
    }
    ASSERT_OK(store_->experiments().MarkRunStarted(run_ids_[i]));
    ASSERT_OK(store_->experiments().MarkRunDone(run_ids_[i], run));
    stored.push_back(run.prompt_values);
  }
  auto inputs = store_->results().LoadRunInputs(id);
  ASSERT_OK(inputs);
  ASSERT_EQ(inputs->size(), 6u);
  for (analysis::RunInput& input : *inputs) {
    // The values come back bit for bit; labels and texts from the plan.
    EXPECT_TRUE(arma::approx_equal(input.prompts.values, stored[input.index],
                                   "absdiff", 0.0));
    auto prompts = analysis::MakeRunPrompts(plans_[input.index],
                                            std::move(input.prompts.values));
    ASSERT_OK(prompts);
    input.prompts = *std::move(prompts);
  }
  auto result = analysis::AnalyzeExperiment(spec_, *inputs);
  ASSERT_OK(result);
  auto stored_layout = store_->experiments().ExperimentLayout(id);
  ASSERT_OK(stored_layout);
  ASSERT_OK(store_->results().SaveAnalysis(id, *result, *stored_layout));

  NetworkListQuery list;
  list.experiment_id = id;
  auto networks = store_->queries().ListNetworks(list, kAlice);
  ASSERT_OK(networks);
  ASSERT_EQ(networks->size(), 2u);
  NetworkQuery get;
  get.network_id = (*networks)[0].id;
  auto alpha = store_->queries().GetNetwork(get, kAlice);
  ASSERT_OK(alpha);
  EXPECT_EQ((*networks)[0].condition, "alpha");
  // Stored as analysed: the planted units, and whatever FDR let through
  // among the 15 null units of this small random sample.
  std::set<int64_t> units;
  for (const NetworkUnit& u : alpha->units) units.insert(u.unit);
  const std::vector<int64_t>& analysed = result->networks[0].units;
  EXPECT_EQ(units, std::set<int64_t>(analysed.begin(), analysed.end()));
  for (int64_t u = 0; u < 5; ++u) EXPECT_EQ(units.count(u), 1u) << u;
  EXPECT_EQ(alpha->total_units, static_cast<int64_t>(analysed.size()));
  EXPECT_EQ((*networks)[0].inference, "prompt");
  auto c = store_->queries().GetClassification(id, kAlice);
  ASSERT_OK(c);
  EXPECT_EQ(c->predictions.size(), result->held_out.size());
  EXPECT_DOUBLE_EQ(c->accuracy, 1.0);
  auto rep = store_->queries().GetRepeatability(id, kAlice);
  ASSERT_OK(rep);
  EXPECT_EQ(rep->conditions[0].pairs.size(), 3u);
  EXPECT_DOUBLE_EQ(rep->mean_dice, 1.0);
  // Every leave-one-out network is stored with its own map.
  EXPECT_EQ(Count("SELECT count(*) FROM networks n JOIN glm_maps g ON "
                  "g.id = n.glm_map_id WHERE n.excluded_run_id = "
                  "g.excluded_run_id"),
            Count("SELECT count(*) FROM networks WHERE excluded_run_id IS "
                  "NOT NULL"));
  EXPECT_EQ(Count("SELECT count(*) FROM networks WHERE glm_map_id IS NULL"), 0);
}

// Wall and thread CPU time of one call, in milliseconds, for the timing
// report (CPU time is what a busy shared machine distorts least).

struct Timing {
  double wall_ms = 0, cpu_ms = 0;
};

double ThreadCpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

template <typename F>
Timing Time(F&& f) {
  const auto wall = std::chrono::steady_clock::now();
  const double cpu = ThreadCpuMs();
  f();
  return {std::chrono::duration<double, std::milli>(
              std::chrono::steady_clock::now() - wall)
              .count(),
          ThreadCpuMs() - cpu};
}

std::ostream& operator<<(std::ostream& os, const Timing& t) {
  return os << t.wall_ms << " ms wall, " << t.cpu_ms << " ms CPU";
}

// 160k units (10 hooks of 16000), six runs, and an analysis with 6
// condition maps and 30 networks of 5000 units each.
analysis::AnalysisResult LargeResult(const Layout& layout,
                                     const std::vector<int64_t>& run_ids,
                                     const std::vector<RunPlan>& plans) {
  analysis::AnalysisResult r;
  for (int m = 0; m < 6; ++m) {
    r.condition_maps.push_back(
        MakeMap(layout.width(), m, m % 2 ? "beta > rest" : "alpha > rest"));
  }
  for (int k = 0; k < 30; ++k) {
    analysis::Network n;
    n.threshold_method = "fdr";
    if (k < 2) {
      n.kind = analysis::NetworkKind::kCondition;
      n.map_index = k;
      n.condition = k ? "beta" : "alpha";
    } else if (k < 8) {
      n.kind = analysis::NetworkKind::kRun;
      n.run_id = run_ids[k - 2];
      n.condition = plans[k - 2].condition_name;
    } else {
      n.kind = analysis::NetworkKind::kLeaveOneOut;
      n.map_index = 2 + k % 4;
      n.condition = n.map_index % 2 ? "beta" : "alpha";
      n.excluded_run_id = run_ids[n.map_index - 2];
    }
    for (int64_t u = k; n.units.size() < 5000; u += 31) {
      n.units.push_back(u);
      n.t.push_back(std::sin(0.1 * u) * 6);
      n.beta.push_back(0.5);
      n.p.push_back(0.001);
      n.q.push_back(0.01);
    }
    r.networks.push_back(std::move(n));
  }
  for (int a = 0; a < 2; ++a) {
    for (int b = a + 1; b < 8; ++b) r.overlaps.push_back({a, b, 10, 0.1, 0.05});
  }
  return r;
}

// The paper's scale. Prints the times (the figures the worker's latency
// budget rests on); asserts only generous bounds so that a slow machine does
// not fail it.

TEST_F(ResultStoreTest, LargeAnalysisIsFast) {
  std::vector<HookSpec> hooks;
  for (int l = 0; l < 10; ++l) {
    hooks.push_back({absl::StrCat("blocks.", l, ".mlp_post"), 16000});
  }
  const Layout layout(hooks);
  const int64_t id = Create();
  FinishAll(layout);
  const analysis::AnalysisResult r = LargeResult(layout, run_ids_, plans_);

  const Timing save =
      Time([&] { ASSERT_OK(store_->results().SaveAnalysis(id, r, layout)); });
  const Timing resave =
      Time([&] { ASSERT_OK(store_->results().SaveAnalysis(id, r, layout)); });
  EXPECT_EQ(Count("SELECT count(*) FROM network_units"), 30 * 5000);

  NetworkListQuery list;
  list.experiment_id = id;
  absl::StatusOr<std::vector<NetworkSummary>> networks;
  const Timing list_time =
      Time([&] { networks = store_->queries().ListNetworks(list, kAlice); });
  ASSERT_OK(networks);
  NetworkQuery get;
  get.network_id = (*networks)[0].id;
  absl::StatusOr<NetworkPage> page;
  const Timing get_time =
      Time([&] { page = store_->queries().GetNetwork(get, kAlice); });
  ASSERT_OK(page);
  EXPECT_EQ(page->total_units, 5000);
  get.page_size = 10000;
  const Timing get_all =
      Time([&] { page = store_->queries().GetNetwork(get, kAlice); });
  EXPECT_EQ(page->units.size(), 5000u);
  get.hook = "blocks.3.*";
  const Timing get_filtered =
      Time([&] { page = store_->queries().GetNetwork(get, kAlice); });
  ASSERT_OK(page);
  EXPECT_EQ(page->total_units, static_cast<int64_t>(page->units.size()));

  UnitQuery find;
  find.experiment_id = id;
  find.unit = 31 * 7;
  absl::StatusOr<UnitNetworks> found;
  const Timing find_time =
      Time([&] { found = store_->queries().FindUnit(find, kAlice); });
  ASSERT_OK(found);
  EXPECT_GE(found->networks.size(), 1u);
  absl::StatusOr<NetworkComparison> cmp;
  const Timing compare_time = Time([&] {
    cmp = store_->queries().CompareNetworks(id, NetworkKind::kLeaveOneOut,
                                            kAlice);
  });
  ASSERT_OK(cmp);
  EXPECT_EQ(cmp->overlaps.size(), 22u * 21 / 2);
  StatMapQuery stat;
  stat.experiment_id = id;
  stat.condition = "alpha";
  absl::StatusOr<StoredStatMap> map;
  const Timing stat_time =
      Time([&] { map = store_->queries().GetStatMap(stat, kAlice); });
  ASSERT_OK(map);
  EXPECT_EQ(map->map.t.n_elem, 160000u);
  absl::StatusOr<std::vector<analysis::RunInput>> inputs;
  const Timing inputs_time =
      Time([&] { inputs = store_->results().LoadRunInputs(id); });
  ASSERT_OK(inputs);

  std::cout << "SaveAnalysis (6 maps x 160k units, 30 networks x 5k): " << save
            << "\n  again, replacing it: " << resave
            << "\nListNetworks (2): " << list_time
            << "\nGetNetwork, first 100 of 5k: " << get_time
            << "\nGetNetwork, all 5k: " << get_all
            << "\nGetNetwork, hook-filtered: " << get_filtered
            << "\nFindUnit: " << find_time
            << "\nCompareNetworks, 22 leave-one-out (computed): "
            << compare_time << "\nGetStatMap, 160k units: " << stat_time
            << "\nLoadRunInputs, 6 x 160k units: " << inputs_time << "\n";
  EXPECT_LT(save.cpu_ms, 20000);
  EXPECT_LT(get_time.cpu_ms, 2000);
}

}  // namespace
}  // namespace fnprobe::worker::store_test
