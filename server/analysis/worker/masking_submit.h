// Submission of masking experiments (masking_spec.h): the checks that need
// the store and the serving model, the networks resolved to units, the
// controls drawn, and the experiment stored with its plan in one
// transaction.
//
// Resolution: a network `{"experiment": E, "condition": C}` is experiment
// E's condition network C (NETWORK_CONDITION), cut down to `hooks` when
// given; E must be the caller's (NOT_FOUND otherwise, exactly as a missing
// one), finished (FAILED_PRECONDITION) and of the same model. Explicit units
// must name hook points of the serving model, within their widths. A
// network `{"experiment": E, "component": K, "group": G, "hooks": [H]}` is
// the ICA network of component K of E's decomposition of hook point H (or
// a joint one) for group G (the run's repeat); group and hooks may be left
// out where only one decomposition has a component K, and the error names
// the one to add otherwise (the chosen ICA network's units are read once,
// with the others'). The controls are drawn uniformly, or with
// `match_variance` by the units' variances (masking_spec.h) over the
// experiment that gives MEAN's means (`mean_from`, else the network's own;
// an explicit list of units needs `mean_from`), read at submission
// (unit_moments.h: one pass over its stored activations per source
// experiment). A network must leave at least as many other units at each
// of its hook points as it holds there, so that a control of its size
// fits. Every problem is INVALID_ARGUMENT naming the
// field ("masking.networks[0].units[3]: ..."), but for a missing or
// foreign experiment (NOT_FOUND) and an unfinished one
// (FAILED_PRECONDITION), whose messages name it too.
//
// Thread-safe: the stores and the pool are.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_MASKING_SUBMIT_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_MASKING_SUBMIT_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "fnprobe/v1/experiment_spec.pb.h"
#include "fnprobe/v1/inference.pb.h"
#include "server/analysis/masking_spec.h"
#include "server/analysis/worker/inference_pool.h"
#include "server/analysis/worker/worker_store.h"

namespace fnprobe::worker {

// The plan of `spec` (valid, defaults applied) for `user` against the
// serving model `info`.
absl::StatusOr<MaskingPlan> PlanMaskingExperiment(
    const v1::ExperimentSpec& spec, const std::string& user, WorkerStore& store,
    const v1::ModelInfo& info);

// Plans and stores a masking experiment; returns its id. UNAVAILABLE when no
// inference server serving the model answers (the plan needs its layout).
absl::StatusOr<int64_t> CreateMaskingExperiment(const v1::ExperimentSpec& spec,
                                                const std::string& user,
                                                WorkerStore& store,
                                                InferencePool& pool);

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_MASKING_SUBMIT_H_
