// FakeInferenceServer: an in-process fnprobe.v1.InferenceService on a
// loopback port, for tests of the worker without a model. It serves one
// model name. Generate answers with a header (a fixed 8-unit layout, F32)
// and one frame per prompt and step, with deterministic values in which
// prompts whose text starts with "alpha" raise unit 0 (so analyses find
// something); GetModelInfo describes the same layout.
//
// Knobs for driving the worker through its failure paths: Hold() makes
// every Generate wait after its header until Release() or the call is
// cancelled; FailWith() makes every Generate fail with a status.
//
// Thread-safe.
#ifndef FNPROBE_TESTS_ANALYSIS_WORKER_FAKE_INFERENCE_SERVER_H_
#define FNPROBE_TESTS_ANALYSIS_WORKER_FAKE_INFERENCE_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fnprobe/v1/inference.grpc.pb.h"

namespace fnprobe::testing {

class FakeInferenceServer final : public v1::InferenceService::Service {
 public:
  // Listens on 127.0.0.1 on a free port.
  static std::unique_ptr<FakeInferenceServer> Start(const std::string& model);
  ~FakeInferenceServer() override;

  std::string address() const;

  void Hold();
  void Release();
  // Every Generate fails with `status` (OK: none does).
  void FailWith(grpc::Status status);

  int generate_calls();
  // The prompt texts of every Generate call so far, in arrival order.
  std::vector<std::string> prompts_seen();
  // Waits until `n` Generate calls are held (or were: cumulative), up to
  // `timeout`; returns whether they were.
  bool WaitForHeld(int n, absl::Duration timeout);

  grpc::Status Generate(
      grpc::ServerContext* context, const v1::GenerateRequest* request,
      grpc::ServerWriter<v1::GenerateResponse>* writer) override;
  grpc::Status GetModelInfo(grpc::ServerContext* context,
                            const v1::GetModelInfoRequest* request,
                            v1::ModelInfo* response) override;
  // One token per space-separated word, plus a start token.
  grpc::Status Tokenize(grpc::ServerContext* context,
                        const v1::TokenizeRequest* request,
                        v1::TokenizeResponse* response) override;

  // What GetModelInfo reports.
  static constexpr int kContextLength = 64;

 private:
  explicit FakeInferenceServer(std::string model) : model_(std::move(model)) {}

  const std::string model_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex mu_;
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status failure_ ABSL_GUARDED_BY(mu_);
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> prompts_seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_ANALYSIS_WORKER_FAKE_INFERENCE_SERVER_H_
