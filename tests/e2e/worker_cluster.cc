#include "tests/e2e/worker_cluster.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/auth.h"
#include "common/grpc_status.h"

namespace fnprobe::testing {

absl::StatusOr<std::unique_ptr<WorkerCluster>> WorkerCluster::Start(
    WorkerClusterOptions options) {
  auto cluster =
      std::unique_ptr<WorkerCluster>(new WorkerCluster(std::move(options)));
  if (!cluster->options_.tokens.empty()) {
    std::ofstream out(cluster->options_.dir + "/tokens");
    for (const std::string& line : cluster->options_.tokens)
      out << line << "\n";
  }
  const int n = std::max(1, cluster->options_.inference_servers);
  cluster->inference_ports_.assign(n, 0);
  cluster->inference_.resize(n);
  absl::Status s = absl::OkStatus();
  for (int i = 0; i < n && s.ok(); ++i) s = cluster->StartInference(i);
  if (s.ok()) s = cluster->StartWorker();
  if (!s.ok()) return s;
  return cluster;
}

std::string WorkerCluster::inference_log(int i) const {
  // The first server keeps the name it had when there was only one.
  return i == 0 ? options_.dir + "/inference.log"
                : absl::StrCat(options_.dir, "/inference-", i, ".log");
}

absl::Status WorkerCluster::StartInference(int i) {
  std::vector<std::string> args = {
      "--model-dir", options_.model_dir,
      "--device",    "cpu",
      "--threads",   absl::StrCat(options_.inference_threads)};
  args.insert(args.end(), options_.inference_flags.begin(),
              options_.inference_flags.end());
  auto p = ServerProcess::Start(FNPROBE_INFERENCE_BINARY, args, options_.dir,
                                inference_log(i), 60, inference_ports_.at(i));
  if (!p.ok()) return p.status();
  inference_.at(i) = std::move(*p);
  inference_ports_.at(i) = inference_.at(i)->port();
  return absl::OkStatus();
}

absl::Status WorkerCluster::StartWorker() {
  std::vector<std::string> args = {"--data-dir", data_dir()};
  for (int port : inference_ports_) {
    args.push_back("--inference");
    args.push_back(absl::StrCat("127.0.0.1:", port));
  }
  if (!options_.tokens.empty()) {
    args.push_back("--tokens-file");
    args.push_back(options_.dir + "/tokens");
  }
  args.insert(args.end(), options_.worker_flags.begin(),
              options_.worker_flags.end());
  auto p = ServerProcess::Start(FNPROBE_WORKER_BINARY, args, options_.dir,
                                worker_log(), 60, worker_port_);
  if (!p.ok()) return p.status();
  worker_ = std::move(*p);
  worker_port_ = worker_->port();
  return absl::OkStatus();
}

void WorkerCluster::KillInference(int i) { inference_.at(i)->Kill(); }
void WorkerCluster::KillWorker() { worker_->Kill(); }
int WorkerCluster::StopWorker() { return worker_->Stop(); }

std::string WorkerCluster::worker_address() const {
  return absl::StrCat("127.0.0.1:", worker_port_);
}

std::unique_ptr<v1::ExperimentService::Stub> WorkerCluster::Stub() const {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  return v1::ExperimentService::NewStub(grpc::CreateCustomChannel(
      worker_address(), grpc::InsecureChannelCredentials(), args));
}

std::unique_ptr<grpc::ClientContext> CallContext(const std::string& token,
                                                 absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        absl::ToChronoMilliseconds(timeout));
  AddBearerToken(context.get(), token);
  return context;
}

absl::StatusOr<v1::Experiment> WaitForExperiment(
    v1::ExperimentService::Stub* stub, const std::string& token, int64_t id,
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  v1::Experiment e;
  while (absl::Now() < deadline) {
    v1::GetExperimentRequest request;
    request.set_experiment_id(id);
    grpc::Status s = stub->GetExperiment(CallContext(token).get(), request, &e);
    if (!s.ok()) return ToAbslStatus(s);
    if (e.phase() == v1::PHASE_DONE || e.phase() == v1::PHASE_FAILED ||
        e.phase() == v1::PHASE_CANCELLED) {
      return e;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("experiment ", id, " unfinished after ",
                   absl::FormatDuration(timeout), ": ", e.DebugString()));
}

}  // namespace fnprobe::testing
