// Test helper: a tiny fnprobe.v1.InferenceService on 127.0.0.1 (port 0, so
// tests never collide) whose GetModelInfo authenticates the caller and
// answers with ModelInfo.model = the user name. Used by the auth and
// credentials tests to exercise real connections, metadata and TLS.
//
// Not thread-safe to construct or destroy; calls to it may run concurrently.
#ifndef FNPROBE_TESTS_COMMON_LOOPBACK_SERVER_H_
#define FNPROBE_TESTS_COMMON_LOOPBACK_SERVER_H_

#include <grpcpp/create_channel.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/auth.h"
#include "common/grpc_status.h"
#include "fnprobe/v1/inference.grpc.pb.h"

namespace fnprobe::testing {

class LoopbackServer {
 public:
  // Starts serving with `credentials`; `authenticator` must outlive the
  // server. Returns null if the server could not start (e.g. bad TLS key).
  static std::unique_ptr<LoopbackServer> Start(
      std::shared_ptr<grpc::ServerCredentials> credentials,
      const Authenticator* authenticator) {
    auto server =
        std::unique_ptr<LoopbackServer>(new LoopbackServer(authenticator));
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", std::move(credentials),
                             &server->port_);
    builder.RegisterService(&server->service_);
    server->server_ = builder.BuildAndStart();
    if (server->server_ == nullptr || server->port_ == 0) return nullptr;
    return server;
  }

  ~LoopbackServer() {
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(5));
  }

  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  class WhoAmIService final : public v1::InferenceService::Service {
   public:
    explicit WhoAmIService(const Authenticator* authenticator)
        : authenticator_(authenticator) {}

    grpc::Status GetModelInfo(grpc::ServerContext* context,
                              const v1::GetModelInfoRequest* /*request*/,
                              v1::ModelInfo* reply) override {
      absl::StatusOr<std::string> user = authenticator_->Authenticate(*context);
      if (!user.ok()) return ToGrpcStatus(user.status());
      reply->set_model(*user);
      return grpc::Status::OK;
    }

   private:
    const Authenticator* const authenticator_;
  };

  explicit LoopbackServer(const Authenticator* authenticator)
      : service_(authenticator) {}

  WhoAmIService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

// Calls GetModelInfo on `target` and stores the answered user in *user.
// `token` is sent as a bearer token unless empty. Fails fast (no
// wait-for-ready) with a 10 s deadline.
inline grpc::Status CallWhoAmI(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    const std::string& token, std::string* user,
    const grpc::ChannelArguments& args = grpc::ChannelArguments()) {
  auto channel = grpc::CreateCustomChannel(target, credentials, args);
  auto stub = v1::InferenceService::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  AddBearerToken(&context, token);
  v1::ModelInfo reply;
  grpc::Status status =
      stub->GetModelInfo(&context, v1::GetModelInfoRequest(), &reply);
  if (status.ok()) *user = reply.model();
  return status;
}

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_COMMON_LOOPBACK_SERVER_H_
