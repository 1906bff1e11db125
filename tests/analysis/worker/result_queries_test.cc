#include "server/analysis/worker/result_queries.h"

#include "tests/analysis/worker/store_test_fixture.h"

namespace fnprobe::worker::store_test {
namespace {

// The reads ExperimentService answers, with ownership.
using ResultQueriesTest = StoreTest;

TEST_F(ResultQueriesTest, ListNetworksByKindAndCondition) {
  const int64_t id = Analyzed();
  NetworkListQuery request;
  request.experiment_id = id;
  auto list = store_->queries().ListNetworks(request, kAlice);
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 2u);
  const NetworkSummary& alpha = (*list)[0];
  EXPECT_EQ(alpha.kind, NetworkKind::kCondition);
  EXPECT_EQ(alpha.experiment_id, id);
  EXPECT_EQ(alpha.condition, "alpha");
  EXPECT_EQ(alpha.contrast, "alpha > rest");
  EXPECT_EQ(alpha.threshold_method, "fdr");
  EXPECT_DOUBLE_EQ(alpha.alpha, 0.05);
  EXPECT_DOUBLE_EQ(alpha.threshold, 2.5);
  EXPECT_EQ(alpha.size, 4);
  EXPECT_EQ(alpha.layout_hash, SmallLayout().hash());
  EXPECT_DOUBLE_EQ(alpha.dof, 30);  // MakeMap(20, 10).dof
  ASSERT_EQ(alpha.size_by_hook.size(), 4u);
  EXPECT_EQ(alpha.size_by_hook[0].hook, "embed");
  EXPECT_EQ(alpha.size_by_hook[3].hook, "final_norm");
  for (int h = 0; h < 4; ++h) EXPECT_EQ(alpha.size_by_hook[h].count, 1);
  const NetworkSummary& beta = (*list)[1];
  EXPECT_EQ(beta.condition, "beta");
  ASSERT_EQ(beta.size_by_hook.size(), 4u);
  EXPECT_EQ(beta.size_by_hook[0].count, 0);
  EXPECT_EQ(beta.size_by_hook[1].count, 2);
  EXPECT_EQ(beta.size_by_hook[2].count, 1);
  EXPECT_EQ(beta.size_by_hook[3].count, 0);

