#include "server/analysis/worker/experiment_store.h"

#include "server/analysis/worker/proto_conversion.h"
#include "tests/analysis/worker/store_test_fixture.h"

namespace fnprobe::worker::store_test {
namespace {

// Experiments and runs: creation, phases, the run lifecycle, reopening.
using ExperimentStoreTest = StoreTest;

TEST_F(ExperimentStoreTest, CreateStoresSpecRunsAndEvents) {
  const int64_t id = Create();
  auto e = store_->experiments().GetExperiment(id, kAlice);
  ASSERT_OK(e);
  EXPECT_EQ(e->id, id);
  EXPECT_EQ(e->name, "topics");
  EXPECT_EQ(e->owner, kAlice);
  EXPECT_EQ(e->spec.model(), "tiny-model");
  EXPECT_EQ(e->phase, ExperimentPhase::kQueued);
  EXPECT_TRUE(MessageDifferencer::Equals(e->spec, spec_))
      << e->spec.DebugString();
  EXPECT_THAT(e->created_at, HasSubstr("T"));
  EXPECT_EQ(e->started_at, "");
  EXPECT_FALSE(e->layout.has_value());
  ASSERT_EQ(e->runs.size(), 6);
  for (int i = 0; i < 6; ++i) {
    const RunRow& run = e->runs[i];
    EXPECT_EQ(run.index, i);
    EXPECT_EQ(run.condition, plans_[i].condition_name);
    EXPECT_EQ(run.repeat, plans_[i].repeat);
    EXPECT_EQ(run.state, RunState::kPending);
    EXPECT_EQ(run.time_points, 24);
    EXPECT_EQ(run.attempts, 0);
  }
  EXPECT_EQ(e->progress.runs_total, 6);
  EXPECT_EQ(e->progress.runs_done, 0);
  EXPECT_EQ(e->progress.tokens_total, 6 * 24);
  EXPECT_EQ(Count("SELECT count(*) FROM events"), 6 * 3);
  EXPECT_EQ(Count("SELECT count(*) FROM events WHERE prompt_index = 2 AND "
                  "trial_type <> 'rest'"),
            6);
}

TEST_F(ExperimentStoreTest, CreateRefusesNoPlansAndWritesNothing) {
  EXPECT_THAT(store_->experiments().CreateExperiment(kAlice, SmallSpec(), {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Count("SELECT count(*) FROM experiments"), 0);
}

TEST_F(ExperimentStoreTest, EmptyUserIsAnonymousAndEmptyReaderIsAnyone) {
  const int64_t id = Create("");
  auto e = store_->experiments().GetExperiment(id, "");
  ASSERT_OK(e);
  EXPECT_EQ(e->owner, kAnonymousUser);
  EXPECT_OK(store_->experiments().GetExperiment(id, kAnonymousUser));
  EXPECT_THAT(store_->experiments().GetExperiment(id, kAlice),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ExperimentStoreTest, GetWithoutRunsStillHasProgress) {
  const int64_t id = Create();
  ASSERT_OK(RunToDone(0, SmallLayout()));
  ASSERT_OK(store_->experiments().MarkRunStarted(run_ids_[1]));
  ASSERT_OK(store_->experiments().SetRunTokens(run_ids_[1], 10));
  for (bool include_runs : {true, false}) {
    auto e = store_->experiments().GetExperiment(id, kAlice, include_runs);
    ASSERT_OK(e);
    EXPECT_EQ(e->runs.size(), include_runs ? 6 : 0);
    EXPECT_EQ(e->progress.runs_done, 1);
    EXPECT_EQ(e->progress.tokens_done, 24 + 10);
    EXPECT_EQ(e->progress.tokens_total, 144);
    // The layout is known once a run is done.
    ASSERT_TRUE(e->layout.has_value());
    EXPECT_EQ(e->layout->size(), 4);
    EXPECT_EQ(e->layout->hash(), SmallLayout().hash());
    EXPECT_EQ(e->layout->width(), 20);
  }
}

TEST_F(ExperimentStoreTest, MissingExperimentIsNotFoundNamingIt) {
  EXPECT_THAT(store_->experiments().GetExperiment(42, kAlice),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("experiment 42 not found")));
  EXPECT_THAT(store_->experiments().ListRuns(42),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->experiments().SetPhase(42, ExperimentPhase::kDone),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->experiments().ExperimentLayout(42),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ExperimentStoreTest, ListExperimentsPagesNewestFirstPerUser) {
  std::vector<int64_t> mine;
  for (int i = 0; i < 5; ++i) {
    mine.push_back(Create(kAlice, absl::StrCat("exp", i)));
    if (i == 2) Create(kBob, "bobs");
  }
  std::vector<int64_t> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = store_->experiments().ListExperiments(kAlice, 2, token);
    ASSERT_OK(page);
    ++pages;
    EXPECT_LE(page->experiments.size(), 2);
    for (const ExperimentRow& e : page->experiments) {
      seen.push_back(e.id);
      EXPECT_EQ(e.owner, kAlice);
      EXPECT_EQ(e.runs.size(), 0);
      EXPECT_EQ(e.progress.runs_total, 6);
      // Prompts are left out; the pools keep their names.
      EXPECT_EQ(e.spec.baseline().prompts_size(), 0);
      EXPECT_EQ(e.spec.baseline().name(), "rest");
      ASSERT_EQ(e.spec.conditions_size(), 2);
      EXPECT_EQ(e.spec.conditions(1).name(), "beta");
      EXPECT_EQ(e.spec.conditions(1).prompts_size(), 0);
    }
    token = page->next_page_token;
  } while (!token.empty());
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAre(mine[4], mine[3], mine[2], mine[1], mine[0]));

  auto all = store_->experiments().ListExperiments("", 0, "");
  ASSERT_OK(all);
  EXPECT_EQ(all->experiments.size(), 6);
  EXPECT_EQ(all->next_page_token, "");
  auto bobs = store_->experiments().ListExperiments(kBob, 0, "");
  ASSERT_OK(bobs);
  ASSERT_EQ(bobs->experiments.size(), 1);
  EXPECT_EQ(bobs->experiments[0].name, "bobs");

  EXPECT_THAT(store_->experiments().ListExperiments(kAlice, 2, "bogus"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("bogus")));
  EXPECT_THAT(store_->experiments().ListExperiments(kAlice, 2, "-3"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->experiments().ListExperiments(kAlice, -1, ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Oversized pages are capped, not refused.
  EXPECT_OK(store_->experiments().ListExperiments(kAlice, 100000, ""));
}

TEST_F(ExperimentStoreTest, PhasesSetTimestampsAndErrors) {
  const int64_t id = Create();
  const int64_t other = Create(kBob, "other");
  auto unfinished = store_->experiments().UnfinishedExperiments();
  ASSERT_OK(unfinished);
  EXPECT_THAT(*unfinished, ElementsAre(id, other));

  ASSERT_OK(store_->experiments().SetPhase(id, ExperimentPhase::kGenerating));
  auto e = store_->experiments().GetExperiment(id, kAlice, false);
  ASSERT_OK(e);
  EXPECT_EQ(e->phase, ExperimentPhase::kGenerating);
  const std::string started = e->started_at;
  EXPECT_NE(started, "");
  EXPECT_EQ(e->finished_at, "");
  // started_at is set once.
  ASSERT_OK(store_->experiments().SetPhase(id, ExperimentPhase::kGenerating));
  EXPECT_EQ(store_->experiments().GetExperiment(id, kAlice, false)->started_at,
            started);

  EXPECT_THAT(store_->experiments().SetPhase(id, ExperimentPhase::kFailed),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->experiments().SetPhase(id, ExperimentPhase::kUnspecified),
              StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(store_->experiments().SetPhase(id, ExperimentPhase::kFailed,
                                           "inference unreachable"));
  e = store_->experiments().GetExperiment(id, kAlice, false);
  EXPECT_EQ(e->phase, ExperimentPhase::kFailed);
  EXPECT_EQ(e->error, "inference unreachable");
  EXPECT_NE(e->finished_at, "");

  ASSERT_OK(store_->experiments().SetPhase(other, ExperimentPhase::kAnalyzing));
  unfinished = store_->experiments().UnfinishedExperiments();
  EXPECT_THAT(*unfinished, ElementsAre(other));
  ASSERT_OK(store_->experiments().SetPhase(other, ExperimentPhase::kDone));
  e = store_->experiments().GetExperiment(other, "", false);
  EXPECT_EQ(e->phase, ExperimentPhase::kDone);
  EXPECT_EQ(e->error, "");
  EXPECT_TRUE(store_->experiments().UnfinishedExperiments()->empty());
  // Terminal phases are final (a cancellation used to overwrite done).
  EXPECT_THAT(
      store_->experiments().SetPhase(other, ExperimentPhase::kCancelled),
      StatusIs(absl::StatusCode::kFailedPrecondition,
               HasSubstr("cannot become PHASE_CANCELLED")));
  EXPECT_EQ(store_->experiments().GetExperiment(other, "", false)->phase,
            ExperimentPhase::kDone);
  for (ExperimentPhase phase :
       {ExperimentPhase::kGenerating, ExperimentPhase::kAnalyzing,
        ExperimentPhase::kDone, ExperimentPhase::kCancelled}) {
    EXPECT_THAT(store_->experiments().SetPhase(id, phase),
                StatusIs(absl::StatusCode::kFailedPrecondition));
  }
  e = store_->experiments().GetExperiment(id, kAlice, false);
  EXPECT_EQ(e->phase, ExperimentPhase::kFailed);
  EXPECT_EQ(e->error, "inference unreachable");
}

TEST_F(ExperimentStoreTest, EndExperimentEndsItsRunsTogether) {
  const int64_t id = Create();
  ASSERT_OK(RunToDone(0, SmallLayout()));
  ASSERT_OK(store_->experiments().StartRun(id, run_ids_[1]));
  EXPECT_THAT(store_->experiments().EndExperiment(id, ExperimentPhase::kDone),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      store_->experiments().EndExperiment(id, ExperimentPhase::kFailed, ""),
      StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(store_->experiments().EndExperiment(id, ExperimentPhase::kFailed,
                                                "server gone", run_ids_[1]));
  auto e = store_->experiments().GetExperiment(id, kAlice);
  ASSERT_OK(e);
  EXPECT_EQ(e->phase, ExperimentPhase::kFailed);
  EXPECT_EQ(e->error, "server gone");
  EXPECT_EQ(e->runs[0].state, RunState::kDone);
  EXPECT_EQ(e->runs[1].state, RunState::kFailed);
  EXPECT_EQ(e->runs[1].error, "server gone");
  for (int i = 2; i < e->runs.size(); ++i) {
    EXPECT_EQ(e->runs[i].state, RunState::kCancelled);
  }
  // The first end stands.
  EXPECT_THAT(
      store_->experiments().EndExperiment(id, ExperimentPhase::kCancelled),
      StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(store_->experiments().GetExperiment(id, kAlice, false)->phase,
            ExperimentPhase::kFailed);
}

// A run scheduled before a cancellation must not reopen the experiment
// (SetPhase(GENERATING) used to overwrite cancelled, then the run failed to
// start and the experiment ended failed, or stayed running).

TEST_F(ExperimentStoreTest, NoRunStartsOnceTheExperimentEnded) {
  const int64_t other = Create(kAlice, "other");
  const int64_t id = Create();  // run_ids_ are id's
  ASSERT_OK(store_->experiments().StartRun(id, run_ids_[0]));
  EXPECT_EQ(store_->experiments().GetExperiment(id, kAlice, false)->phase,
            ExperimentPhase::kGenerating);
  EXPECT_THAT(store_->experiments().StartRun(other, run_ids_[0]),
              StatusIs(absl::StatusCode::kNotFound));
  ASSERT_OK(
      store_->experiments().EndExperiment(id, ExperimentPhase::kCancelled));
  EXPECT_THAT(store_->experiments().StartRun(id, run_ids_[1]),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(store_->experiments().MarkRunDone(run_ids_[0],
                                                Finished(0, SmallLayout())),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  auto e = store_->experiments().GetExperiment(id, kAlice);
  EXPECT_EQ(e->phase, ExperimentPhase::kCancelled);
  for (const RunRow& run : e->runs) {
    EXPECT_EQ(run.state, RunState::kCancelled);
  }
}

TEST_F(ExperimentStoreTest, SetAnalysisSpecReplacesAnalysisAndEvents) {
  const int64_t id = Create();
  v1::AnalysisSpec analysis = spec_.analysis();
  analysis.set_inference(v1::InferenceLevel::TOKEN);  // AR(1) is token-level
  analysis.set_noise(v1::NoiseModel::AR1);
  analysis.set_tokens_per_second(2);
  analysis.mutable_threshold()->set_alpha(0);  // Defaults are applied.
  ASSERT_OK(store_->experiments().SetAnalysisSpec(id, analysis));
  auto e = store_->experiments().GetExperiment(id, kAlice);
  ASSERT_OK(e);
  EXPECT_EQ(e->spec.analysis().noise(), v1::NoiseModel::AR1);
  EXPECT_DOUBLE_EQ(e->spec.analysis().threshold().alpha(), 0.05);
  EXPECT_EQ(e->spec.conditions(0).prompts_size(), 8);
  // Events are in seconds: twice the tokens per second halves them.
  v1::ExperimentSpec respec = e->spec;
  const std::vector<RunPlan> plans = PlanRuns(respec);
  auto events = store_->queries().GetRunEvents(id, 3, kAlice);
  ASSERT_OK(events);
  ASSERT_EQ(events->events.size(), 3u);
  EXPECT_DOUBLE_EQ(events->events[1].onset, plans_[3].events[1].onset / 2);
  EXPECT_EQ(events->events_tsv, EventsTsv(plans[3]));

  analysis.set_drift_order(99);  // Invalid: refused, nothing changes.
  EXPECT_THAT(
      store_->experiments().SetAnalysisSpec(id, analysis),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("driftOrder")));
  EXPECT_EQ(store_->experiments()
                .GetExperiment(id, kAlice)
                ->spec.analysis()
                .drift_order(),
            3);
  EXPECT_THAT(store_->experiments().SetAnalysisSpec(99, analysis),
              StatusIs(absl::StatusCode::kNotFound));
}

// --- runs ---

TEST_F(ExperimentStoreTest, RunLifecycle) {
  Create();
  const int64_t run = run_ids_[0];
  EXPECT_THAT(
      store_->experiments().SetRunTokens(run, 3),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("pending")));
  EXPECT_THAT(
      store_->experiments().MarkRunDone(run, Finished(0, SmallLayout())),
      StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK(store_->experiments().MarkRunStarted(run));
  ASSERT_OK(store_->experiments().SetRunTokens(run, 7));
  // A retried stream starts again from zero and counts another attempt.
  ASSERT_OK(store_->experiments().MarkRunStarted(run));
  auto runs = store_->experiments().ListRuns(
      store_->experiments().UnfinishedExperiments()->at(0));
  ASSERT_OK(runs);
  EXPECT_EQ((*runs)[0].state, RunState::kRunning);
  EXPECT_EQ((*runs)[0].attempts, 2);
  EXPECT_EQ((*runs)[0].tokens_generated, 0);
  EXPECT_THAT(store_->experiments().SetRunTokens(run, -1),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(store_->experiments().MarkRunStarted(12345),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("run 12345")));

  ASSERT_OK(store_->experiments().MarkRunDone(run, Finished(0, SmallLayout())));
  runs = store_->experiments().ListRuns(
      store_->experiments().UnfinishedExperiments()->at(0));
  const RunRow& done = (*runs)[0];
  EXPECT_EQ(done.state, RunState::kDone);
  EXPECT_EQ(done.tokens_generated, 24);
  EXPECT_EQ(done.overflow_count, 0);
  EXPECT_EQ(done.activation_path, Finished(0, SmallLayout()).file.path);
  EXPECT_EQ(done.activation_checksum, "crc32c:00000000");
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM generations WHERE "
                               "run_id = ",
                               run)),
            8);
  EXPECT_EQ(Count(absl::StrCat("SELECT count(*) FROM runs WHERE id = ", run,
                               " AND capture_dtype = 'F16' AND num_units = 20 "
                               "AND layout_hash = '",
                               SmallLayout().HashHex(), "'")),
            1);
  EXPECT_THAT(
      store_->experiments().MarkRunStarted(run),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("done")));
}

TEST_F(ExperimentStoreTest, MarkRunDoneTwiceIsAlreadyExistsAndWritesOnce) {
  Create();
  ASSERT_OK(RunToDone(0, SmallLayout()));
  FinishedRun again = Finished(0, SmallLayout());
  again.file.path += ".other";
  EXPECT_THAT(
      store_->experiments().MarkRunDone(run_ids_[0], again),
      StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("already done")));
  EXPECT_EQ(Count("SELECT count(*) FROM generations"), 8);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps"), 1);
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE activation_path LIKE "
                  "'%.other'"),
            0);
}

TEST_F(ExperimentStoreTest, MarkRunDoneIsAtomic) {
  Create();
  ASSERT_OK(store_->experiments().MarkRunStarted(run_ids_[0]));
  FinishedRun run = Finished(0, SmallLayout());
  run.tokens.push_back(run.tokens.front());  // Duplicate key: insert fails.
  EXPECT_THAT(store_->experiments().MarkRunDone(run_ids_[0], run),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(Count("SELECT count(*) FROM generations"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM glm_maps"), 0);
  EXPECT_EQ(Count("SELECT count(*) FROM runs WHERE status = 'running'"), 1);
  // And it can still finish properly.
  EXPECT_OK(store_->experiments().MarkRunDone(run_ids_[0],
                                              Finished(0, SmallLayout())));
}

TEST_F(ExperimentStoreTest, MarkRunDoneValidatesItsInput) {
  Create();
  ASSERT_OK(store_->experiments().MarkRunStarted(run_ids_[0]));
  FinishedRun run = Finished(0, SmallLayout());
  run.map = MakeMap(19, 0);
  EXPECT_THAT(store_->experiments().MarkRunDone(run_ids_[0], run),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("19")));
  run = Finished(0, SmallLayout());
  run.capture_dtype = DType::kI8;
  EXPECT_THAT(store_->experiments().MarkRunDone(run_ids_[0], run),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("I8")));
  run = Finished(0, SmallLayout());
  run.file.checksum.clear();
  EXPECT_THAT(store_->experiments().MarkRunDone(run_ids_[0], run),
              StatusIs(absl::StatusCode::kInvalidArgument));
  // Another layout than the experiment's first run's is refused.
  ASSERT_OK(store_->experiments().MarkRunDone(run_ids_[0],
                                              Finished(0, SmallLayout())));
  ASSERT_OK(store_->experiments().MarkRunStarted(run_ids_[1]));
  const Layout other({{"embed", 20}});
  EXPECT_THAT(
      store_->experiments().MarkRunDone(run_ids_[1], Finished(1, other)),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("layout")));
}

TEST_F(ExperimentStoreTest, MarkRunFinishedAndCancel) {
  const int64_t id = Create();
  EXPECT_THAT(
      store_->experiments().MarkRunFinished(run_ids_[0], RunState::kFailed, ""),
      StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(
      store_->experiments().MarkRunFinished(run_ids_[0], RunState::kDone, ""),
      StatusIs(absl::StatusCode::kInvalidArgument));
  ASSERT_OK(store_->experiments().MarkRunStarted(run_ids_[0]));
  ASSERT_OK(store_->experiments().MarkRunFinished(run_ids_[0],
                                                  RunState::kFailed, "boom"));
  ASSERT_OK(RunToDone(1, SmallLayout()));
  ASSERT_OK(store_->experiments().MarkRunStarted(run_ids_[2]));
  ASSERT_OK(store_->experiments().CancelPendingRuns(id));
  auto runs = store_->experiments().ListRuns(id);
  ASSERT_OK(runs);
  EXPECT_EQ((*runs)[0].state, RunState::kFailed);
  EXPECT_EQ((*runs)[0].error, "boom");
  EXPECT_EQ((*runs)[1].state, RunState::kDone);
  for (int i = 2; i < 6; ++i) EXPECT_EQ((*runs)[i].state, RunState::kCancelled);
  EXPECT_THAT(store_->experiments().MarkRunFinished(run_ids_[1],
                                                    RunState::kCancelled, ""),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_OK(
      store_->experiments().CancelPendingRuns(id));  // Nothing left: still OK.
  EXPECT_THAT(store_->experiments().CancelPendingRuns(999),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ExperimentStoreTest, ResetInterruptedRuns) {
  const int64_t id = Create();
  ASSERT_OK(store_->experiments().MarkRunStarted(run_ids_[0]));
  ASSERT_OK(store_->experiments().SetRunTokens(run_ids_[0], 11));
  ASSERT_OK(store_->experiments().MarkRunStarted(run_ids_[3]));
  ASSERT_OK(RunToDone(1, SmallLayout()));
  // A restart: a new store on the same file.
  Reopen();
  auto reset = store_->experiments().ResetInterruptedRuns();
  ASSERT_OK(reset);
  EXPECT_EQ(*reset, 2);
  auto runs = store_->experiments().ListRuns(id);
  ASSERT_OK(runs);
  EXPECT_EQ((*runs)[0].state, RunState::kPending);
  EXPECT_EQ((*runs)[0].tokens_generated, 0);
  EXPECT_EQ((*runs)[0].attempts, 1);  // Attempts survive.
  EXPECT_EQ((*runs)[3].state, RunState::kPending);
  EXPECT_EQ((*runs)[1].state, RunState::kDone);
  EXPECT_EQ(*store_->experiments().ResetInterruptedRuns(), 0);
}

// --- analysis inputs ---

TEST_F(ExperimentStoreTest, ExperimentLayoutNotFoundBeforeAnyRunIsDone) {
  const int64_t id = Create();
  EXPECT_THAT(store_->experiments().ExperimentLayout(id),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("layout")));
}

TEST_F(ExperimentStoreTest, ReopeningKeepsEverything) {
  const int64_t id = Analyzed();
  ASSERT_OK(store_->experiments().SetPhase(id, ExperimentPhase::kAnalyzing));
  ASSERT_OK(store_->experiments().SetPhase(id, ExperimentPhase::kDone));
  auto before = store_->experiments().GetExperiment(id, kAlice);
  ASSERT_OK(before);
  UnitQuery find;
  find.experiment_id = id;
  find.unit = 5;
  auto found_before = store_->queries().FindUnit(find, kAlice);
  ASSERT_OK(found_before);
  Reopen();
  auto after = store_->experiments().GetExperiment(id, kAlice);
  ASSERT_OK(after);
  // Every field, through the conversion the service answers with.
  EXPECT_TRUE(MessageDifferencer::Equals(ToProto(*before), ToProto(*after)))
      << ToProto(*after).DebugString();
  auto found_after = store_->queries().FindUnit(find, kAlice);
  ASSERT_OK(found_after);
  EXPECT_TRUE(MessageDifferencer::Equals(ToProto(*found_before),
                                         ToProto(*found_after)));
  EXPECT_EQ(Count("SELECT max(version) FROM schema_migrations"),
            static_cast<int64_t>(EmbeddedMigrations().size()));
}

// One store shared by threads that write progress and read experiments, as
// the worker's runs and RPCs do.

TEST_F(ExperimentStoreTest, ConcurrentCallsAreSafe) {
  const int64_t id = Create();
  for (int i = 0; i < 4; ++i)
    ASSERT_OK(store_->experiments().MarkRunStarted(run_ids_[i]));
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 1; k <= 100; ++k) {
        EXPECT_OK(store_->experiments().SetRunTokens(run_ids_[i], k));
        EXPECT_OK(store_->experiments().GetExperiment(id, kAlice, k % 2 == 0));
      }
    });
  }
  for (std::thread& t : threads) t.join();
  auto e = store_->experiments().GetExperiment(id, kAlice, false);
  ASSERT_OK(e);
  EXPECT_EQ(e->progress.tokens_done, 400);
}

// The real analysis on stored run maps, saved and read back.

}  // namespace
}  // namespace fnprobe::worker::store_test
