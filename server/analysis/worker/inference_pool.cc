#include "server/analysis/worker/inference_pool.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/auth.h"
#include "common/credentials.h"
#include "common/grpc_status.h"
#include "common/status_util.h"

namespace fnprobe::worker {

absl::StatusOr<std::unique_ptr<InferencePool>> InferencePool::Create(
    const InferencePoolOptions& options) {
  if (options.addresses.empty()) {
    return absl::InvalidArgumentError(
        "--inference: name at least one inference server (host:port)");
  }
  FNPROBE_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> creds,
                           MakeChannelCredentials(options.ca_cert));
  auto pool = std::unique_ptr<InferencePool>(new InferencePool(options));
  for (const std::string& address : options.addresses) {
    if (address.empty()) {
      return absl::InvalidArgumentError("--inference: empty address");
    }
    grpc::ChannelArguments args;
    // Frames of wide layouts are large; the worker reads what the server
    // sends.
    args.SetMaxReceiveMessageSize(-1);
    // A DNS name with several addresses (a headless Kubernetes service of
    // replicas) spreads streams over all of them.
    args.SetLoadBalancingPolicyName("round_robin");
    // Reconnect quickly after an inference server restarts.
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
    Server server;
    server.address = address;
    server.stub = v1::InferenceService::NewStub(
        grpc::CreateCustomChannel(address, creds, args));
    pool->servers_.push_back(std::move(server));
  }
  return pool;
}

InferencePool::InferencePool(InferencePoolOptions options)
    : options_(std::move(options)) {}

absl::StatusOr<v1::ModelInfo> InferencePool::FetchInfo(size_t i) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(options_.info_timeout));
  AddBearerToken(&context, options_.token);
  v1::ModelInfo info;
  grpc::Status status = servers_[i].stub->GetModelInfo(
      &context, v1::GetModelInfoRequest(), &info);
  if (!status.ok()) {
    return ToAbslStatus(status);
  }
  absl::MutexLock lock(&mu_);
  servers_[i].info = info;
  return info;
}

absl::Status InferencePool::RefreshUnknown() {
  absl::Status last = absl::OkStatus();
  for (size_t i = 0; i < servers_.size(); ++i) {
    {
      absl::MutexLock lock(&mu_);
      if (servers_[i].info.has_value()) continue;
    }
    absl::StatusOr<v1::ModelInfo> info = FetchInfo(i);
    if (!info.ok()) {
      last = absl::Status(
          info.status().code(),
          absl::StrCat(servers_[i].address, ": ", info.status().message()));
    }
  }
  return last;
}

v1::ListModelsResponse InferencePool::ListModels() {
  v1::ListModelsResponse response;
  for (size_t i = 0; i < servers_.size(); ++i) {
    v1::ServedModel* served = response.add_models();
    served->set_address(servers_[i].address);
    absl::StatusOr<v1::ModelInfo> info = FetchInfo(i);
    served->set_reachable(info.ok());
    if (info.ok()) {
      *served->mutable_info() = *info;
    } else {
      served->set_error(std::string(info.status().message()));
    }
  }
  return response;
}

absl::Status InferencePool::CheckModel(const std::string& model) {
  absl::Status refresh = RefreshUnknown();
  absl::MutexLock lock(&mu_);
  std::vector<std::string> served;
  for (const Server& s : servers_) {
    if (!s.info.has_value()) continue;
    if (s.info->model() == model) return absl::OkStatus();
    served.push_back(s.info->model());
  }
  if (served.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "no inference server reachable (", refresh.message(), ")"));
  }
  return absl::NotFoundError(absl::StrCat(
      "model '", model,
      "' is not served; servers serve: ", absl::StrJoin(served, ", ")));
}

absl::StatusOr<InferenceTarget> InferencePool::Pick(const std::string& model) {
  FNPROBE_RETURN_IF_ERROR(CheckModel(model));
  absl::MutexLock lock(&mu_);
  for (size_t k = 0; k < servers_.size(); ++k) {
    Server& s = servers_[(next_ + k) % servers_.size()];
    if (s.info.has_value() && s.info->model() == model) {
      next_ = (next_ + k + 1) % servers_.size();
      return InferenceTarget{s.address, s.stub.get()};
    }
  }
  return absl::UnavailableError("no inference server for model " + model);
}

std::optional<v1::ModelInfo> InferencePool::ModelInfoFor(
    const std::string& model) {
  absl::MutexLock lock(&mu_);
  for (const Server& s : servers_) {
    if (s.info.has_value() && s.info->model() == model) return s.info;
  }
  return std::nullopt;
}

absl::StatusOr<std::vector<int64_t>> InferencePool::CountTokens(
    const std::string& model, const std::vector<std::string>& texts) {
  // The first server of the model, without taking a turn in the runs'
  // rotation: submissions must not change which server streams which run.
  FNPROBE_RETURN_IF_ERROR(CheckModel(model));
  std::optional<InferenceTarget> first;
  {
    absl::MutexLock lock(&mu_);
    for (const Server& s : servers_) {
      if (s.info.has_value() && s.info->model() == model) {
        first = InferenceTarget{s.address, s.stub.get()};
        break;
      }
    }
  }
  if (!first.has_value()) {
    return absl::UnavailableError("no inference server for model " + model);
  }
  const InferenceTarget target = *first;
  size_t batch = 256;
  if (std::optional<v1::ModelInfo> info = ModelInfoFor(model);
      info.has_value() && info->limits().max_prompts_per_request() > 0) {
    batch = static_cast<size_t>(info->limits().max_prompts_per_request());
  }
  std::vector<int64_t> counts;
  counts.reserve(texts.size());
  for (size_t start = 0; start < texts.size(); start += batch) {
    v1::TokenizeRequest request;
    for (size_t i = start; i < std::min(texts.size(), start + batch); ++i) {
      request.add_texts(texts[i]);
    }
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    AddBearerToken(&context, options_.token);
    v1::TokenizeResponse response;
    grpc::Status status = target.stub->Tokenize(&context, request, &response);
    if (!status.ok()) {
      return Annotate(ToAbslStatus(status),
                      absl::StrCat(target.address, ": Tokenize"));
    }
    if (response.tokens_size() != request.texts_size()) {
      return absl::DataLossError(absl::StrCat(
          target.address, ": Tokenize answered ", response.tokens_size(),
          " token lists for ", request.texts_size(), " texts"));
    }
    for (const v1::TokenIds& ids : response.tokens()) {
      counts.push_back(ids.ids_size());
    }
  }
  return counts;
}

void InferencePool::Forget(const std::string& address) {
  absl::MutexLock lock(&mu_);
  for (Server& s : servers_) {
    if (s.address == address) s.info.reset();
  }
}

}  // namespace fnprobe::worker