  request.kind = NetworkKind::kRun;
  request.condition = "alpha";
  list = store_->queries().ListNetworks(request, kAlice);
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ((*list)[i].kind, NetworkKind::kRun);
    EXPECT_EQ((*list)[i].run_id, run_ids_[2 * i]);
    EXPECT_EQ((*list)[i].repeat, i);
    EXPECT_DOUBLE_EQ((*list)[i].dof, 20 + 2 * i);
  }
  request.kind = NetworkKind::kLeaveOneOut;
  request.condition.clear();
  list = store_->queries().ListNetworks(request, kAlice);
  ASSERT_OK(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].excluded_run_id, run_ids_[0]);
  EXPECT_DOUBLE_EQ((*list)[0].dof, 32);
  request.condition = "gamma";
  EXPECT_EQ(store_->queries().ListNetworks(request, kAlice)->size(), 0u);
  request.kind = static_cast<NetworkKind>(9);
  EXPECT_THAT(store_->queries().ListNetworks(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

int64_t ConditionNetworkId(WorkerStore& store, int64_t id,
                           const std::string& condition) {
  NetworkListQuery request;
  request.experiment_id = id;
  request.condition = condition;
  auto list = store.queries().ListNetworks(request, kAlice);
  EXPECT_OK(list);
  EXPECT_EQ(list->size(), 1u);
  return (*list)[0].id;
}

std::vector<int64_t> Units(const NetworkPage& r) {
  std::vector<int64_t> out;
  for (const NetworkUnit& u : r.units) out.push_back(u.unit);
  return out;
}

TEST_F(ResultQueriesTest, GetNetworkOrdersPagesAndFilters) {
  const int64_t id = Analyzed();
  NetworkQuery request;
  request.network_id = ConditionNetworkId(*store_, id, "alpha");
  auto all = store_->queries().GetNetwork(request, kAlice);
  ASSERT_OK(all);
  EXPECT_EQ(all->network.condition, "alpha");
  EXPECT_EQ(all->total_units, 4);
  EXPECT_THAT(Units(*all), ElementsAre(5, 11, 0, 19));  // by |t|
  EXPECT_EQ(all->next_page_token, "");
  const NetworkUnit& top = all->units[0];
  EXPECT_EQ(top.name, "blocks.0.mlp_post[1]");
  EXPECT_DOUBLE_EQ(top.t, -5);
  EXPECT_DOUBLE_EQ(top.beta, -2.5);
  EXPECT_DOUBLE_EQ(top.p, 0.005);
  EXPECT_DOUBLE_EQ(top.q, 0.01);
  EXPECT_EQ(all->units[3].name, "final_norm[3]");

  request.page_size = 3;
  auto first = store_->queries().GetNetwork(request, kAlice);
  ASSERT_OK(first);
  EXPECT_THAT(Units(*first), ElementsAre(5, 11, 0));
  EXPECT_EQ(first->next_page_token, "3");
  request.page_token = first->next_page_token;
  auto second = store_->queries().GetNetwork(request, kAlice);
  ASSERT_OK(second);
  EXPECT_THAT(Units(*second), ElementsAre(19));
  EXPECT_EQ(second->next_page_token, "");
  EXPECT_EQ(second->total_units, 4);

  request.page_token.clear();
  request.page_size = 0;
  request.hook = "blocks.*.mlp_post";
  auto glob = store_->queries().GetNetwork(request, kAlice);
  ASSERT_OK(glob);
  EXPECT_THAT(Units(*glob), ElementsAre(5, 11));
  EXPECT_EQ(glob->total_units, 2);
  request.layer = 1;
  EXPECT_THAT(Units(*store_->queries().GetNetwork(request, kAlice)),
              ElementsAre(11));
  request.hook.clear();
  request.layer = 0;
  EXPECT_THAT(Units(*store_->queries().GetNetwork(request, kAlice)),
              ElementsAre(5));
  request.layer.reset();
  request.hook = "embed";
  EXPECT_THAT(Units(*store_->queries().GetNetwork(request, kAlice)),
              ElementsAre(0));

  request.hook = "blocks.9.*";
  EXPECT_THAT(
      store_->queries().GetNetwork(request, kAlice),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("blocks.9.*")));
  request.hook.clear();
  request.page_token = "x1";
  EXPECT_THAT(store_->queries().GetNetwork(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument));
  request.page_token.clear();
  request.page_size = 10001;
  EXPECT_THAT(store_->queries().GetNetwork(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument));
  request.page_size = 10000;
  EXPECT_OK(store_->queries().GetNetwork(request, kAlice));
  request.network_id = 987654;
  EXPECT_THAT(store_->queries().GetNetwork(request, kAlice),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("network 987654 not found")));
}

TEST_F(ResultQueriesTest, CompareNetworksFillsMatrices) {
  const int64_t id = Analyzed();
  auto cmp =
      store_->queries().CompareNetworks(id, NetworkKind::kUnspecified, kAlice);
  ASSERT_OK(cmp);
  ASSERT_EQ(cmp->networks.size(), 2u);
  EXPECT_THAT(cmp->dice,
              Pointwise(DoubleNear(1e-12),
                        std::vector<double>{1, 2.0 / 7, 2.0 / 7, 1}));
  EXPECT_THAT(cmp->jaccard,
              Pointwise(DoubleNear(1e-12),
                        std::vector<double>{1, 1.0 / 6, 1.0 / 6, 1}));
  ASSERT_EQ(cmp->overlaps.size(), 1u);
  EXPECT_EQ(cmp->overlaps[0].network_a_id, cmp->networks[0].id);
  EXPECT_EQ(cmp->overlaps[0].network_b_id, cmp->networks[1].id);
  EXPECT_EQ(cmp->overlaps[0].intersection, 1);

  // Run networks: one pair stored, the others computed from the units.
  cmp = store_->queries().CompareNetworks(id, NetworkKind::kRun, kAlice);
  ASSERT_OK(cmp);
  ASSERT_EQ(cmp->networks.size(), 4u);
  EXPECT_EQ(cmp->overlaps.size(), 6u);
  const auto cell = [&](int i, int j) { return cmp->dice[i * 4 + j]; };
  // Order by id: alpha run0 {0,5}, alpha run2 {5,11}, alpha run4 {0,5,11},
  // beta run1 {6} (networks were stored in that order).
  EXPECT_DOUBLE_EQ(cell(0, 1), 0.5);
  EXPECT_DOUBLE_EQ(cell(0, 2), 0.8);
  EXPECT_DOUBLE_EQ(cell(2, 1), 0.8);
  EXPECT_DOUBLE_EQ(cell(3, 0), 0.0);
  EXPECT_DOUBLE_EQ(cell(3, 3), 1.0);
  EXPECT_DOUBLE_EQ(cmp->jaccard[0 * 4 + 2], 2.0 / 3);
}

