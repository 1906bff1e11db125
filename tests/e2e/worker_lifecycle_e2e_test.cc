// The fnprobe-worker process's life cycle against an in-process fake
// inference server (no model, no fnprobe-inference binary): one worker per
// data directory, and SIGTERM draining the runs in flight within
// --drain-grace before the process exits.
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fnprobe/v1/experiments.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/worker/proto_conversion.h"
#include "server/analysis/worker/worker_store.h"
#include "tests/analysis/worker/fake_inference_server.h"
#include "tests/e2e/server_process.h"
#include "tests/support/command_runner.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::testing {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr char kModel[] = "fake-model";

class WorkerLifecycleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = FakeInferenceServer::Start(kModel);
    ASSERT_NE(fake_, nullptr);
  }

  std::string data_dir() const { return dir_.path() + "/data"; }

  absl::StatusOr<std::unique_ptr<ServerProcess>> StartWorker(
      std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {
        "--inference", fake_->address(),        "--data-dir",
        data_dir(),    "--max-concurrent-runs", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ServerProcess::Start(FNPROBE_WORKER_BINARY, args, dir_.path(),
                                dir_.path() + "/worker.log");
  }

  // A one-condition, three-run experiment.
  static v1::ExperimentSpec SmallSpec() {
    v1::ExperimentSpec s;
    v1::ExperimentSpec* spec = &s;
    spec->set_name("drain");
    spec->set_model(kModel);
    spec->mutable_generation()->set_tokens_per_prompt(4);
    spec->mutable_baseline()->set_name("rest");
    for (int i = 0; i < 12; ++i) {
      spec->mutable_baseline()->add_prompts(absl::StrCat("rest prompt ", i));
    }
    v1::PromptPool* pool = spec->add_conditions();
    pool->set_name("alpha");
    for (int i = 0; i < 8; ++i) {
      pool->add_prompts(absl::StrCat("alpha prompt ", i));
    }
    for (const char* b : {"baseline", "task", "baseline"}) {
      spec->mutable_design()->add_pattern(b);
    }
    spec->mutable_design()->set_prompts_per_block(2);
    spec->mutable_design()->set_repeats(3);
    return s;
  }

  // Submits SmallSpec; returns its id.
  int64_t Submit(ServerProcess* worker) {
    auto stub = v1::ExperimentService::NewStub(grpc::CreateChannel(
        worker->address(), grpc::InsecureChannelCredentials()));
    v1::SubmitExperimentRequest request;
    *request.mutable_spec() = SmallSpec();
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    v1::Experiment e;
    grpc::Status s = stub->SubmitExperiment(&context, request, &e);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return e.id();
  }

  // The stored experiment (the worker must have exited).
  v1::Experiment Stored(int64_t id) {
    auto store = worker::WorkerStore::Open(data_dir() + "/fnprobe.db");
    EXPECT_OK(store);
    auto e = (*store)->experiments().GetExperiment(id, "");
    EXPECT_OK(e);
    return e.ok() ? worker::ToProto(*e) : v1::Experiment();
  }

  ScopedTempDir dir_;
  std::unique_ptr<FakeInferenceServer> fake_;
};

TEST_F(WorkerLifecycleTest, SecondWorkerOnTheSameDataDirIsRefused) {
  auto first = StartWorker();
  ASSERT_OK(first);
  // `timeout` so that a worker that wrongly starts serving fails the test
  // instead of hanging it.
  const CommandResult second =
      RunCommand("/usr/bin/timeout",
                 {"20", FNPROBE_WORKER_BINARY, "--inference", fake_->address(),
                  "--data-dir", data_dir(), "--listen", "127.0.0.1:0"},
                 {}, dir_.path());
  EXPECT_EQ(second.exit_code, 1) << second;
  EXPECT_THAT(second.err,
              AllOf(HasSubstr("in use by another fnprobe-worker"),
                    HasSubstr(absl::StrCat("pid ", (*first)->pid()))))
      << second;
  // The first one is unharmed, and once it is gone the directory is free.
  EXPECT_EQ((*first)->Stop(), 0);
  auto third = StartWorker();
  ASSERT_OK(third);
  EXPECT_EQ((*third)->Stop(), 0);
}

// 5,000 conditions used to come back as "received initial metadata size
// exceeds limit": every condition's problems went into the status message.
TEST_F(WorkerLifecycleTest, OversizedSpecIsRefusedNamingTheLimit) {
  auto worker = StartWorker();
  ASSERT_OK(worker);
  auto stub = v1::ExperimentService::NewStub(grpc::CreateChannel(
      (*worker)->address(), grpc::InsecureChannelCredentials()));
  v1::SubmitExperimentRequest request;
  *request.mutable_spec() = SmallSpec();
  for (int c = 0; c < 5000; ++c) {
    v1::PromptPool* pool = request.mutable_spec()->add_conditions();
    pool->set_name(absl::StrCat("c", c));
    pool->add_prompts("one prompt");
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  v1::Experiment e;
  const grpc::Status s = stub->SubmitExperiment(&context, request, &e);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("conditions: 5001 conditions exceed the limit of 64"));
  EXPECT_EQ((*worker)->Stop(), 0);
}

