// An experiment is planned once, at submission, and its plan is stored
// (run_prompts): generation, resume, run events and re-analysis read it
// back and never plan the spec again, so a later planner cannot change an
// experiment's prompts. Experiments stored before plans were have no
// prompt rows: one of the current planner's version is planned from its
// spec; one of an earlier planner (which drew baseline prompts per run) is
// failed rather than resumed with another plan's prompts, and shows no
// prompts rather than wrong ones.
#include <SQLiteCpp/Database.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/run_planner.h"
#include "server/analysis/worker/experiment_phase.h"
#include "server/analysis/worker/experiment_runner.h"
#include "server/analysis/worker/worker_store.h"
#include "tests/analysis/worker/fake_inference_server.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::worker {
namespace {

using ::fnprobe::testing::FakeInferenceServer;
using ::fnprobe::testing::ScopedTempDir;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

constexpr char kModel[] = "fake-model";

v1::ExperimentSpec Spec() {
  v1::ExperimentSpec spec;
  spec.set_name("versions");
  spec.set_model(kModel);
  spec.mutable_generation()->set_tokens_per_prompt(4);
  spec.mutable_baseline()->set_name("rest");
  for (int i = 0; i < 8; ++i) {
    spec.mutable_baseline()->add_prompts(absl::StrCat("rest prompt ", i));
  }
  v1::PromptPool* pool = spec.add_conditions();
  pool->set_name("alpha");
  for (int i = 0; i < 4; ++i) {
    pool->add_prompts(absl::StrCat("alpha prompt ", i));
  }
  v1::BlockDesign* d = spec.mutable_design();
  for (const char* b : {"baseline", "task", "baseline"}) d->add_pattern(b);
  d->set_prompts_per_block(2);
  d->set_repeats(2);
  EXPECT_OK(ValidateSpec(spec));
  return WithDefaults(spec);
}

// Runs the runner over the store until every experiment in `ids` is final.
std::vector<ExperimentRow> RunToEnd(WorkerStore& store,
                                    FakeInferenceServer& fake,
                                    const std::string& data_dir,
                                    const std::vector<int64_t>& ids) {
  InferencePoolOptions pool_options;
  pool_options.addresses = {fake.address()};
  auto pool = InferencePool::Create(pool_options);
  EXPECT_OK(pool);
  ProgressHub hub;
  ExperimentRunnerOptions options;
  options.data_dir = data_dir;
  options.max_concurrent_runs = 1;
  ExperimentRunner runner(&store, pool->get(), &hub, options);
  EXPECT_OK(runner.Start());
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  std::vector<ExperimentRow> out;
  while (absl::Now() < deadline) {
    out.clear();
    bool all_final = true;
    for (int64_t id : ids) {
      out.push_back(*store.experiments().GetExperiment(id, ""));
      all_final = all_final && IsTerminalPhase(out.back().phase);
    }
    if (all_final) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  runner.Stop();
  return out;
}

void Execute(const std::string& db_path, const std::string& sql) {
  SQLite::Database db(db_path, SQLite::OPEN_READWRITE);
  db.exec(sql);
}

TEST(StoredPlanTest, ThePlanStoredAtSubmissionIsReadBackNotReplanned) {
  ScopedTempDir dir;
  auto store = WorkerStore::Open(dir.path() + "/fnprobe.db");
  ASSERT_OK(store);
  const v1::ExperimentSpec spec = Spec();
  // A plan today's planner would not make from this spec: each run's
  // prompts renamed, as a changed planner would draw others.
  std::vector<RunPlan> plans = PlanRuns(spec);
  std::vector<std::string> sent;
  for (RunPlan& plan : plans) {
    for (std::string& prompt : plan.prompts) {
      prompt = absl::StrCat(prompt, " (as planned then)");
      sent.push_back(prompt);
    }
  }
  auto id = (*store)->experiments().CreateExperiment("", spec, plans);
  ASSERT_OK(id);

  auto loaded = (*store)->experiments().LoadPlans(*id);
  ASSERT_OK(loaded);
  ASSERT_EQ(loaded->size(), plans.size());
  for (size_t i = 0; i < plans.size(); ++i) {
    const RunPlan& a = (*loaded)[i];
    const RunPlan& b = plans[i];
    EXPECT_EQ(a.index, b.index);
    EXPECT_EQ(a.condition, b.condition);
    EXPECT_EQ(a.condition_name, b.condition_name);
    EXPECT_EQ(a.repeat, b.repeat);
    EXPECT_EQ(a.prompts, b.prompts);
    EXPECT_EQ(a.time_points, b.time_points);
    ASSERT_EQ(a.blocks.size(), b.blocks.size());
    for (size_t k = 0; k < a.blocks.size(); ++k) {
      EXPECT_EQ(a.blocks[k].task, b.blocks[k].task);
      EXPECT_EQ(a.blocks[k].first_prompt, b.blocks[k].first_prompt);
      EXPECT_EQ(a.blocks[k].num_prompts, b.blocks[k].num_prompts);
    }
    ASSERT_EQ(a.events.size(), b.events.size());
    for (size_t k = 0; k < a.events.size(); ++k) {
      EXPECT_DOUBLE_EQ(a.events[k].onset, b.events[k].onset);
      EXPECT_DOUBLE_EQ(a.events[k].duration, b.events[k].duration);
      EXPECT_EQ(a.events[k].trial_type, b.events[k].trial_type);
    }
  }
  auto shown = (*store)->queries().GetRunEvents(*id, 1, "");
  ASSERT_OK(shown);
  EXPECT_THAT(shown->prompts, ElementsAreArray(plans[1].prompts));

  auto fake = FakeInferenceServer::Start(kModel);
  ASSERT_NE(fake, nullptr);
  const std::vector<ExperimentRow> done =
      RunToEnd(**store, *fake, dir.path(), {*id});
  EXPECT_EQ(done[0].phase, ExperimentPhase::kDone) << done[0].error;
  // Generation sent the stored prompts, in plan order.
  EXPECT_EQ(fake->prompts_seen(), sent);
}

TEST(StoredPlanTest, ReanalysisRetimesEventsFromTheStoredBlocks) {
  ScopedTempDir dir;
  auto store = WorkerStore::Open(dir.path() + "/fnprobe.db");
  ASSERT_OK(store);
  const v1::ExperimentSpec spec = Spec();
  auto id = (*store)->experiments().CreateExperiment("", spec, PlanRuns(spec));
  ASSERT_OK(id);
  v1::AnalysisSpec analysis = spec.analysis();
  analysis.set_tokens_per_second(spec.analysis().tokens_per_second() * 2);
  ASSERT_OK((*store)->experiments().SetAnalysisSpec(*id, analysis));
  auto events = (*store)->queries().GetRunEvents(*id, 0, "");
  ASSERT_OK(events);
  // Three blocks of two 4-token prompts: block b starts at b * 8 tokens.
  ASSERT_EQ(events->events.size(), 3u);
  const double seconds_per_token = 1.0 / analysis.tokens_per_second();
  for (int b = 0; b < 3; ++b) {
    EXPECT_DOUBLE_EQ(events->events[b].onset, b * 8 * seconds_per_token);
    EXPECT_DOUBLE_EQ(events->events[b].duration, 8 * seconds_per_token);
  }
  EXPECT_EQ(events->prompts.size(), 6u);
}

TEST(StoredPlanTest, UnstoredPlansOfThisPlannerArePlannedFromTheSpec) {
  ScopedTempDir dir;
  const std::string db_path = dir.path() + "/fnprobe.db";
  auto store = WorkerStore::Open(db_path);
  ASSERT_OK(store);
  const v1::ExperimentSpec spec = Spec();
  auto id = (*store)->experiments().CreateExperiment("", spec, PlanRuns(spec));
  ASSERT_OK(id);
  // As stored before plans were.
  Execute(db_path, "DELETE FROM run_prompts");
  auto loaded = (*store)->experiments().LoadPlans(*id);
  ASSERT_OK(loaded);
  const std::vector<RunPlan> planned = PlanRuns(spec);
  ASSERT_EQ(loaded->size(), planned.size());
  for (size_t i = 0; i < planned.size(); ++i) {
    EXPECT_EQ((*loaded)[i].prompts, planned[i].prompts);
  }
}

TEST(StoredPlanTest, EarlierPlansAreNeverResumedWithTodaysPrompts) {
  ScopedTempDir dir;
  const std::string db_path = dir.path() + "/fnprobe.db";
  auto store = WorkerStore::Open(db_path);
  ASSERT_OK(store);
  const v1::ExperimentSpec spec = Spec();
  auto current =
      (*store)->experiments().CreateExperiment("", spec, PlanRuns(spec));
  auto earlier =
      (*store)->experiments().CreateExperiment("", spec, PlanRuns(spec));
  ASSERT_OK(current);
  ASSERT_OK(earlier);
  EXPECT_EQ((*store)->experiments().GetExperiment(*current, "")->plan_version,
            kPlanVersion);
  // An experiment of planner version 1, stored before plans were.
  Execute(db_path,
          absl::StrCat("UPDATE experiments SET plan_version = 1 WHERE id = ",
                       *earlier));
  Execute(db_path, absl::StrCat("DELETE FROM run_prompts WHERE run_id IN "
                                "(SELECT id FROM runs WHERE experiment_id = ",
                                *earlier, ")"));
  EXPECT_EQ((*store)->experiments().GetExperiment(*earlier, "")->plan_version,
            1);
  EXPECT_THAT((*store)->experiments().LoadPlans(*earlier).status().message(),
              HasSubstr("planned by an earlier fnprobe (plan version 1"));
  auto old_events = (*store)->queries().GetRunEvents(*earlier, 0, "");
  ASSERT_OK(old_events);
  EXPECT_EQ(old_events->prompts.size(), 0u);
  EXPECT_EQ(old_events->events.size(), 3u);  // stored, so still shown
  EXPECT_EQ((*store)->queries().GetRunEvents(*current, 0, "")->prompts.size(),
            6u);

  auto fake = FakeInferenceServer::Start(kModel);
  ASSERT_NE(fake, nullptr);
  const std::vector<ExperimentRow> ended =
      RunToEnd(**store, *fake, dir.path(), {*earlier, *current});
  EXPECT_EQ(ended[0].phase, ExperimentPhase::kFailed);
  EXPECT_THAT(ended[0].error, HasSubstr("planned by an earlier fnprobe"));
  for (const RunRow& run : ended[0].runs) {
    EXPECT_NE(run.state, RunState::kDone);
  }
  EXPECT_EQ(ended[1].phase, ExperimentPhase::kDone) << ended[1].error;
}

}  // namespace
}  // namespace fnprobe::worker