TEST_F(ResultQueriesTest, EmptyNetworkHasZeroDiagonal) {
  const int64_t id = Create();
  FinishAll(SmallLayout());
  analysis::AnalysisResult r = HandResult();
  r.networks[1].units.clear();
  r.networks[1].beta.clear();
  r.networks[1].t.clear();
  r.networks[1].p.clear();
  r.networks[1].q.clear();
  r.overlaps.clear();
  ASSERT_OK(store_->results().SaveAnalysis(id, r, SmallLayout()));
  auto cmp =
      store_->queries().CompareNetworks(id, NetworkKind::kUnspecified, kAlice);
  ASSERT_OK(cmp);
  EXPECT_THAT(cmp->dice, ElementsAre(1, 0, 0, 0));
}

TEST_F(ResultQueriesTest, GetRepeatabilityPairsRunsOfACondition) {
  const int64_t id = Analyzed();
  auto rep = store_->queries().GetRepeatability(id, kAlice);
  ASSERT_OK(rep);
  ASSERT_EQ(rep->conditions.size(), 2u);
  const ConditionRepeatability& alpha = rep->conditions[0];
  EXPECT_EQ(alpha.condition, "alpha");
  ASSERT_EQ(alpha.pairs.size(), 3u);
  EXPECT_EQ(alpha.pairs[0].run_a_id, run_ids_[0]);
  EXPECT_EQ(alpha.pairs[0].run_b_id, run_ids_[2]);
  EXPECT_EQ(alpha.pairs[0].repeat_a, 0);
  EXPECT_EQ(alpha.pairs[0].repeat_b, 1);
  EXPECT_DOUBLE_EQ(alpha.pairs[0].dice, 0.5);
  EXPECT_DOUBLE_EQ(alpha.pairs[1].dice, 0.8);
  EXPECT_EQ(alpha.pairs[2].repeat_a, 1);
  EXPECT_EQ(alpha.pairs[2].repeat_b, 2);
  EXPECT_DOUBLE_EQ(alpha.pairs[2].dice, 0.8);
  EXPECT_DOUBLE_EQ(alpha.mean_dice, 2.1 / 3);
  EXPECT_EQ(rep->conditions[1].condition, "beta");
  EXPECT_EQ(rep->conditions[1].pairs.size(), 0u);
  EXPECT_DOUBLE_EQ(rep->conditions[1].mean_dice, 0);
  EXPECT_DOUBLE_EQ(rep->mean_dice, 2.1 / 3);
}

TEST_F(ResultQueriesTest, GetClassification) {
  const int64_t id = Analyzed();
  auto c = store_->queries().GetClassification(id, kAlice);
  ASSERT_OK(c);
  EXPECT_THAT(c->conditions, ElementsAre("alpha", "beta"));
  EXPECT_DOUBLE_EQ(c->accuracy, 1.0);
  EXPECT_DOUBLE_EQ(c->accuracy_by_correlation, 0.0);
  EXPECT_DOUBLE_EQ(c->chance, 0.5);
  EXPECT_THAT(c->confusion, ElementsAre(1, 0, 0, 0));
  ASSERT_EQ(c->predictions.size(), 1u);
  const HeldOutPrediction& p = c->predictions[0];
  EXPECT_EQ(p.run_id, run_ids_[0]);
  EXPECT_EQ(p.repeat, 0);
  EXPECT_EQ(p.true_condition, "alpha");
  EXPECT_EQ(p.predicted_condition, "alpha");
  EXPECT_EQ(p.predicted_condition_by_correlation, "beta");
  ASSERT_EQ(p.scores.size(), 2u);
  EXPECT_EQ(p.scores[0].condition, "alpha");
  EXPECT_DOUBLE_EQ(p.scores[0].mean_t, 2.0);
  EXPECT_DOUBLE_EQ(p.scores[0].correlation, 0.5);
  NetworkListQuery loo;
  loo.experiment_id = id;
  loo.kind = NetworkKind::kLeaveOneOut;
  EXPECT_EQ(p.scores[0].network_id,
            (*store_->queries().ListNetworks(loo, kAlice))[0].id);
  EXPECT_EQ(p.scores[1].network_id, ConditionNetworkId(*store_, id, "beta"));

  const int64_t fresh = Create(kAlice, "fresh");
  EXPECT_THAT(
      store_->queries().GetClassification(fresh, kAlice),
      StatusIs(absl::StatusCode::kNotFound, HasSubstr("no classification")));
}

