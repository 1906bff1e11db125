// ExperimentServiceImpl: the gRPC face of fnprobe-worker
// (proto/fnprobe/v1/experiments.proto). Each handler authenticates the
// caller (bearer token -> user), validates the request naming the field at
// fault, and delegates: writes and scheduling to ExperimentRunner, reads to
// ExperimentStore (which enforces ownership).
//
// Thread-safe: gRPC calls handlers concurrently; the collaborators are
// thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_SERVICE_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_SERVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "common/auth.h"
#include "fnprobe/v1/experiments.grpc.pb.h"
#include "server/analysis/worker/experiment_runner.h"
#include "server/analysis/worker/ica_queries.h"
#include "server/analysis/worker/inference_pool.h"
#include "server/analysis/worker/progress_hub.h"
#include "server/analysis/worker/worker_store.h"

namespace fnprobe::worker {

struct ExperimentServiceOptions {
  // Raw activation bytes each user may store (0: no limit). A submit whose
  // estimate would pass it is refused with RESOURCE_EXHAUSTED.
  int64_t user_quota_bytes = 0;
  // How long DeleteExperiment waits for a running experiment it cancelled
  // to stop before answering UNAVAILABLE.
  absl::Duration delete_wait = absl::Seconds(30);
};

class ExperimentServiceImpl final : public v1::ExperimentService::Service {
 public:
  // The pointers must outlive the service.
  ExperimentServiceImpl(WorkerStore* store, ExperimentRunner* runner,
                        InferencePool* pool, ProgressHub* hub,
                        const Authenticator* authenticator,
                        ExperimentServiceOptions options = {});
  grpc::Status DeleteExperiment(
      grpc::ServerContext* context, const v1::DeleteExperimentRequest* request,
      v1::DeleteExperimentResponse* response) override;
  grpc::Status GetUsage(grpc::ServerContext* context,
                        const v1::GetUsageRequest* request,
                        v1::Usage* response) override;
  grpc::Status GetUnitTimeCourse(grpc::ServerContext* context,
                                 const v1::GetUnitTimeCourseRequest* request,
                                 v1::UnitTimeCourse* response) override;
  grpc::Status GetMaskingResults(
      grpc::ServerContext* context, const v1::GetMaskingResultsRequest* request,
      v1::GetMaskingResultsResponse* response) override;

  // ICA (experiment_service_ica.cc).
  grpc::Status DecomposeExperiment(
      grpc::ServerContext* context,
      const v1::DecomposeExperimentRequest* request,
      v1::Experiment* response) override;
  grpc::Status ListIcaComponents(
      grpc::ServerContext* context, const v1::ListIcaComponentsRequest* request,
      v1::ListIcaComponentsResponse* response) override;
  grpc::Status GetRecurrence(grpc::ServerContext* context,
                             const v1::GetRecurrenceRequest* request,
                             v1::GetRecurrenceResponse* response) override;
  grpc::Status GetKeyNeurons(grpc::ServerContext* context,
                             const v1::GetKeyNeuronsRequest* request,
                             v1::GetKeyNeuronsResponse* response) override;
  grpc::Status CompareMethods(grpc::ServerContext* context,
                              const v1::CompareMethodsRequest* request,
                              v1::CompareMethodsResponse* response) override;

