// ExperimentRunner against a real SQLite store and an in-process fake
// inference server: experiments cancelled before, during and after their
// runs, failing runs, exceptions in a job, recovery of stored states at
// start-up, and draining at shutdown. The worker must survive all of them
// and leave every experiment in a state the state machine allows.
#include "server/analysis/worker/experiment_runner.h"

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/run_planner.h"
#include "server/analysis/storage/activation_file_system.h"
#include "server/analysis/worker/experiment_phase.h"
#include "tests/analysis/worker/fake_inference_server.h"
#include "tests/support/fault_injection_env.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::worker {
namespace {

using ::fnprobe::testing::FakeInferenceServer;
using ::fnprobe::testing::ScopedTempDir;
using ::fnprobe::testing::StatusIs;
using ::testing::Each;
using ::testing::HasSubstr;

constexpr char kModel[] = "fake-model";

// One condition x `repeats` runs of baseline/task/baseline, two prompts per
// block, four tokens per prompt.
v1::ExperimentSpec SmallSpec(int repeats = 3) {
  v1::ExperimentSpec spec;
  spec.set_name("runner");
  spec.set_model(kModel);
  spec.mutable_generation()->set_tokens_per_prompt(4);
  spec.mutable_generation()->set_seed(7);
  spec.mutable_baseline()->set_name("rest");
  for (int i = 0; i < 12; ++i) {
    spec.mutable_baseline()->add_prompts(absl::StrCat("rest prompt ", i));
  }
  v1::PromptPool* pool = spec.add_conditions();
  pool->set_name("alpha");
  for (int i = 0; i < 8; ++i) {
    pool->add_prompts(absl::StrCat("alpha prompt ", i));
  }
  v1::BlockDesign* d = spec.mutable_design();
  for (const char* b : {"baseline", "task", "baseline"}) d->add_pattern(b);
  d->set_prompts_per_block(2);
  d->set_repeats(repeats);
  EXPECT_OK(ValidateSpec(spec));
  return WithDefaults(spec);
}

std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (e.is_regular_file()) files.push_back(e.path().string());
  }
  return files;
}

class ExperimentRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = FakeInferenceServer::Start(kModel);
    ASSERT_NE(fake_, nullptr);
    auto store = WorkerStore::Open(dir_.path() + "/fnprobe.db");
    ASSERT_OK(store);
    store_ = *std::move(store);
    InferencePoolOptions pool;
    pool.addresses = {fake_->address()};
    auto created = InferencePool::Create(pool);
    ASSERT_OK(created);
    pool_ = *std::move(created);
    options_.data_dir = dir_.path();
    options_.max_concurrent_runs = 1;
    options_.initial_backoff = absl::Milliseconds(5);
    options_.max_backoff = absl::Milliseconds(20);
    options_.max_attempts = 3;
  }

  void TearDown() override {
    if (runner_ != nullptr) runner_->Stop();
  }

  void StartRunner() {
    runner_ = std::make_unique<ExperimentRunner>(store_.get(), pool_.get(),
                                                 &hub_, options_);
    ASSERT_OK(runner_->Start());
  }

  int64_t Create(int repeats = 3) {
    const v1::ExperimentSpec spec = SmallSpec(repeats);
    auto id = store_->experiments().CreateExperiment("", spec, PlanRuns(spec));
    EXPECT_OK(id);
    return *id;
  }

  int64_t Submit(int repeats = 3) {
    const int64_t id = Create(repeats);
    EXPECT_OK(runner_->Enqueue(id));
    return id;
  }

  // Polls until the experiment is in a terminal phase (or 20 s pass).
  ExperimentRow WaitFinished(int64_t id) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    for (;;) {
      auto e = store_->experiments().GetExperiment(id, "");
      EXPECT_OK(e);
      if (!e.ok() || IsTerminalPhase(e->phase) || absl::Now() > deadline) {
        return e.ok() ? *e : ExperimentRow();
      }
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  std::vector<RunState> RunStates(int64_t id) {
    std::vector<RunState> states;
    for (const RunRow& run : *store_->experiments().ListRuns(id)) {
      states.push_back(run.state);
    }
    return states;
  }

  int NetworkCount(int64_t id) {
    NetworkListQuery query;
    query.experiment_id = id;
    auto networks = store_->queries().ListNetworks(query, "");
    return networks.ok() ? static_cast<int>(networks->size()) : -1;
  }

  ScopedTempDir dir_;
  std::unique_ptr<FakeInferenceServer> fake_;
  std::unique_ptr<WorkerStore> store_;
  std::unique_ptr<InferencePool> pool_;
  ProgressHub hub_;
  ExperimentRunnerOptions options_;
  std::unique_ptr<ExperimentRunner> runner_;
};