TEST_F(ResultQueriesTest, GetRunEventsReplansPrompts) {
  const int64_t id = Create();
  for (int index = 0; index < 6; ++index) {
    auto r = store_->queries().GetRunEvents(id, index, kAlice);
    ASSERT_OK(r);
    EXPECT_EQ(r->run.id, run_ids_[index]);
    EXPECT_EQ(r->run.index, index);
    ASSERT_EQ(r->events.size(), plans_[index].events.size());
    for (size_t e = 0; e < r->events.size(); ++e) {
      EXPECT_DOUBLE_EQ(r->events[e].onset, plans_[index].events[e].onset);
      EXPECT_DOUBLE_EQ(r->events[e].duration, plans_[index].events[e].duration);
      EXPECT_EQ(r->events[e].trial_type, plans_[index].events[e].trial_type);
    }
    EXPECT_EQ(r->events_tsv, EventsTsv(plans_[index]));
    EXPECT_THAT(r->prompts, ::testing::ElementsAreArray(plans_[index].prompts));
    EXPECT_EQ(r->generated_texts.size(), 0u) << "no tokens stored yet";
  }
  EXPECT_THAT(store_->queries().GetRunEvents(id, 6, kAlice),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("6")));
  EXPECT_THAT(store_->queries().GetRunEvents(id, -1, kAlice),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("-1")));
}

// A done run serves what each prompt generated: its tokens' texts joined in
// step order (Finished stores 4 tokens "t0".."t3" for prompts 0 and 1).
TEST_F(ResultQueriesTest, GetRunEventsServesGeneratedTexts) {
  const int64_t id = Create();
  ASSERT_OK(RunToDone(0, SmallLayout()));
  auto r = store_->queries().GetRunEvents(id, 0, kAlice);
  ASSERT_OK(r);
  EXPECT_THAT(r->generated_texts,
              ::testing::ElementsAre("t0t1t2t3", "t0t1t2t3"));
  EXPECT_EQ(
      store_->queries().GetRunEvents(id, 1, kAlice)->generated_texts.size(),
      0u);
}

TEST_F(ResultQueriesTest, FindUnitListsEveryNetworkWithIt) {
  const int64_t id = Analyzed();
  UnitQuery request;
  request.experiment_id = id;
  request.unit_name = "blocks.0.mlp_post[1]";
  auto found = store_->queries().FindUnit(request, kAlice);
  ASSERT_OK(found);
  EXPECT_EQ(found->unit, 5);
  EXPECT_EQ(found->name, "blocks.0.mlp_post[1]");
  // Unit 5 is in both condition networks, the three alpha run networks and
  // the leave-one-out network; not in beta's run network.
  ASSERT_EQ(found->networks.size(), 6u);
  EXPECT_EQ(found->networks[0].network.condition, "alpha");
  EXPECT_EQ(found->networks[0].network.kind, NetworkKind::kCondition);
  EXPECT_DOUBLE_EQ(found->networks[0].unit.t, -5);
  EXPECT_EQ(found->networks[0].unit.name, "blocks.0.mlp_post[1]");
  EXPECT_EQ(found->networks[1].network.condition, "beta");
  EXPECT_EQ(found->networks[5].network.kind, NetworkKind::kLeaveOneOut);
  EXPECT_DOUBLE_EQ(found->networks[5].unit.t, 6);
  EXPECT_EQ(found->networks[0].network.size_by_hook.size(), 4u);

  request.unit_name.clear();
  request.unit = 19;
  found = store_->queries().FindUnit(request, kAlice);
  ASSERT_OK(found);
  EXPECT_EQ(found->name, "final_norm[3]");
  ASSERT_EQ(found->networks.size(), 1u);
  request.unit = 3;
  EXPECT_EQ(store_->queries().FindUnit(request, kAlice)->networks.size(), 0u);
  request.unit = 20;
  EXPECT_THAT(store_->queries().FindUnit(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("20")));
  request.unit_name = "blocks.7.nope[3]";
  EXPECT_THAT(store_->queries().FindUnit(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("blocks.7.nope[3]")));
}

