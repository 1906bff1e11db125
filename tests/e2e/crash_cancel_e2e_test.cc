// Crash-test scenario (issue 13): cancellation races. 10 cancellations: 4
// before any run (queued behind another experiment), 3 mid-run (at a random
// fraction of the tokens), 3 within 1 ms of the analysis starting
// (cancelled, or refused and done). Fixture and checks:
// crash_e2e_fixture.h.
#include "tests/e2e/crash_e2e_fixture.h"

namespace fnprobe::crash_e2e {
namespace {

using ::fnprobe::testing::CallContext;

TEST_F(CrashE2eTest, CancelledAtRandomMomentsEndsCancelled) {
  Moments m("cancel");
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  auto stub = Stub(cluster.get());
  std::vector<std::pair<int64_t, v1::ExperimentPhase>> finished;
  int cancels = 0;
  auto cancel = [&](int64_t id) -> grpc::Status {
    ++cancels;
    v1::CancelExperimentRequest request;
    request.set_experiment_id(id);
    v1::Experiment response;
    grpc::Status s =
        stub->CancelExperiment(CallContext(kAlice).get(), request, &response);
    if (s.ok()) EXPECT_EQ(response.phase(), v1::PHASE_CANCELLED);
    return s;
  };

  // Before any run: the one run slot streams a blocker's run, so a new
  // experiment waits queued; cancelled after 0-30 ms. The blocker must
  // finish undisturbed.
  ASSERT_OK_AND_ASSIGN(v1::Experiment blocker, Submit(stub.get()));
  ASSERT_OK(PollUntil(stub.get(), blocker.id(), [](const v1::Experiment& e) {
              return e.progress().tokens_done() > 0;
            }).status());
  int never_started = 0;
  for (int k = 0; k < 4; ++k) {
    ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
    const absl::Duration delay = absl::Milliseconds(m.Between(0, 30));
    absl::SleepFor(delay);
    ASSERT_TRUE(cancel(e.id()).ok());
    ExpectFinished(cluster.get(), e.id(), v1::PHASE_CANCELLED);
    ASSERT_OK_AND_ASSIGN(e, Get(stub.get(), e.id()));
    int started = 0;
    for (const v1::Run& r : e.runs()) {
      EXPECT_EQ(r.state(), v1::RUN_CANCELLED);
      started += r.attempts();
    }
    never_started += started == 0;
    m.Say(absl::StrCat("cancel (queued) after ", absl::FormatDuration(delay),
                       ": ", started, " run attempt(s) had started"));
    finished.push_back({e.id(), v1::PHASE_CANCELLED});
  }
  EXPECT_GE(never_started, 1) << "no cancellation came before a run";
  ExpectFinished(cluster.get(), blocker.id(), v1::PHASE_DONE);
  finished.push_back({blocker.id(), v1::PHASE_DONE});

  // Mid-run: once a random fraction of the tokens is in.
  for (int k = 0; k < 3; ++k) {
    ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
    const double fraction = m.Between(2, 85) / 100.0;
    ASSERT_OK_AND_ASSIGN(
        v1::Experiment now,
        PollUntil(stub.get(), e.id(), [&](const v1::Experiment& x) {
          return x.progress().tokens_done() >=
                 fraction * x.progress().tokens_total();
        }));
    ASSERT_TRUE(cancel(e.id()).ok()) << Describe(now);
    m.Say(absl::StrCat("cancel at ", fraction, " of the tokens (",
                       Describe(now), ")"));
    ExpectFinished(cluster.get(), e.id(), v1::PHASE_CANCELLED);
    finished.push_back({e.id(), v1::PHASE_CANCELLED});
  }

  // During the analysis: as soon as the watch stream says analyzing, after
  // 0-1 ms (the analysis of this spec lasts a few ms). A cancellation that
  // comes too late is refused and the experiment is done, identical to the
  // reference; one that is accepted leaves no analysis behind.
  int in_analysis = 0;
  for (int k = 0; k < 3; ++k) {
    ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
    const absl::Duration delay = absl::Milliseconds(m.Between(0, 1));
    const v1::ExperimentPhase seen = WaitForAnalysis(stub.get(), e.id());
    absl::SleepFor(delay);
    const grpc::Status s = cancel(e.id());
    m.Say(absl::StrCat("cancel ", absl::FormatDuration(delay), " after ",
                       v1::ExperimentPhase_Name(seen), ": ",
                       s.ok() ? "accepted" : s.error_message()));
    if (s.ok()) {
      ++in_analysis;
      ExpectFinished(cluster.get(), e.id(), v1::PHASE_CANCELLED);
      finished.push_back({e.id(), v1::PHASE_CANCELLED});
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
      ExpectFinished(cluster.get(), e.id(), v1::PHASE_DONE);
      finished.push_back({e.id(), v1::PHASE_DONE});
    }
  }
  EXPECT_GE(in_analysis, 1) << "no cancellation landed in an analysis";
  EXPECT_EQ(cancels, 10);
  ExpectFinalAcrossRestart(cluster.get(), finished);
}

}  // namespace
}  // namespace fnprobe::crash_e2e