  grpc::Status SubmitExperiment(grpc::ServerContext* context,
                                const v1::SubmitExperimentRequest* request,
                                v1::Experiment* response) override;
  grpc::Status GetExperiment(grpc::ServerContext* context,
                             const v1::GetExperimentRequest* request,
                             v1::Experiment* response) override;
  grpc::Status ListExperiments(grpc::ServerContext* context,
                               const v1::ListExperimentsRequest* request,
                               v1::ListExperimentsResponse* response) override;
  grpc::Status WatchExperiment(
      grpc::ServerContext* context, const v1::WatchExperimentRequest* request,
      grpc::ServerWriter<v1::ExperimentProgress>* writer) override;
  grpc::Status CancelExperiment(grpc::ServerContext* context,
                                const v1::CancelExperimentRequest* request,
                                v1::Experiment* response) override;
  grpc::Status ReanalyzeExperiment(
      grpc::ServerContext* context,
      const v1::ReanalyzeExperimentRequest* request,
      v1::Experiment* response) override;
  grpc::Status ListNetworks(grpc::ServerContext* context,
                            const v1::ListNetworksRequest* request,
                            v1::ListNetworksResponse* response) override;
  grpc::Status GetNetwork(grpc::ServerContext* context,
                          const v1::GetNetworkRequest* request,
                          v1::GetNetworkResponse* response) override;
  grpc::Status CompareNetworks(grpc::ServerContext* context,
                               const v1::CompareNetworksRequest* request,
                               v1::CompareNetworksResponse* response) override;
  grpc::Status GetRepeatability(
      grpc::ServerContext* context, const v1::GetRepeatabilityRequest* request,
      v1::GetRepeatabilityResponse* response) override;
  grpc::Status GetClassification(
      grpc::ServerContext* context, const v1::GetClassificationRequest* request,
      v1::GetClassificationResponse* response) override;
  grpc::Status GetRunEvents(grpc::ServerContext* context,
                            const v1::GetRunEventsRequest* request,
                            v1::GetRunEventsResponse* response) override;
  grpc::Status FindUnit(grpc::ServerContext* context,
                        const v1::FindUnitRequest* request,
                        v1::FindUnitResponse* response) override;
  grpc::Status GetStatMap(grpc::ServerContext* context,
                          const v1::GetStatMapRequest* request,
                          v1::StatMap* response) override;
  grpc::Status ListModels(grpc::ServerContext* context,
                          const v1::ListModelsRequest* request,
                          v1::ListModelsResponse* response) override;

 private:
  absl::StatusOr<v1::Experiment> Submit(const std::string& user,
                                        const v1::SubmitExperimentRequest& r);
  // The spec against the serving model's GetModelInfo: limits, hook
  // selectors (resolved as the inference server resolves them) and every
  // prompt's length in tokens plus the generated tokens within the context
  // (common/request_limits.h). INVALID_ARGUMENT listing the problems;
  // what cannot be asked (servers unreachable) refuses nothing.
  // Also sets *estimated_bytes and *model_checksum (0 and "" when the
  // server cannot be asked).
  absl::Status CheckAgainstServer(const v1::ExperimentSpec& spec,
                                  const std::vector<RunPlan>& plans,
                                  int64_t* estimated_bytes,
                                  std::string* model_checksum);
  // RESOURCE_EXHAUSTED naming the quota, the usage and the estimate when
  // `user`'s experiments plus `estimated_bytes` would pass the quota.
  absl::Status CheckQuota(const std::string& user, int64_t estimated_bytes);
  // A spec with `masking` (masking_submit.h).
  absl::StatusOr<v1::Experiment> SubmitMasking(const std::string& user,
                                               const v1::ExperimentSpec& spec);
  absl::StatusOr<v1::UnitTimeCourse> TimeCourse(
      const std::string& user, const v1::GetUnitTimeCourseRequest& request);
  absl::StatusOr<v1::Experiment> Decompose(
      const std::string& user, const v1::DecomposeExperimentRequest& request);
  absl::StatusOr<v1::DeleteExperimentResponse> Delete(
      const std::string& user, const v1::DeleteExperimentRequest& request);
  // Appends a line per prompt too long for `info`'s context.
  void CheckPromptLengths(const v1::ExperimentSpec& spec,
                          const v1::ModelInfo& info, std::string* problems);

  WorkerStore* const worker_;
  ExperimentStore* const store_;
  ResultQueries* const queries_;
  IcaStore* const ica_store_;
  IcaQueries ica_queries_;
  StorageAccounts* const storage_;
  ExperimentRunner* const runner_;
  InferencePool* const pool_;
  ProgressHub* const hub_;
  const Authenticator* const authenticator_;
  const ExperimentServiceOptions options_;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_SERVICE_H_
