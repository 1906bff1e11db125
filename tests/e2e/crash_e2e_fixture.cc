#include "tests/e2e/crash_e2e_fixture.h"

#include "common/auth.h"

namespace fnprobe::crash_e2e {

std::string* CrashE2eTest::model_root_ = nullptr;
Reference* CrashE2eTest::reference_ = nullptr;

absl::Duration KillDelay(Moments& m, int k, int n, absl::Duration wall) {
  const int64_t slice = absl::ToInt64Milliseconds(wall) * 11 / 10 / n;
  return absl::Milliseconds(slice * k + m.Between(0, slice));
}

v1::ExperimentPhase WaitForAnalysis(v1::ExperimentService::Stub* stub,
                                    int64_t id) {
  grpc::ClientContext context;
  AddBearerToken(&context, kAlice);
  v1::WatchExperimentRequest watch;
  watch.set_experiment_id(id);
  auto reader = stub->WatchExperiment(&context, watch);
  v1::ExperimentProgress progress;
  while (reader->Read(&progress) && progress.phase() != v1::PHASE_ANALYZING &&
         !IsTerminal(progress.phase())) {
  }
  context.TryCancel();
  reader->Finish().IgnoreError();
  return progress.phase();
}

}  // namespace fnprobe::crash_e2e
