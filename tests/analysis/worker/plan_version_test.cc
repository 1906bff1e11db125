// Experiments are re-planned from their spec, so the planner's version is
// stored with each (kPlanVersion): one planned by an earlier planner (which
// drew baseline prompts per run) is failed at start-up rather than resumed
// with another plan's prompts, and shows no prompts rather than wrong ones.
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

TEST(PlanVersionTest, EarlierPlansAreNeverResumedWithTodaysPrompts) {
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
  EXPECT_EQ((*store)->experiments().GetExperiment(*current, "")->plan_version(),
            kPlanVersion);
  {
    SQLite::Database db(db_path, SQLite::OPEN_READWRITE);
    db.exec(absl::StrCat("UPDATE experiments SET plan_version = 1 WHERE id = ",
                         *earlier));
  }
  EXPECT_EQ((*store)->experiments().GetExperiment(*earlier, "")->plan_version(),
            1);
  v1::GetRunEventsRequest events;
  events.set_experiment_id(*earlier);
  auto old_events = (*store)->queries().GetRunEvents(events, "");
  ASSERT_OK(old_events);
  EXPECT_EQ(old_events->prompts_size(), 0);
  EXPECT_EQ(old_events->events_size(), 3);  // stored, so still shown
  events.set_experiment_id(*current);
  EXPECT_EQ((*store)->queries().GetRunEvents(events, "")->prompts_size(), 6);

  auto fake = FakeInferenceServer::Start(kModel);
  ASSERT_NE(fake, nullptr);
  InferencePoolOptions pool_options;
  pool_options.addresses = {fake->address()};
  auto pool = InferencePool::Create(pool_options);
  ASSERT_OK(pool);
  ProgressHub hub;
  ExperimentRunnerOptions options;
  options.data_dir = dir.path();
  options.max_concurrent_runs = 1;
  ExperimentRunner runner(store->get(), pool->get(), &hub, options);
  ASSERT_OK(runner.Start());
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  v1::Experiment e_old, e_new;
  while (absl::Now() < deadline) {
    e_old = *(*store)->experiments().GetExperiment(*earlier, "");
    e_new = *(*store)->experiments().GetExperiment(*current, "");
    if (IsTerminalPhase(e_old.phase()) && IsTerminalPhase(e_new.phase())) {
      break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  runner.Stop();
  EXPECT_EQ(e_old.phase(), v1::PHASE_FAILED);
  EXPECT_THAT(e_old.error(), HasSubstr("planned by an earlier fnprobe"));
  for (const v1::Run& run : e_old.runs()) EXPECT_NE(run.state(), v1::RUN_DONE);
  EXPECT_EQ(e_new.phase(), v1::PHASE_DONE) << e_new.error();
}

}  // namespace
}  // namespace fnprobe::worker
