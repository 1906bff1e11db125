#include "server/inference/serving/inference_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "common/auth.h"
#include "common/credentials.h"
#include "common/status_util.h"
#include "server/inference/model/torch_engine.h"
#include "server/inference/serving/inference_service.h"

namespace fnprobe {

// Members in start-up order; destroyed in reverse.
struct InferenceServer::Rep {
  std::shared_ptr<const Model> model;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<Authenticator> authenticator;
  std::unique_ptr<InferenceServiceImpl> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  absl::Mutex mu;
  bool shut_down ABSL_GUARDED_BY(mu) = false;
  absl::Notification done;
};

absl::StatusOr<std::unique_ptr<InferenceServer>> InferenceServer::Start(
    const InferenceServerOptions& options) {
  auto rep = std::make_unique<Rep>();
  std::optional<TokenTable> tokens;
  if (!options.tokens_file.empty()) {
    FNPROBE_ASSIGN_OR_RETURN(tokens, TokenTable::LoadFile(options.tokens_file));
  }
  FNPROBE_ASSIGN_OR_RETURN(
      std::shared_ptr<grpc::ServerCredentials> credentials,
      MakeServerCredentials(options.tls_cert, options.tls_key));
  rep->authenticator = std::make_unique<Authenticator>(std::move(tokens));
  FNPROBE_ASSIGN_OR_RETURN(rep->model,
                           Model::Load(options.model_dir, options.model));
  rep->engine = NewTorchEngine(rep->model);
  rep->scheduler =
      std::make_unique<Scheduler>(rep->engine.get(), options.scheduling);
  rep->service = std::make_unique<InferenceServiceImpl>(
      rep->model, rep->scheduler.get(), rep->authenticator.get(),
      options.limits, options.scheduling);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen, credentials, &rep->port);
  builder.RegisterService(rep->service.get());
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(options.limits.max_request_bytes));
  rep->server = builder.BuildAndStart();
  if (rep->server == nullptr || rep->port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on '", options.listen,
                     "' (address in use or not local?)"));
  }
  return std::unique_ptr<InferenceServer>(new InferenceServer(std::move(rep)));
}

InferenceServer::InferenceServer(std::unique_ptr<Rep> rep)
    : rep_(std::move(rep)) {}

InferenceServer::~InferenceServer() { Shutdown(absl::Seconds(5)); }

int InferenceServer::port() const { return rep_->port; }
const Model& InferenceServer::model() const { return *rep_->model; }
SchedulerStats InferenceServer::stats() const {
  return rep_->scheduler->Stats();
}

void InferenceServer::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&rep_->mu);
    if (rep_->shut_down) return;
    rep_->shut_down = true;
  }
  // In-flight streams get `grace`, then are cancelled; the scheduler must be
  // alive until they are done.
  rep_->server->Shutdown(std::chrono::system_clock::now() +
                         absl::ToChronoSeconds(grace));
  rep_->server->Wait();
  rep_->scheduler.reset();
  rep_->done.Notify();
}

void InferenceServer::Wait() { rep_->done.WaitForNotification(); }

}  // namespace fnprobe
