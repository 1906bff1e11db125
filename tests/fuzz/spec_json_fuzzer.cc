// Fuzz target: an experiment spec as the worker receives it. The input is
// read both as proto JSON (ParseSpecJson, what the CLI and tests send) and
// as a binary ExperimentSpec (SubmitExperiment's wire form); whatever parses
// goes through what ExperimentServiceImpl::Submit does with a spec:
// FindSpecProblems / ValidateSpec and, for a valid one, WithDefaults and
// PlanRuns (plus the planner's per-run helpers).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/run_planner.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using fnprobe::v1::ExperimentSpec;

void Exercise(const ExperimentSpec& spec) {
  const std::vector<fnprobe::SpecProblem> problems =
      fnprobe::FindSpecProblems(spec);
  const absl::Status valid = fnprobe::ValidateSpec(spec);
  FUZZ_CHECK(valid.ok() == problems.empty(), valid.ToString());
  if (!valid.ok()) return;
  (void)fnprobe::DefaultDriftCutoff(spec);
  const ExperimentSpec full = fnprobe::WithDefaults(spec);
  // Submit plans the defaulted spec; PlanRuns requires it to be valid.
  const absl::Status still_valid = fnprobe::ValidateSpec(full);
  FUZZ_CHECK(still_valid.ok(), still_valid.ToString());
  for (const fnprobe::RunPlan& run : fnprobe::PlanRuns(full)) {
    (void)fnprobe::EventsTsv(run);
    // A few time points, not all: a valid spec may plan millions.
    for (int64_t t : {int64_t{0}, run.time_points / 2, run.time_points - 1}) {
      if (t >= 0 && t < run.time_points) {
        (void)fnprobe::TrialTypeAt(full, run, t);
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<ExperimentSpec> spec = fnprobe::ParseSpecJson(text, "fuzz");
  if (spec.ok()) Exercise(*spec);
  ExperimentSpec binary;
  if (binary.ParseFromArray(data, static_cast<int>(size))) Exercise(binary);
  return 0;
}