TEST_F(ExperimentRunnerTest, RunsAnExperimentToDone) {
  StartRunner();
  const int64_t id = Submit();
  const ExperimentRow e = WaitFinished(id);
  EXPECT_EQ(e.phase, ExperimentPhase::kDone) << e.error;
  EXPECT_THAT(RunStates(id), Each(RunState::kDone));
  EXPECT_GT(NetworkCount(id), 0);
}

// A client that sees done may ask for a re-analysis before the analysis
// thread has let go of the experiment.
TEST_F(ExperimentRunnerTest, ReanalyzeRightAfterDone) {
  StartRunner();
  const int64_t id = Submit(1);
  ASSERT_EQ(WaitFinished(id).phase, ExperimentPhase::kDone);
  ASSERT_OK(runner_->Reanalyze(id));
  EXPECT_EQ(WaitFinished(id).phase, ExperimentPhase::kDone);
  EXPECT_GT(NetworkCount(id), 0);
  const int64_t cancelled = Submit(1);
  ASSERT_OK(runner_->Cancel(cancelled));
  EXPECT_THAT(runner_->Reanalyze(cancelled),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// The worker used to abort (std::out_of_range from active_.at) when an
// experiment was cancelled while its runs waited for a thread.
TEST_F(ExperimentRunnerTest, CancelBeforeAnyRunStarts) {
  fake_->Hold();
  StartRunner();
  const int64_t busy = Submit();  // holds the only thread
  ASSERT_TRUE(fake_->WaitForHeld(1, absl::Seconds(10)));
  const int64_t id = Submit();
  ASSERT_OK(runner_->Cancel(id));
  fake_->Release();
  EXPECT_EQ(WaitFinished(busy).phase, ExperimentPhase::kDone);
  const ExperimentRow e = WaitFinished(id);
  EXPECT_EQ(e.phase, ExperimentPhase::kCancelled);
  EXPECT_THAT(RunStates(id), Each(RunState::kCancelled));
  EXPECT_THAT(runner_->Cancel(id),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(ExperimentRunnerTest, CancelMidRunStaysCancelled) {
  options_.max_concurrent_runs = 2;
  fake_->Hold();
  StartRunner();
  const int64_t id = Submit();
  ASSERT_TRUE(fake_->WaitForHeld(2, absl::Seconds(10)));
  ASSERT_OK(runner_->Cancel(id));
  fake_->Release();
  // Whatever the threads do with their cancelled streams, the experiment
  // stays cancelled and no run is left to start.
  absl::SleepFor(absl::Milliseconds(200));
  EXPECT_EQ(WaitFinished(id).phase, ExperimentPhase::kCancelled);
  EXPECT_THAT(RunStates(id), Each(RunState::kCancelled));
  // And the worker goes on.
  const int64_t next = Submit();
  EXPECT_EQ(WaitFinished(next).phase, ExperimentPhase::kDone);
}

TEST_F(ExperimentRunnerTest, CancelDuringAnalysisStoresNothing) {
  absl::Status cancelled = absl::UnknownError("hook not called");
  options_.before_finish_analysis = [&](int64_t id) {
    cancelled = runner_->Cancel(id);
  };
  StartRunner();
  const int64_t id = Submit(1);
  const ExperimentRow e = WaitFinished(id);
  runner_->Stop();  // the hook has run and the analysis thread let go
  ASSERT_OK(cancelled);
  EXPECT_EQ(e.phase, ExperimentPhase::kCancelled);
  EXPECT_EQ(store_->experiments().GetExperiment(id, "")->phase,
            ExperimentPhase::kCancelled);
  EXPECT_EQ(NetworkCount(id), 0);
}

// A run whose stream finished (its activation file complete) while the
// experiment was being cancelled used to leave that file behind: the store
// refused MarkRunDone, and the activation store kept a file of a cancelled
// run. Found by the crash-test driver (tests/e2e/crash_e2e_test.cc).
TEST_F(ExperimentRunnerTest, CancelBeforeARunIsStoredLeavesNoFile) {
  absl::Status cancelled = absl::UnknownError("hook not called");
  std::string path;
  options_.before_mark_run_done = [&](int64_t id, int64_t run_id) {
    path = runner_->ActivationPath(id, run_id);
    if (cancelled.code() == absl::StatusCode::kUnknown) {
      EXPECT_TRUE(std::filesystem::exists(path)) << path;
      cancelled = runner_->Cancel(id);
    }
  };
  StartRunner();
  const int64_t id = Submit(1);
  const ExperimentRow e = WaitFinished(id);
  runner_->Stop();  // the run's thread has let go
  ASSERT_OK(cancelled);
  EXPECT_EQ(e.phase, ExperimentPhase::kCancelled);
  EXPECT_THAT(RunStates(id), Each(RunState::kCancelled));
  EXPECT_FALSE(std::filesystem::exists(path)) << path;
}

// The same file left by a worker killed between finishing it and storing
// the run: the next start removes it, so that a cancellation before the run
// is redone leaves nothing behind either.
TEST_F(ExperimentRunnerTest, StartRemovesTheFileOfARunNotDone) {
  const int64_t id = Create(1);
  fake_->Hold();
  runner_ = std::make_unique<ExperimentRunner>(store_.get(), pool_.get(), &hub_,
                                               options_);
  const std::string path =
      runner_->ActivationPath(id, store_->experiments().ListRuns(id)->at(0).id);
  std::filesystem::create_directories(
      std::filesystem::path(path).parent_path());
  { std::ofstream(path) << "a finished file of a run never stored"; }
  ASSERT_OK(runner_->Start());
  ASSERT_TRUE(fake_->WaitForHeld(1, absl::Seconds(10)));
  EXPECT_FALSE(std::filesystem::exists(path));
  ASSERT_OK(runner_->Cancel(id));
  fake_->Release();
  EXPECT_EQ(WaitFinished(id).phase, ExperimentPhase::kCancelled);
  runner_->Stop();
  EXPECT_FALSE(std::filesystem::exists(path)) << path;
}

TEST_F(ExperimentRunnerTest, ExceptionInAJobFailsOnlyItsExperiment) {
  bool thrown = false;
  options_.before_finish_analysis = [&](int64_t) {
    if (!thrown) {
      thrown = true;
      throw std::runtime_error("injected");
    }
  };
  StartRunner();
  const int64_t id = Submit(1);
  const ExperimentRow e = WaitFinished(id);
  EXPECT_EQ(e.phase, ExperimentPhase::kFailed);
  EXPECT_THAT(e.error, HasSubstr("internal error: injected"));
  const int64_t next = Submit(1);
  EXPECT_EQ(WaitFinished(next).phase, ExperimentPhase::kDone);
}

// A server that never comes back fails the experiment: one run failed, the
// others cancelled, never done with a run missing.
TEST_F(ExperimentRunnerTest, RunOutOfAttemptsFailsTheExperiment) {
  fake_->FailWith(grpc::Status(grpc::StatusCode::UNAVAILABLE, "gone"));
  options_.max_concurrent_runs = 2;
  StartRunner();
  const int64_t id = Submit();
  const ExperimentRow e = WaitFinished(id);
  EXPECT_EQ(e.phase, ExperimentPhase::kFailed);
  EXPECT_THAT(e.error, HasSubstr("failed after 3 attempt(s)"));
  runner_->Stop();
  int failed = 0;
  for (RunState s : RunStates(id)) {
    EXPECT_TRUE(s == RunState::kFailed || s == RunState::kCancelled)
        << RunStateName(s);
    failed += s == RunState::kFailed;
  }
  EXPECT_GE(failed, 1);
  EXPECT_EQ(store_->experiments().GetExperiment(id, "")->phase,
            ExperimentPhase::kFailed);
}

// Stored states a crash can leave behind are finished at start-up instead
// of staying unfinished for ever.
TEST_F(ExperimentRunnerTest, StartRecoversEveryStoredState) {
  const int64_t with_failed = Create();
  const int64_t with_cancelled = Create();
  const int64_t all_pending = Create();
  auto runs = store_->experiments().ListRuns(with_failed);
  ASSERT_OK(store_->experiments().StartRun(with_failed, (*runs)[0].id));
  ASSERT_OK(store_->experiments().MarkRunFinished((*runs)[0].id,
                                                  RunState::kFailed, "boom"));
  runs = store_->experiments().ListRuns(with_cancelled);
  ASSERT_OK(store_->experiments().StartRun(with_cancelled, (*runs)[1].id));
  ASSERT_OK(store_->experiments().MarkRunFinished((*runs)[1].id,
                                                  RunState::kCancelled, ""));
  runs = store_->experiments().ListRuns(all_pending);
  ASSERT_OK(store_->experiments().StartRun(all_pending,
                                           (*runs)[2].id));  // interrupted

  StartRunner();
  ExperimentRow e = WaitFinished(with_failed);
  EXPECT_EQ(e.phase, ExperimentPhase::kFailed);
  EXPECT_THAT(e.error, HasSubstr("boom"));
  EXPECT_EQ(WaitFinished(with_cancelled).phase, ExperimentPhase::kCancelled);
  EXPECT_EQ(WaitFinished(all_pending).phase, ExperimentPhase::kDone);
  for (int64_t id : {with_failed, with_cancelled}) {
    for (RunState s : RunStates(id)) {
      EXPECT_NE(s, RunState::kPending);
      EXPECT_NE(s, RunState::kRunning);
      EXPECT_NE(s, RunState::kDone);
    }
  }
}

TEST_F(ExperimentRunnerTest, StopDrainsRunsInFlight) {
  fake_->Hold();
  StartRunner();
  const int64_t id = Submit();
  ASSERT_TRUE(fake_->WaitForHeld(1, absl::Seconds(10)));
  std::thread release([&] {
    absl::SleepFor(absl::Milliseconds(200));
    fake_->Release();
  });
  runner_->Stop(absl::Seconds(10));
  release.join();
  // The run in flight finished; the others wait for the next start.
  const std::vector<RunState> states = RunStates(id);
  EXPECT_EQ(states[0], RunState::kDone);
  for (size_t i = 1; i < states.size(); ++i) {
    EXPECT_EQ(states[i], RunState::kPending);
  }
  EXPECT_EQ(store_->experiments().GetExperiment(id, "")->phase,
            ExperimentPhase::kGenerating);

  fake_->Release();
  StartRunner();
  EXPECT_EQ(WaitFinished(id).phase, ExperimentPhase::kDone);
}

TEST_F(ExperimentRunnerTest, StopCancelsRunsPastTheGracePeriod) {
  fake_->Hold();
  StartRunner();
  const int64_t id = Submit();
  ASSERT_TRUE(fake_->WaitForHeld(1, absl::Seconds(10)));
  const absl::Time start = absl::Now();
  runner_->Stop(absl::Milliseconds(300));
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(300));
  EXPECT_LT(took, absl::Seconds(5));
  // The interrupted run is pending again, not running.
  EXPECT_THAT(RunStates(id), Each(RunState::kPending));
  EXPECT_EQ(store_->experiments().GetExperiment(id, "")->phase,
            ExperimentPhase::kGenerating);
}

TEST_F(ExperimentRunnerTest, FullDiskFailsTheExperimentAndTheNextOneRuns) {
  // Every write fails as on a full disk (ENOSPC, which the activation store
  // reports as RESOURCE_EXHAUSTED naming the file) until disk_full is reset.
  ::fnprobe::testing::FaultInjectionEnv fs;
  fs.disk_full = true;
  options_.file_system = &fs;
  StartRunner();
  const int64_t id = Submit(2);
  const ExperimentRow e = WaitFinished(id);
  EXPECT_EQ(e.phase, ExperimentPhase::kFailed);
  EXPECT_THAT(e.error, HasSubstr("data dir full: "));
  EXPECT_THAT(e.error, HasSubstr("bytes free"));
  // No partial file is left, and nothing was retried against a full disk.
  EXPECT_THAT(FilesUnder(dir_.path() + "/activations"), ::testing::IsEmpty());
  EXPECT_EQ(fake_->generate_calls(), 1);
  // The runner stays up: with space again, the next experiment completes.
  fs.disk_full = false;
  const int64_t next = Submit(2);
  EXPECT_EQ(WaitFinished(next).phase, ExperimentPhase::kDone);
}

TEST_F(ExperimentRunnerTest, RunWaitsPendingWhileSpaceIsShort) {
  std::atomic<int64_t> free_bytes{1000};
  options_.min_free_bytes = 1 << 20;
  options_.free_bytes = [&](const std::string&) { return free_bytes.load(); };
  StartRunner();
  const int64_t id = Submit(2);
  absl::SleepFor(absl::Milliseconds(300));
  auto e = store_->experiments().GetExperiment(id, "");
  ASSERT_OK(e);
  EXPECT_EQ(e->phase, ExperimentPhase::kQueued);
  EXPECT_EQ(RunStates(id), std::vector<RunState>(2, RunState::kPending));
  EXPECT_EQ(fake_->generate_calls(), 0);
  free_bytes = int64_t{1} << 40;
  EXPECT_EQ(WaitFinished(id).phase, ExperimentPhase::kDone);
}

}  // namespace
}  // namespace fnprobe::worker
