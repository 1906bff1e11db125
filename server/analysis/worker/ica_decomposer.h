// Spatial ICA of stored runs (Liu et al. 2025, issue 14): each run's
// activations are read back from the activation store and decomposed per
// hook point (one layer's units at a time, as Liu et al. do), or over all
// selected hook points at once; each component's z-map thresholded at
// |z| > spec.z is its network. No inference server is involved: a finished
// experiment, text corpus or block design, can be decomposed again with
// other options.
//
// Thread-safety: free functions; concurrent calls on different runs are
// safe (RunSpatialIca is).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_ICA_DECOMPOSER_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_ICA_DECOMPOSER_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/layout.h"
#include "fnprobe/v1/experiment_spec.pb.h"
#include "server/analysis/ica/spatial_ica.h"
#include "server/analysis/worker/ica_store.h"

namespace fnprobe::worker {

// The hook name of a decomposition over every selected hook point at once.
inline constexpr char kAllHooks[] = "*";

// A stored run to decompose.
struct IcaRunInput {
  int64_t run_id = 0;
  int group = 0;  // the run's repeat
  std::string activation_path;
  int64_t time_points = 0;
};

struct IcaDecomposition {
  // Hook point names (or globs) to decompose, each on its own; empty: every
  // hook point of the layout. With `joint`, the selected hook points are
  // decomposed together (network units then span hooks).
  std::vector<std::string> hooks;
  bool joint = false;
};

// The library's options for `spec` (defaults applied by WithDefaults).
// INVALID_ARGUMENT for an unknown contrast function.
absl::StatusOr<ica::IcaOptions> IcaOptionsFromSpec(const v1::IcaSpec& spec);

// The layout's hook points that `decomposition` selects, in layout order;
// INVALID_ARGUMENT naming a selector that matches none.
absl::StatusOr<std::vector<size_t>> SelectIcaHooks(
    const Layout& layout, const IcaDecomposition& decomposition);

// Decomposes one stored run: one RunSpatialIca per selected hook point
// (or one over all of them), K = spec.components. `check` is asked between
// decompositions (cancellation). Errors: the store's, and RunSpatialIca's
// (K above the data's rank, NaN) with the run and hook named.
absl::StatusOr<std::vector<IcaNetwork>> DecomposeRun(
    const v1::IcaSpec& spec, const Layout& layout, const IcaRunInput& run,
    const IcaDecomposition& decomposition,
    const std::function<absl::Status()>& check);

// Decomposes `runs` as spec.scope says: each on its own (RUN, DecomposeRun
// per run, in order), or their time points concatenated in the order given
// (EXPERIMENT: temporal concatenation, as group ICA in fMRI does), one
// decomposition per hook point whose networks have run_id 0, group
// kEveryGroup and a time course spanning every run. `log` (may be null)
// hears one line per decomposition.
absl::StatusOr<std::vector<IcaNetwork>> DecomposeRuns(
    const v1::IcaSpec& spec, const Layout& layout,
    const std::vector<IcaRunInput>& runs, const IcaDecomposition& decomposition,
    const std::function<absl::Status()>& check,
    const std::function<void(const std::string&)>& log);

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_ICA_DECOMPOSER_H_
