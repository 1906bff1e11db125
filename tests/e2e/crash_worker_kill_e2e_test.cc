// Crash-test scenario (issue 13): fnprobe-worker SIGKILLed at 10 moments
// (8 at random delays over the generation, 2 within 3 ms of the analysis
// starting) and restarted; every experiment ends done, identical to the
// undisturbed run. Fixture and checks: crash_e2e_fixture.h.
#include "tests/e2e/crash_e2e_fixture.h"

namespace fnprobe::crash_e2e {
namespace {

TEST_F(CrashE2eTest, WorkerKilledAtRandomMomentsEndsIdentical) {
  Moments m("worker-kill");
  auto cluster = StartCluster();
  ASSERT_NE(cluster, nullptr);
  constexpr int kKills = 10;
  // The last kAnalysisKills land 0-3 ms after the analysis starts (it is
  // short: a random delay rarely finds it); the others at random delays
  // spread over the generation.
  constexpr int kAnalysisKills = 2;
  constexpr int kTimedKills = kKills - kAnalysisKills;
  std::vector<std::pair<int64_t, v1::ExperimentPhase>> finished;
  for (int k = 0; k < kKills; ++k) {
    auto stub = Stub(cluster.get());
    ASSERT_OK_AND_ASSIGN(v1::Experiment e, Submit(stub.get()));
    const absl::Duration down = absl::Milliseconds(m.Between(0, 300));
    std::string moment;
    if (k < kTimedKills) {
      const absl::Duration delay =
          KillDelay(m, k, kTimedKills, reference_->wall * 0.9);
      absl::SleepFor(delay);
      moment = absl::FormatDuration(delay);
    } else {
      const absl::Duration delay = absl::Milliseconds(m.Between(0, 3));
      const v1::ExperimentPhase seen = WaitForAnalysis(stub.get(), e.id());
      absl::SleepFor(delay);
      moment = absl::StrCat(absl::FormatDuration(delay), " after ",
                            v1::ExperimentPhase_Name(seen));
    }
    ASSERT_OK_AND_ASSIGN(v1::Experiment now, Get(stub.get(), e.id()));
    cluster->KillWorker();
    m.Say(absl::StrCat("kill ", k + 1, "/", kKills, " at ", moment, " (",
                       Describe(now), "), restart after ",
                       absl::FormatDuration(down)));
    absl::SleepFor(down);
    ASSERT_OK(cluster->StartWorker());
    ExpectFinished(cluster.get(), e.id(), v1::PHASE_DONE);
    finished.push_back({e.id(), v1::PHASE_DONE});
    if (HasFatalFailure()) return;
  }
  ExpectFinalAcrossRestart(cluster.get(), finished);
}

}  // namespace
}  // namespace fnprobe::crash_e2e
