// IcaQueries: what ExperimentService answers about an experiment's ICA
// networks (issue 14): the components, the networks that recur across
// groups (runs) and their key neurons (server/analysis/ica/recurrence.h),
// and the GLM <-> ICA comparison. Read-only; every call checks that the
// experiment belongs to `user` (NOT_FOUND otherwise, as for other reads).
//
// Recurrence is computed per hook point (Liu et al. match a layer's
// components across groups), from the stored networks, on every call: it
// is cheap next to the decomposition and follows the options asked for.
//
// Thread-safety: as the stores it reads (any thread).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_ICA_QUERIES_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_ICA_QUERIES_H_

#include <string>

#include "absl/status/statusor.h"
#include "fnprobe/v1/experiments.pb.h"
#include "server/analysis/worker/worker_store.h"

namespace fnprobe::worker {

class IcaQueries {
 public:
  // `store` must outlive the queries.
  explicit IcaQueries(WorkerStore* store) : store_(store) {}

  absl::StatusOr<v1::ListIcaComponentsResponse> ListComponents(
      const v1::ListIcaComponentsRequest& request, const std::string& user);
  // INVALID_ARGUMENT for min_jaccard outside (0, 1] or min_frequency
  // outside [0, 1].
  absl::StatusOr<v1::GetRecurrenceResponse> GetRecurrence(
      const v1::GetRecurrenceRequest& request, const std::string& user);
  absl::StatusOr<v1::GetKeyNeuronsResponse> GetKeyNeurons(
      const v1::GetKeyNeuronsRequest& request, const std::string& user);
  // FAILED_PRECONDITION for a text corpus (no conditions to compare with).
  absl::StatusOr<v1::CompareMethodsResponse> CompareMethods(
      const v1::CompareMethodsRequest& request, const std::string& user);

 private:
  WorkerStore* const store_;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_ICA_QUERIES_H_