TEST_F(ResultQueriesTest, GetStatMapOfConditionOrRun) {
  const int64_t id = Analyzed();
  StatMapQuery request;
  request.experiment_id = id;
  request.condition = "alpha";
  auto map = store_->queries().GetStatMap(request, kAlice);
  ASSERT_OK(map);
  // The condition's own map, not its leave-one-out map (also "alpha").
  const analysis::StatMap expected = HandResult().condition_maps[0];
  EXPECT_EQ(map->condition, "alpha");
  EXPECT_EQ(map->run_id, 0);
  EXPECT_EQ(map->map.contrast, "alpha > rest");
  EXPECT_DOUBLE_EQ(map->map.dof, expected.dof);
  EXPECT_THAT(Vec(map->map.t), ::testing::ElementsAreArray(Vec(expected.t)));
  EXPECT_THAT(Vec(map->map.effect),
              ::testing::ElementsAreArray(Vec(expected.effect)));
  EXPECT_THAT(Vec(map->map.p), ::testing::ElementsAreArray(Vec(expected.p)));
  ASSERT_TRUE(map->layout.has_value());
  EXPECT_EQ(map->layout->width(), 20);

  request.condition.clear();
  request.run_id = run_ids_[3];
  map = store_->queries().GetStatMap(request, kAlice);
  ASSERT_OK(map);
  EXPECT_EQ(map->run_id, run_ids_[3]);
  EXPECT_EQ(map->condition, "beta");
  EXPECT_THAT(Vec(map->map.t), ::testing::ElementsAreArray(
                                   Vec(Finished(3, SmallLayout()).map.t)));

  request.condition = "alpha";
  EXPECT_THAT(store_->queries().GetStatMap(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument));
  request.run_id = 0;
  request.condition.clear();
  EXPECT_THAT(store_->queries().GetStatMap(request, kAlice),
              StatusIs(absl::StatusCode::kInvalidArgument));
  request.condition = "gamma";
  EXPECT_THAT(store_->queries().GetStatMap(request, kAlice),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("gamma")));
}

TEST_F(ResultQueriesTest, AnotherUserSeesNothing) {
  const int64_t id = Analyzed();
  const auto not_found = StatusIs(absl::StatusCode::kNotFound,
                                  HasSubstr(absl::StrCat("experiment ", id)));
  EXPECT_THAT(store_->experiments().GetExperiment(id, kBob), not_found);
  EXPECT_EQ(
      store_->experiments().ListExperiments(kBob, 0, "")->experiments.size(),
      0);
  NetworkListQuery list;
  list.experiment_id = id;
  EXPECT_THAT(store_->queries().ListNetworks(list, kBob), not_found);
  NetworkQuery get;
  get.network_id = ConditionNetworkId(*store_, id, "alpha");
  EXPECT_THAT(store_->queries().GetNetwork(get, kBob),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("network")));
  EXPECT_THAT(
      store_->queries().CompareNetworks(id, NetworkKind::kUnspecified, kBob),
      not_found);
  EXPECT_THAT(store_->queries().GetRepeatability(id, kBob), not_found);
  EXPECT_THAT(store_->queries().GetClassification(id, kBob), not_found);
  EXPECT_THAT(store_->queries().GetRunEvents(id, 0, kBob), not_found);
  UnitQuery find;
  find.experiment_id = id;
  find.unit = 5;
  EXPECT_THAT(store_->queries().FindUnit(find, kBob), not_found);
  StatMapQuery stat;
  stat.experiment_id = id;
  stat.condition = "alpha";
  EXPECT_THAT(store_->queries().GetStatMap(stat, kBob), not_found);
  // The owner and the worker (empty user) do see it.
  EXPECT_OK(store_->queries().GetStatMap(stat, kAlice));
  EXPECT_OK(store_->queries().GetStatMap(stat, ""));
}

}  // namespace
}  // namespace fnprobe::worker::store_test
