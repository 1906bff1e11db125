// InferenceServer: everything fnprobe-inference runs, in start-up order —
// the model (loaded once), the engine, the scheduler thread, the gRPC
// service with health checking and reflection — and shut down in reverse.
// main() and the end-to-end tests both use it.
//
// Thread-safe: Shutdown may be called from any thread, more than once.
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_INFERENCE_SERVER_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_INFERENCE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/inference/model/model.h"
#include "server/inference/serving/request_builder.h"
#include "server/inference/serving/scheduler.h"

namespace fnprobe {

struct InferenceServerOptions {
  std::string model_dir;
  std::string listen = "127.0.0.1:0";  // port 0 picks a free port
  ModelOptions model;
  SchedulerOptions scheduling;
  RequestLimits limits;
  std::string tokens_file;  // bearer tokens; empty disables auth
  std::string tls_cert;     // PEM paths; both or neither
  std::string tls_key;
};

class InferenceServer {
 public:
  // Loads the model and starts serving. Errors name the file or flag.
  static absl::StatusOr<std::unique_ptr<InferenceServer>> Start(
      const InferenceServerOptions& options);

  ~InferenceServer();

  // The port actually bound (useful with port 0).
  int port() const;
  const Model& model() const;
  SchedulerStats stats() const;

  // Stops accepting calls, gives in-flight streams `grace` to finish, then
  // cancels them and stops the scheduler.
  void Shutdown(absl::Duration grace);
  // Blocks until Shutdown has completed.
  void Wait();

 private:
  struct Rep;
  explicit InferenceServer(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_INFERENCE_SERVER_H_
