// WorkerCluster: fnprobe-inference processes (one unless asked for more) and
// an fnprobe-worker process on loopback ports, for end-to-end tests of
// experiments. Any process can be killed (SIGKILL, as in a crash) and
// restarted on the same port with the same data directory.
#ifndef FNPROBE_TESTS_E2E_WORKER_CLUSTER_H_
#define FNPROBE_TESTS_E2E_WORKER_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "fnprobe/v1/experiments.grpc.pb.h"
#include "tests/e2e/server_process.h"

namespace fnprobe::testing {

struct WorkerClusterOptions {
  std::string dir;        // logs, tokens file, data dir
  std::string model_dir;  // checkpoint for fnprobe-inference
  // "TOKEN USER" lines; empty: no authentication.
  std::vector<std::string> tokens;
  std::vector<std::string> worker_flags;     // extra fnprobe-worker flags
  std::vector<std::string> inference_flags;  // extra fnprobe-inference flags
  // Inference servers of the same model; the worker gets one --inference
  // flag for each.
  int inference_servers = 1;
  // fnprobe-inference --threads: 1 for tests (ctest runs two at once on
  // two cores); 0 (every CPU) for benchmarks set beside the engine alone.
  int inference_threads = 1;
};

class WorkerCluster {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerCluster>> Start(
      WorkerClusterOptions options);

  // Server `i` (0 .. inference_servers - 1), on its old port if it ran
  // before.
  absl::Status StartInference(int i = 0);
  absl::Status StartWorker();
  void KillInference(int i = 0);
  void KillWorker();
  int StopWorker();

  std::string worker_address() const;
  std::string data_dir() const { return options_.dir + "/data"; }
  std::string worker_log() const { return options_.dir + "/worker.log"; }
  std::string inference_log(int i) const;
  ServerProcess* worker() { return worker_.get(); }
  ServerProcess* inference(int i = 0) { return inference_.at(i).get(); }

  // A stub on the worker; `token` empty sends none.
  std::unique_ptr<v1::ExperimentService::Stub> Stub() const;

 private:
  explicit WorkerCluster(WorkerClusterOptions options)
      : options_(std::move(options)) {}

  WorkerClusterOptions options_;
  std::vector<int> inference_ports_;  // 0: not started yet
  int worker_port_ = 0;
  std::vector<std::unique_ptr<ServerProcess>> inference_;
  std::unique_ptr<ServerProcess> worker_;
};

// Calls with a bearer token and a deadline.
std::unique_ptr<grpc::ClientContext> CallContext(
    const std::string& token, absl::Duration timeout = absl::Seconds(30));

// Polls GetExperiment until the experiment reaches a terminal phase or
// `timeout` passes; returns the last state.
absl::StatusOr<v1::Experiment> WaitForExperiment(
    v1::ExperimentService::Stub* stub, const std::string& token, int64_t id,
    absl::Duration timeout);

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_E2E_WORKER_CLUSTER_H_
