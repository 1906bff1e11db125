#include "server/analysis/worker/worker_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <filesystem>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/auth.h"
#include "common/credentials.h"
#include "common/status_util.h"
#include "server/analysis/storage/data_dir_lock.h"
#include "server/analysis/worker/experiment_runner.h"
#include "server/analysis/worker/experiment_service.h"
#include "server/analysis/worker/inference_pool.h"
#include "server/analysis/worker/progress_hub.h"
#include "server/analysis/worker/worker_store.h"

namespace fnprobe::worker {

// Members in start-up order; destroyed in reverse.
struct WorkerServer::Rep {
  std::unique_ptr<DataDirLock> lock;  // released last
  std::string database_path;
  std::unique_ptr<WorkerStore> store;
  std::unique_ptr<InferencePool> pool;
  ProgressHub hub;
  std::unique_ptr<ExperimentRunner> runner;
  std::unique_ptr<Authenticator> authenticator;
  std::unique_ptr<ExperimentServiceImpl> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;

  absl::Mutex mu;
  bool shut_down ABSL_GUARDED_BY(mu) = false;
};

absl::StatusOr<std::unique_ptr<WorkerServer>> WorkerServer::Start(
    const WorkerServerOptions& o) {
  if (o.data_dir.empty()) {
    return absl::InvalidArgumentError("--data-dir: required");
  }
  std::error_code ec;
  std::filesystem::create_directories(o.data_dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(absl::StrCat(
        "--data-dir: cannot create '", o.data_dir, "': ", ec.message()));
  }
  auto rep = std::make_unique<Rep>();
  // Before anything reads the directory: a second worker must not reset the
  // first one's running runs or migrate its database under it.
  FNPROBE_ASSIGN_OR_RETURN(rep->lock, DataDirLock::Acquire(o.data_dir));
  std::optional<TokenTable> tokens;
  if (!o.tokens_file.empty()) {
    FNPROBE_ASSIGN_OR_RETURN(tokens, TokenTable::LoadFile(o.tokens_file));
  }
  rep->authenticator = std::make_unique<Authenticator>(std::move(tokens));
  FNPROBE_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> creds,
                           MakeServerCredentials(o.tls_cert, o.tls_key));
  rep->database_path = o.data_dir + "/fnprobe.db";
  FNPROBE_ASSIGN_OR_RETURN(rep->store, WorkerStore::Open(rep->database_path));
  InferencePoolOptions pool;
  pool.addresses = o.inference;
  pool.token = o.inference_token;
  pool.ca_cert = o.inference_ca;
  FNPROBE_ASSIGN_OR_RETURN(rep->pool, InferencePool::Create(pool));
  ExperimentRunnerOptions runner;
  runner.data_dir = o.data_dir;
  runner.max_concurrent_runs = o.max_concurrent_runs;
  runner.max_attempts = o.max_attempts;
  runner.inference_token = o.inference_token;
  runner.release_idle_memory = o.release_idle_memory;
  runner.min_free_bytes = o.min_free_bytes;
  rep->runner = std::make_unique<ExperimentRunner>(
      rep->store.get(), rep->pool.get(), &rep->hub, runner);
  FNPROBE_RETURN_IF_ERROR(rep->runner->Start());
  ExperimentServiceOptions service;
  service.user_quota_bytes = o.user_quota_bytes;
  rep->service = std::make_unique<ExperimentServiceImpl>(
      rep->store.get(), rep->runner.get(), rep->pool.get(), &rep->hub,
      rep->authenticator.get(), service);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(o.listen, creds, &rep->port);
  builder.RegisterService(rep->service.get());
  // A spec of the full paper experiment is a few hundred KB; allow 16 MB.
  builder.SetMaxReceiveMessageSize(16 << 20);
  builder.SetMaxSendMessageSize(64 << 20);
  rep->server = builder.BuildAndStart();
  if (rep->server == nullptr || rep->port == 0) {
    return absl::UnavailableError(
        absl::StrCat("--listen: cannot listen on '", o.listen,
                     "' (address in use or not local?)"));
  }
  return std::unique_ptr<WorkerServer>(new WorkerServer(std::move(rep)));
}

WorkerServer::WorkerServer(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}

WorkerServer::~WorkerServer() { Shutdown(absl::Seconds(2)); }

int WorkerServer::port() const { return rep_->port; }

std::string WorkerServer::database_path() const { return rep_->database_path; }

void WorkerServer::Shutdown(absl::Duration grace, absl::Duration drain) {
  {
    absl::MutexLock lock(&rep_->mu);
    if (rep_->shut_down) return;
    rep_->shut_down = true;
  }
  rep_->hub.Shutdown();
  rep_->server->Shutdown(std::chrono::system_clock::now() +
                         absl::ToChronoMilliseconds(grace));
  rep_->server->Wait();
  rep_->runner->Stop(drain);
}

}  // namespace fnprobe::worker
