#include "client/experiment_client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/error_report.h"
#include "common/auth.h"
#include "common/credentials.h"
#include "common/grpc_status.h"
#include "common/status_util.h"

namespace fnprobe::client {
namespace {

std::chrono::system_clock::time_point DeadlineAfter(double seconds) {
  return std::chrono::system_clock::now() +
         std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
}

// Largest message the CLI accepts: stat maps of big models are large.
constexpr int kMaxReceiveBytes = 1 << 30;

}  // namespace

absl::StatusOr<std::unique_ptr<ExperimentClient>> ExperimentClient::Connect(
    const ConnectionSettings& settings) {
  FNPROBE_ASSIGN_OR_RETURN(auto credentials,
                           MakeChannelCredentials(settings.ca_cert));
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  auto channel = grpc::CreateCustomChannel(settings.server, credentials, args);
  if (!channel->WaitForConnected(DeadlineAfter(settings.connect_timeout_s))) {
    return MarkFromServer(absl::UnavailableError(absl::StrCat(
        "no connection within ", settings.connect_timeout_s, " s")));
  }
  return std::unique_ptr<ExperimentClient>(
      new ExperimentClient(settings, std::move(channel)));
}

ExperimentClient::ExperimentClient(ConnectionSettings settings,
                                   std::shared_ptr<grpc::Channel> channel)
    : settings_(std::move(settings)),
      channel_(std::move(channel)),
      stub_(v1::ExperimentService::NewStub(channel_)) {}

std::unique_ptr<grpc::ClientContext> ExperimentClient::NewContext(
    double timeout_s) const {
  auto context = std::make_unique<grpc::ClientContext>();
  if (timeout_s > 0) context->set_deadline(DeadlineAfter(timeout_s));
  AddBearerToken(context.get(), settings_.token);
  return context;
}

template <typename Request, typename Response>
absl::StatusOr<Response> ExperimentClient::Call(
    Method<Request, Response> method, const Request& request,
    double timeout_s) {
  auto context =
      NewContext(timeout_s > 0 ? timeout_s : settings_.call_timeout_s);
  Response response;
  grpc::Status status =
      (stub_.get()->*method)(context.get(), request, &response);
  if (!status.ok()) return MarkFromServer(ToAbslStatus(status));
  return response;
}

absl::StatusOr<v1::Experiment> ExperimentClient::SubmitExperiment(
    const v1::ExperimentSpec& spec) {
  v1::SubmitExperimentRequest request;
  *request.mutable_spec() = spec;
  return Call(&v1::ExperimentService::Stub::SubmitExperiment, request);
}

absl::StatusOr<v1::Experiment> ExperimentClient::GetExperiment(int64_t id) {
  v1::GetExperimentRequest request;
  request.set_experiment_id(id);
  return Call(&v1::ExperimentService::Stub::GetExperiment, request);
}

absl::StatusOr<v1::ListExperimentsResponse> ExperimentClient::ListExperiments(
    const v1::ListExperimentsRequest& request) {
  return Call(&v1::ExperimentService::Stub::ListExperiments, request);
}

absl::StatusOr<v1::Experiment> ExperimentClient::CancelExperiment(int64_t id) {
  v1::CancelExperimentRequest request;
  request.set_experiment_id(id);
  return Call(&v1::ExperimentService::Stub::CancelExperiment, request);
}

absl::StatusOr<v1::DeleteExperimentResponse> ExperimentClient::DeleteExperiment(
    int64_t id, bool activations_only) {
  v1::DeleteExperimentRequest request;
  request.set_experiment_id(id);
  request.set_activations_only(activations_only);
  // A running experiment is cancelled first; the worker waits for it.
  return Call(&v1::ExperimentService::Stub::DeleteExperiment, request,
              std::max(settings_.call_timeout_s, 60.0));
}

absl::StatusOr<v1::UnitTimeCourse> ExperimentClient::GetUnitTimeCourse(
    const v1::GetUnitTimeCourseRequest& request) {
  return Call(&v1::ExperimentService::Stub::GetUnitTimeCourse, request);
}

absl::StatusOr<v1::Usage> ExperimentClient::GetUsage() {
  return Call(&v1::ExperimentService::Stub::GetUsage, v1::GetUsageRequest());
}

absl::StatusOr<v1::Experiment> ExperimentClient::ReanalyzeExperiment(
    const v1::ReanalyzeExperimentRequest& request) {
  return Call(&v1::ExperimentService::Stub::ReanalyzeExperiment, request,
              std::max(settings_.call_timeout_s, kReanalyzeTimeoutS));
}

absl::StatusOr<v1::Experiment> ExperimentClient::DecomposeExperiment(
    const v1::DecomposeExperimentRequest& request) {
  return Call(&v1::ExperimentService::Stub::DecomposeExperiment, request,
              std::max(settings_.call_timeout_s, kReanalyzeTimeoutS));
}

absl::StatusOr<v1::ListIcaComponentsResponse>
ExperimentClient::ListIcaComponents(
    const v1::ListIcaComponentsRequest& request) {
  return Call(&v1::ExperimentService::Stub::ListIcaComponents, request);
}

absl::StatusOr<v1::GetRecurrenceResponse> ExperimentClient::GetRecurrence(
    const v1::GetRecurrenceRequest& request) {
  return Call(&v1::ExperimentService::Stub::GetRecurrence, request);
}

absl::StatusOr<v1::GetKeyNeuronsResponse> ExperimentClient::GetKeyNeurons(
    const v1::GetKeyNeuronsRequest& request) {
  return Call(&v1::ExperimentService::Stub::GetKeyNeurons, request);
}

absl::StatusOr<v1::CompareMethodsResponse> ExperimentClient::CompareMethods(
    const v1::CompareMethodsRequest& request) {
  return Call(&v1::ExperimentService::Stub::CompareMethods, request);
}

absl::StatusOr<v1::ListNetworksResponse> ExperimentClient::ListNetworks(
    const v1::ListNetworksRequest& request) {
  return Call(&v1::ExperimentService::Stub::ListNetworks, request);
}

absl::StatusOr<v1::GetNetworkResponse> ExperimentClient::GetNetwork(
    const v1::GetNetworkRequest& request) {
  return Call(&v1::ExperimentService::Stub::GetNetwork, request);
}

absl::StatusOr<v1::GetNetworkResponse> ExperimentClient::GetNetworkUnits(
    v1::GetNetworkRequest request, int64_t max_units) {
  constexpr int64_t kPageSize = 10000;  // the most the worker sends at once
  auto page_size = [&](int64_t have) {
    return max_units > 0 ? std::min(kPageSize, max_units - have) : kPageSize;
  };
  request.set_page_size(page_size(0));
  request.clear_page_token();
  FNPROBE_ASSIGN_OR_RETURN(v1::GetNetworkResponse whole, GetNetwork(request));
  std::string next = whole.next_page_token();
  while (!next.empty() && (max_units == 0 || whole.units_size() < max_units)) {
    request.set_page_token(next);
    request.set_page_size(page_size(whole.units_size()));
    FNPROBE_ASSIGN_OR_RETURN(v1::GetNetworkResponse page, GetNetwork(request));
    whole.mutable_units()->MergeFrom(page.units());
    next = page.next_page_token();
  }
  whole.clear_next_page_token();
  return whole;
}

absl::StatusOr<v1::CompareNetworksResponse> ExperimentClient::CompareNetworks(
    const v1::CompareNetworksRequest& request) {
  return Call(&v1::ExperimentService::Stub::CompareNetworks, request);
}

absl::StatusOr<v1::GetRepeatabilityResponse> ExperimentClient::GetRepeatability(
    int64_t id) {
  v1::GetRepeatabilityRequest request;
  request.set_experiment_id(id);
  return Call(&v1::ExperimentService::Stub::GetRepeatability, request);
}

absl::StatusOr<v1::GetMaskingResultsResponse>
ExperimentClient::GetMaskingResults(int64_t id) {
  v1::GetMaskingResultsRequest request;
  request.set_experiment_id(id);
  return Call(&v1::ExperimentService::Stub::GetMaskingResults, request);
}

absl::StatusOr<v1::GetClassificationResponse>
ExperimentClient::GetClassification(int64_t id) {
  v1::GetClassificationRequest request;
  request.set_experiment_id(id);
  return Call(&v1::ExperimentService::Stub::GetClassification, request);
}

absl::StatusOr<v1::GetRunEventsResponse> ExperimentClient::GetRunEvents(
    int64_t id, int32_t run_index) {
  v1::GetRunEventsRequest request;
  request.set_experiment_id(id);
  request.set_run_index(run_index);
  return Call(&v1::ExperimentService::Stub::GetRunEvents, request);
}

absl::StatusOr<v1::FindUnitResponse> ExperimentClient::FindUnit(
    const v1::FindUnitRequest& request) {
  return Call(&v1::ExperimentService::Stub::FindUnit, request);
}

absl::StatusOr<v1::StatMap> ExperimentClient::GetStatMap(
    const v1::GetStatMapRequest& request) {
  return Call(&v1::ExperimentService::Stub::GetStatMap, request);
}

absl::StatusOr<v1::ListModelsResponse> ExperimentClient::ListModels() {
  return Call(&v1::ExperimentService::Stub::ListModels,
              v1::ListModelsRequest());
}

absl::Status ExperimentClient::WatchExperiment(
    int64_t id,
    const std::function<void(const v1::ExperimentProgress&)>& on_progress) {
  auto context = NewContext(/*timeout_s=*/0);
  v1::WatchExperimentRequest request;
  request.set_experiment_id(id);
  auto reader = stub_->WatchExperiment(context.get(), request);
  v1::ExperimentProgress progress;
  while (reader->Read(&progress)) on_progress(progress);
  return MarkFromServer(ToAbslStatus(reader->Finish()));
}

}  // namespace fnprobe::client
