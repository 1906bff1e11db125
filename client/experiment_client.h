// A connection to fnprobe-worker's ExperimentService: one channel, a bearer
// token added to every call, a deadline on every unary call, and errors as
// absl::Status marked as the worker's (MarkFromServer), so that the CLI can
// tell them from local ones.
//
// Thread-safe: the stub and channel may be used from several threads; each
// call has its own ClientContext.
#ifndef FNPROBE_CLIENT_EXPERIMENT_CLIENT_H_
#define FNPROBE_CLIENT_EXPERIMENT_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/connection_settings.h"
#include "fnprobe/v1/experiments.grpc.pb.h"

namespace fnprobe::client {

class ExperimentClient {
 public:
  // Opens a channel to settings.server and waits up to
  // settings.connect_timeout_s for it to connect. UNAVAILABLE ("no
  // connection within N s") if it does not; the credentials' error (a CA
  // file that cannot be read) otherwise.
  static absl::StatusOr<std::unique_ptr<ExperimentClient>> Connect(
      const ConnectionSettings& settings);

  const ConnectionSettings& settings() const { return settings_; }

  absl::StatusOr<v1::Experiment> SubmitExperiment(
      const v1::ExperimentSpec& spec);
  absl::StatusOr<v1::Experiment> GetExperiment(int64_t id);
  absl::StatusOr<v1::ListExperimentsResponse> ListExperiments(
      const v1::ListExperimentsRequest& request);
  absl::StatusOr<v1::Experiment> CancelExperiment(int64_t id);
  absl::StatusOr<v1::DeleteExperimentResponse> DeleteExperiment(
      int64_t id, bool activations_only);
  absl::StatusOr<v1::Usage> GetUsage();
  absl::StatusOr<v1::UnitTimeCourse> GetUnitTimeCourse(
      const v1::GetUnitTimeCourseRequest& request);
  // Refitting reads every run's activations again, so this call's deadline
  // is at least kReanalyzeTimeoutS.
  static constexpr double kReanalyzeTimeoutS = 600;
  absl::StatusOr<v1::Experiment> ReanalyzeExperiment(
      const v1::ReanalyzeExperimentRequest& request);
  absl::StatusOr<v1::ListNetworksResponse> ListNetworks(
      const v1::ListNetworksRequest& request);
  absl::StatusOr<v1::GetNetworkResponse> GetNetwork(
      const v1::GetNetworkRequest& request);
  // The network's units matching request's filters, following page tokens
  // until `max_units` units (all of them when 0) are in one response.
  absl::StatusOr<v1::GetNetworkResponse> GetNetworkUnits(
      v1::GetNetworkRequest request, int64_t max_units = 0);
  absl::StatusOr<v1::CompareNetworksResponse> CompareNetworks(
      const v1::CompareNetworksRequest& request);
  absl::StatusOr<v1::GetRepeatabilityResponse> GetRepeatability(int64_t id);
  absl::StatusOr<v1::GetMaskingResultsResponse> GetMaskingResults(int64_t id);
  absl::StatusOr<v1::GetClassificationResponse> GetClassification(int64_t id);
  absl::StatusOr<v1::GetRunEventsResponse> GetRunEvents(int64_t id,
                                                        int32_t run_index);
  absl::StatusOr<v1::FindUnitResponse> FindUnit(
      const v1::FindUnitRequest& request);
  absl::StatusOr<v1::StatMap> GetStatMap(const v1::GetStatMapRequest& request);
  absl::StatusOr<v1::ListModelsResponse> ListModels();
  // ICA (issue 14).
  absl::StatusOr<v1::Experiment> DecomposeExperiment(
      const v1::DecomposeExperimentRequest& request);
  absl::StatusOr<v1::ListIcaComponentsResponse> ListIcaComponents(
      const v1::ListIcaComponentsRequest& request);
  absl::StatusOr<v1::GetRecurrenceResponse> GetRecurrence(
      const v1::GetRecurrenceRequest& request);
  absl::StatusOr<v1::GetKeyNeuronsResponse> GetKeyNeurons(
      const v1::GetKeyNeuronsRequest& request);
  absl::StatusOr<v1::CompareMethodsResponse> CompareMethods(
      const v1::CompareMethodsRequest& request);

  // Streams the experiment's progress into `on_progress` until the stream
  // ends (after a terminal phase). No deadline: an experiment may run for
  // hours. OK when the stream ended cleanly.
  absl::Status WatchExperiment(
      int64_t id,
      const std::function<void(const v1::ExperimentProgress&)>& on_progress);

 private:
  template <typename Request, typename Response>
  using Method = grpc::Status (v1::ExperimentService::Stub::*)(
      grpc::ClientContext*, const Request&, Response*);

  ExperimentClient(ConnectionSettings settings,
                   std::shared_ptr<grpc::Channel> channel);

  // A context carrying the token and a deadline `timeout_s` from now (none
  // if `timeout_s` <= 0).
  std::unique_ptr<grpc::ClientContext> NewContext(double timeout_s) const;

  // Calls `method` with the call timeout, or `timeout_s` if given (> 0).
  template <typename Request, typename Response>
  absl::StatusOr<Response> Call(Method<Request, Response> method,
                                const Request& request, double timeout_s = 0);

  const ConnectionSettings settings_;
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::ExperimentService::Stub> stub_;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_EXPERIMENT_CLIENT_H_
