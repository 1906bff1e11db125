// WorkerCluster: an fnprobe-inference process and an fnprobe-worker process
// on loopback ports, for end-to-end tests of experiments. Either process can
// be killed (SIGKILL, as in a crash) and restarted on the same port with the
// same data directory.
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
};

class WorkerCluster {
 public:
  static absl::StatusOr<std::unique_ptr<WorkerCluster>> Start(
      WorkerClusterOptions options);

  absl::Status StartInference();
  absl::Status StartWorker();
  void KillInference();
  void KillWorker();
  int StopWorker();

  std::string worker_address() const;
  std::string data_dir() const { return options_.dir + "/data"; }
  std::string worker_log() const { return options_.dir + "/worker.log"; }
  ServerProcess* worker() { return worker_.get(); }

  // A stub on the worker; `token` empty sends none.
  std::unique_ptr<v1::ExperimentService::Stub> Stub() const;

 private:
  explicit WorkerCluster(WorkerClusterOptions options)
      : options_(std::move(options)) {}

  WorkerClusterOptions options_;
  int inference_port_ = 0;
  int worker_port_ = 0;
  std::unique_ptr<ServerProcess> inference_;
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
