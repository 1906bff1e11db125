// Each unit's activation mean and variance over an experiment's stored
// runs, for some of its hook points: MEAN's means (masking_runner.h) and
// the variances that variance-matched masking controls are drawn by
// (masking_spec.h, DrawVarianceMatchedControls), one rule in one place.
//
// Cost: one pass over the stored activation files (every done run's file
// is read and checksummed in full), and rows x (sum of the asked hooks'
// widths) multiply-adds. The arithmetic is capped at kMaxMomentValues
// values: past that, every k-th row (in stored order across the runs) is
// used, k the smallest that fits, so an experiment of a million time
// points at 4096 units costs about 16x fewer operations than all rows;
// every row below the cap is used.
//
// Thread-safe: free function; the store is.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_UNIT_MOMENTS_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_UNIT_MOMENTS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/analysis/worker/experiment_store.h"

namespace fnprobe::worker {

// About 2^28 values (~0.3 s of Welford updates on one core).
inline constexpr int64_t kMaxMomentValues = int64_t{1} << 28;

// One hook point's moments, by unit index (the hook's full width).
struct HookMoments {
  std::vector<double> mean;
  // Population variance (divided by `rows`): only ranks and MEAN depend
  // on it, and n - 1 would only rescale.
  std::vector<double> variance;
  int64_t rows = 0;    // rows used
  int64_t stride = 1;  // every stride-th stored row (kMaxMomentValues)
};

// The moments of every unit of `hooks` over the stored time points of
// experiment `id`'s done runs (Welford's update in double, so that a large
// mean does not swamp a small variance). FAILED_PRECONDITION when the
// experiment did not capture a hook or stores no activations; errors from
// the store and the activation files (DATA_LOSS for a corrupt one).
// `max_values`: the cap (a parameter so that tests can reach it).
absl::StatusOr<std::map<std::string, HookMoments>> UnitMoments(
    ExperimentStore& store, int64_t id, const std::vector<std::string>& hooks,
    int64_t max_values = kMaxMomentValues);

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_UNIT_MOMENTS_H_