// Hook selectors and prompt lengths are checked against the serving model
// at submission, by the inference server's own rules, instead of failing
// every run later.
TEST_F(WorkerLifecycleTest, SpecIsCheckedAgainstTheServingModel) {
  auto worker = StartWorker();
  ASSERT_OK(worker);
  auto stub = v1::ExperimentService::NewStub(grpc::CreateChannel(
      (*worker)->address(), grpc::InsecureChannelCredentials()));
  auto submit = [&](const v1::ExperimentSpec& spec) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    v1::SubmitExperimentRequest request;
    *request.mutable_spec() = spec;
    v1::Experiment e;
    return stub->SubmitExperiment(&context, request, &e);
  };
  v1::ExperimentSpec spec = SmallSpec();
  spec.mutable_capture()->add_hooks("blocks.7.mlp_post");
  grpc::Status s = submit(spec);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(),
              HasSubstr("capture.hooks: hook selector 'blocks.7.mlp_post' "
                        "matches no hook point"));

  // The fake's context is 64 tokens; a word is a token, plus a start
  // token: with 4 generated, 61 tokens fit and 62 do not.
  spec = SmallSpec();
  std::string fits = "alpha";
  for (int i = 0; i < 59; ++i) fits += " w";
  spec.mutable_conditions(0)->set_prompts(0, fits);      // 61 tokens
  spec.mutable_baseline()->set_prompts(3, fits + " w");  // 62
  s = submit(spec);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "baseline.prompts[3]: 62 tokens; with 4 generated the limit is "
            "61 (context 64 of model fake-model)");
  spec.mutable_baseline()->set_prompts(3, "rest prompt 3");
  spec.mutable_capture()->add_hooks("neurons");
  s = submit(spec);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ((*worker)->Stop(), 0);
}

TEST_F(WorkerLifecycleTest, SigtermDrainsTheRunInFlight) {
  fake_->Hold();
  auto worker = StartWorker({"--drain-grace", "20"});
  ASSERT_OK(worker);
  const int64_t id = Submit(worker->get());
  ASSERT_TRUE(fake_->WaitForHeld(1, absl::Seconds(20)));
  std::thread release([&] {
    absl::SleepFor(absl::Milliseconds(500));
    fake_->Release();
  });
  const absl::Time start = absl::Now();
  const int code = (*worker)->Stop(/*timeout_s=*/30);
  const absl::Duration took = absl::Now() - start;
  release.join();
  EXPECT_EQ(code, 0);
  EXPECT_GE(took, absl::Milliseconds(450));
  std::cerr << "SIGTERM with a run in flight: exited after "
            << absl::FormatDuration(took) << "\n";
  // The run in flight finished; the others were never started.
  v1::Experiment e = Stored(id);
  ASSERT_EQ(e.runs_size(), 3);
  EXPECT_EQ(e.runs(0).state(), v1::RUN_DONE);
  EXPECT_EQ(e.runs(1).state(), v1::RUN_PENDING);
  EXPECT_EQ(e.runs(2).state(), v1::RUN_PENDING);
  EXPECT_EQ(e.phase(), v1::PHASE_GENERATING);

  // The next start finishes the experiment.
  worker = StartWorker();
  ASSERT_OK(worker);
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  auto stub = v1::ExperimentService::NewStub(grpc::CreateChannel(
      (*worker)->address(), grpc::InsecureChannelCredentials()));
  do {
    absl::SleepFor(absl::Milliseconds(50));
    grpc::ClientContext context;
    v1::GetExperimentRequest request;
    request.set_experiment_id(id);
    ASSERT_TRUE(stub->GetExperiment(&context, request, &e).ok());
  } while (e.phase() != v1::PHASE_DONE && absl::Now() < deadline);
  EXPECT_EQ(e.phase(), v1::PHASE_DONE) << e.error();
  EXPECT_EQ((*worker)->Stop(), 0);
}

TEST_F(WorkerLifecycleTest, SigtermCancelsRunsPastTheDrainGrace) {
  fake_->Hold();
  auto worker = StartWorker({"--drain-grace", "0.5"});
  ASSERT_OK(worker);
  const int64_t id = Submit(worker->get());
  ASSERT_TRUE(fake_->WaitForHeld(1, absl::Seconds(20)));
  const absl::Time start = absl::Now();
  EXPECT_EQ((*worker)->Stop(/*timeout_s=*/30), 0);
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(450));
  EXPECT_LT(took, absl::Seconds(10));
  // Cancelled, and left pending for the next start.
  const v1::Experiment e = Stored(id);
  for (const v1::Run& run : e.runs()) {
    EXPECT_EQ(run.state(), v1::RUN_PENDING) << run.index();
  }
  EXPECT_EQ(e.phase(), v1::PHASE_GENERATING);
}

}  // namespace
}  // namespace fnprobe::testing
