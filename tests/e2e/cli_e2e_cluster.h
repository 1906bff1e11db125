// CliE2eCluster: what the CLI end-to-end suites (cli_e2e_test,
// ica_e2e_test) share: a model made with MakeModel in a fresh temporary
// root, a WorkerCluster (fnprobe-inference + fnprobe-worker) serving it
// with two users, alice and bob, and the real `fnprobe` CLI run as one of
// them.
//
// A suite starts one in SetUpTestSuite and shares it across its tests. Not
// thread-safe; the CLI runs as a child process per call.
//
// Compiled into each test that uses it (as worker_cluster.cc is), which
// defines FNPROBE_CLI_BINARY, FNPROBE_INFERENCE_BINARY and
// FNPROBE_WORKER_BINARY.
#ifndef FNPROBE_TESTS_E2E_CLI_E2E_CLUSTER_H_
#define FNPROBE_TESTS_E2E_CLI_E2E_CLUSTER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/inference/tools/model_maker.h"
#include "tests/e2e/worker_cluster.h"
#include "tests/support/command_runner.h"

namespace fnprobe::testing {

// The two users' bearer tokens, as the cluster's tokens file lists them.
inline constexpr char kAliceToken[] = "alice-token-0123456789abcdef";
inline constexpr char kBobToken[] = "bob-token-0123456789abcdefgh";

class CliE2eCluster {
 public:
  // Makes the model `make` describes at <root>/<model_name> (make.out_dir
  // is set here; <root> is a new temporary directory named after `name`)
  // and starts a WorkerCluster on it in <root>/cluster, alice and bob its
  // users. Errors from MakeModel or from starting the servers.
  static absl::StatusOr<std::unique_ptr<CliE2eCluster>> Start(
      const std::string& name, const std::string& model_name,
      MakeModelOptions make);

  // The temporary root: the model, the cluster's logs and data.
  const std::string& root() const { return root_; }
  // <root>/<model_name>.
  std::string model_dir() const { return root_ + "/" + model_name_; }
  WorkerCluster& cluster() { return *cluster_; }
  std::string worker_address() const { return cluster_->worker_address(); }

  // `fnprobe --server WORKER --token TOKEN --connect-timeout 5 args...` with
  // exactly `env` as its environment, in `dir` (which must exist).
  CommandResult RunAs(const std::string& token, std::vector<std::string> args,
                      const std::map<std::string, std::string>& env,
                      const std::string& dir) const;

 private:
  CliE2eCluster(std::string root, std::string model_name)
      : root_(std::move(root)), model_name_(std::move(model_name)) {}

  const std::string root_;
  const std::string model_name_;
  std::unique_ptr<WorkerCluster> cluster_;
};

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_E2E_CLI_E2E_CLUSTER_H_
