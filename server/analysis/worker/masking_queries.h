// The read side of masking experiments: GetMaskingResults, computed from
// the stored plan and per-text scores (masking_statistics.h) each time, so
// that what is shown always follows from what is stored.
//
// Thread-safe: the store is.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_MASKING_QUERIES_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_MASKING_QUERIES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "fnprobe/v1/experiments.pb.h"
#include "server/analysis/worker/worker_store.h"

namespace fnprobe::worker {

// NOT_FOUND for a missing or foreign experiment; FAILED_PRECONDITION for one
// that is not a masking experiment.
absl::StatusOr<v1::GetMaskingResultsResponse> LoadMaskingResults(
    WorkerStore& store, int64_t experiment_id, const std::string& user);

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_MASKING_QUERIES_H_
