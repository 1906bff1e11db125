// InferenceServiceImpl: the gRPC face of one loaded model. Authenticates
// each call, validates and converts the request (request_builder.h), hands
// it to the Scheduler and streams its frames through a GenerateReactor.
// Holds no per-call state itself.
//
// Thread-safe.
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_INFERENCE_SERVICE_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_INFERENCE_SERVICE_H_

#include <memory>

#include "common/auth.h"
#include "fnprobe/v1/inference.grpc.pb.h"
#include "server/inference/model/model.h"
#include "server/inference/serving/reactor_executor.h"
#include "server/inference/serving/request_builder.h"
#include "server/inference/serving/scheduler.h"

namespace fnprobe {

class InferenceServiceImpl final
    : public v1::InferenceService::CallbackService {
 public:
  // REQUIRES: scheduler and authenticator outlive the service.
  InferenceServiceImpl(std::shared_ptr<const Model> model, Scheduler* scheduler,
                       const Authenticator* authenticator, RequestLimits limits,
                       SchedulerOptions scheduling);

  grpc::ServerWriteReactor<v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context,
      const v1::GenerateRequest* request) override;
  grpc::ServerWriteReactor<v1::GenerateResponse>* Forward(
      grpc::CallbackServerContext* context,
      const v1::ForwardRequest* request) override;
  grpc::ServerUnaryReactor* GetModelInfo(grpc::CallbackServerContext* context,
                                         const v1::GetModelInfoRequest* request,
                                         v1::ModelInfo* response) override;
  grpc::ServerUnaryReactor* Tokenize(grpc::CallbackServerContext* context,
                                     const v1::TokenizeRequest* request,
                                     v1::TokenizeResponse* response) override;

 private:
  // Submits a built request and returns the reactor streaming it, or a
  // reactor that fails at once with the error.
  grpc::ServerWriteReactor<v1::GenerateResponse>* Stream(
      absl::StatusOr<ScheduledRequest> request, v1::Encoding encoding);

  const std::shared_ptr<const Model> model_;
  Scheduler* const scheduler_;
  const Authenticator* const authenticator_;
  const RequestLimits limits_;
  const SchedulerOptions scheduling_;
  // Pumps the Generate streams off the scheduler's thread. Declared last:
  // destroyed first, running what is posted while the model still lives.
  ReactorExecutor executor_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_INFERENCE_SERVICE_H_
