// Crash-test scenarios (issue 13) of the inference side: fnprobe-inference
// SIGKILLed at 5 random moments and restarted (done, identical); gone for
// good (--max-attempts 4: failed, never done with a run missing); one of
// two servers killed for good while streaming (done on the other,
// identical). Fixture and checks: crash_e2e_fixture.h.
#include "tests/e2e/crash_e2e_fixture.h"

namespace fnprobe::crash_e2e {
namespace {

using ::testing::HasSubstr;

TEST_F(CrashE2eTest, InferenceKilledAtRandomMomentsEndsIdentical) {
  Moments m("inference-kill");
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  constexpr int kKills = 5;
  std::vector<std::pair<int64_t, v1::ExperimentPhase>> finished;
  for (int k = 0; k < kKills; ++k) {
    auto stub = Stub(cluster.get());
    ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
    // Within the generation: the analysis needs no inference server.
    const absl::Duration delay =
        KillDelay(m, k, kKills, reference_->wall * 0.8);
    const absl::Duration down = absl::Milliseconds(m.Between(0, 1500));
    absl::SleepFor(delay);
    ASSERT_OK_AND_ASSIGN(v1::Experiment now, Get(stub.get(), e.id()));
    cluster->KillInference();
    m.Say(absl::StrCat("kill ", k + 1, "/", kKills, " at ",
                       absl::FormatDuration(delay), " (", Describe(now),
                       "), restart after ", absl::FormatDuration(down)));
    absl::SleepFor(down);
    ASSERT_OK(cluster->StartInference());
    ExpectFinished(cluster.get(), e.id(), v1::PHASE_DONE);
    finished.push_back({e.id(), v1::PHASE_DONE});
    if (HasFatalFailure()) return;
  }
  ExpectFinalAcrossRestart(cluster.get(), finished);
}

TEST_F(CrashE2eTest, InferenceGoneForGoodFailsTheExperiment) {
  Moments m("inference-gone");
  auto cluster = StartCluster({"--max-attempts", "4"});
  ASSERT_NE(cluster, nullptr);
  auto stub = Stub(cluster.get());
  ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
  const double fraction = m.Between(2, 60) / 100.0;
  ASSERT_OK_AND_ASSIGN(
      v1::Experiment now,
      PollUntil(stub.get(), e.id(), [&](const v1::Experiment& x) {
        return x.progress().tokens_done() >=
               fraction * x.progress().tokens_total();
      }));
  cluster->KillInference();
  m.Say(absl::StrCat("killed for good at ", fraction, " of the tokens (",
                     Describe(now), ")"));
  ExpectFinished(cluster.get(), e.id(), v1::PHASE_FAILED);
  ASSERT_OK_AND_ASSIGN(e, Get(stub.get(), e.id()));
  EXPECT_THAT(e.error(), HasSubstr("after 4 attempt(s)"));
  EXPECT_LT(e.progress().runs_done(), e.runs_size());
  // The worker is alive and the failure is final across a restart.
  ExpectFinalAcrossRestart(cluster.get(), {{e.id(), v1::PHASE_FAILED}});
}

TEST_F(CrashE2eTest, OneOfTwoInferenceServersKilledEndsIdentical) {
  Moments m("two-servers");
  // One try: kills the server streaming run `victim_run` while that run is
  // in its first half; the experiment must complete on the other server.
  // Returns whether the kill interrupted the run's stream (a tiny model's
  // run can finish between the progress poll and the kill).
  auto try_once = [&]() -> bool {
    auto cluster = StartCluster({}, /*inference_servers=*/2);
    EXPECT_NE(cluster, nullptr);
    if (cluster == nullptr) return true;
    auto stub = Stub(cluster.get());
    absl::StatusOr<v1::Experiment> e = Submit(stub.get());
    EXPECT_OK(e);
    if (!e.ok()) return true;
    // Runs start in plan order and one at a time, and the worker picks the
    // servers in turn: run i streams from server i % 2.
    const int victim_run = static_cast<int>(m.Between(0, 2));
    const double fraction = m.Between(5, 45) / 100.0;
    absl::StatusOr<v1::Experiment> now =
        PollUntil(stub.get(), e->id(), [&](const v1::Experiment& x) {
          for (const v1::Run& r : x.runs()) {
            if (r.index() == victim_run && r.state() == v1::RUN_RUNNING &&
                r.tokens_generated() >= fraction * r.time_points() &&
                r.tokens_generated() < r.time_points()) {
              return true;
            }
          }
          return false;
        });
    EXPECT_OK(now);
    if (!now.ok()) return true;
    cluster->KillInference(victim_run % 2);
    m.Say(absl::StrCat("server ", victim_run % 2,
                       " killed for good during run ", victim_run, " (",
                       Describe(*now), ")"));
    ExpectFinished(cluster.get(), e->id(), v1::PHASE_DONE);
    absl::StatusOr<v1::Experiment> ended = Get(stub.get(), e->id());
    EXPECT_OK(ended);
    if (!ended.ok()) return true;
    for (const v1::Run& r : ended->runs()) {
      if (r.index() == victim_run) return r.attempts() >= 2;
    }
    return false;
  };
  // A kill that lands after the run's stream ended proves nothing: try
  // again with new moments, up to three times.
  for (int attempt = 1; attempt <= 3; ++attempt) {
    if (try_once()) return;
    m.Say(absl::StrCat("try ", attempt,
                       ": the run's stream had ended before the kill"));
  }
  ADD_FAILURE() << "in 3 tries the kill never interrupted a stream";
}

}  // namespace
}  // namespace fnprobe::crash_e2e
