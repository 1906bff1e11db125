#include "tests/e2e/cli_e2e_cluster.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/env.h"
#include "tests/support/reference_data.h"

namespace fnprobe::testing {

absl::StatusOr<std::unique_ptr<CliE2eCluster>> CliE2eCluster::Start(
    const std::string& name, const std::string& model_name,
    MakeModelOptions make) {
  std::unique_ptr<CliE2eCluster> e2e(
      new CliE2eCluster(MakeTempDir(name), model_name));
  make.out_dir = e2e->model_dir();
  absl::StatusOr<MadeModel> made = MakeModel(make);
  if (!made.ok()) return made.status();
  WorkerClusterOptions o;
  o.dir = e2e->root_ + "/cluster";
  PosixEnv env;
  if (absl::Status s = env.CreateDirectories(o.dir); !s.ok()) return s;
  o.model_dir = e2e->model_dir();
  o.tokens = {absl::StrCat(kAliceToken, " alice"),
              absl::StrCat(kBobToken, " bob")};
  absl::StatusOr<std::unique_ptr<WorkerCluster>> cluster =
      WorkerCluster::Start(o);
  if (!cluster.ok()) return cluster.status();
  e2e->cluster_ = *std::move(cluster);
  return e2e;
}

CommandResult CliE2eCluster::RunAs(
    const std::string& token, std::vector<std::string> args,
    const std::map<std::string, std::string>& env,
    const std::string& dir) const {
  args.insert(args.begin(), {"--server", worker_address(), "--token", token,
                             "--connect-timeout", "5"});
  return RunCommand(FNPROBE_CLI_BINARY, args, env, dir);
}

}  // namespace fnprobe::testing
