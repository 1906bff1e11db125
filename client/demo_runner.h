// `fnprobe demo`: the whole pipeline in one command, on a tiny random model
// made on the spot. It finds fnprobe-make-model, fnprobe-inference and
// fnprobe-worker (--bin-dir, else next to the fnprobe binary, else in the
// build tree it was built in), makes the demo model unless the work dir has
// it, starts the inference server and the worker on free loopback ports as
// child processes (logs in the work dir), submits the example spec (with the
// model the inference server serves), shows progress, prints the report,
// exports the results, says where the database and exports are, and stops
// both servers (worker first). Ctrl-C at any point stops them too.
//
// Work dir layout: demo-model/, inference.log, inference.port, worker.log,
// worker.port, data/ (the worker's database and activation store), export/.
//
// Not thread-safe, except that the interrupt handler may stop the children
// while Run is in progress.
#ifndef FNPROBE_CLIENT_DEMO_RUNNER_H_
#define FNPROBE_CLIENT_DEMO_RUNNER_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/child_process.h"
#include "client/command_output.h"
#include "client/environment.h"
#include "client/experiment_client.h"

namespace fnprobe::client {

struct DemoOptions {
  std::string work_dir = "fnprobe-demo";
  std::string spec_path;  // empty: DefaultDemoSpecPath()
  std::string bin_dir;    // empty: search (see above)
  bool keep = false;      // leave the servers running until Ctrl-C
};

class DemoRunner {
 public:
  DemoRunner(const Environment& env, const CommandOutput& output);
  ~DemoRunner();

  // Runs the demo. The first step's error otherwise, with the child's log
  // named when a server fails to start.
  absl::Status Run(const DemoOptions& options);

  // The example spec in the source tree this binary was built from.
  static std::string DefaultDemoSpecPath();

  // The directories searched for the server binaries, in order.
  std::vector<std::string> BinarySearchPath(const std::string& bin_dir) const;

 private:
  absl::StatusOr<std::string> FindBinary(const std::string& name) const;
  absl::Status EnsureModel();
  // Starts binary `name` with `args` plus --listen 127.0.0.1:0 and
  // --port-file <short_name>.port, logging to <short_name>.log; returns
  // "127.0.0.1:PORT" once the port file appears.
  absl::StatusOr<std::string> StartServer(const std::string& name,
                                          const std::string& short_name,
                                          std::vector<std::string> args,
                                          absl::Duration startup_timeout);
  // Submits `spec` with the model the inference server serves, and
  // follows it to the end; returns its id.
  absl::StatusOr<int64_t> SubmitAndWatch(ExperimentClient& client,
                                         v1::ExperimentSpec spec,
                                         const std::string& spec_path);
  absl::Status ReportAndExport(ExperimentClient& client, int64_t id);
  absl::Status KeepServing(const std::string& worker_address);
  void PrintWhere() const;
  // Keeps `child` where StopAll (and so Ctrl-C) stops it.
  ChildProcess* Adopt(std::unique_ptr<ChildProcess> child);
  // Stops every child, newest first; returns "name (exit N), ...".
  std::string StopAll();
  std::string Path(const std::string& name) const;

  const Environment& env_;
  const CommandOutput output_;
  DemoOptions options_;
  std::string work_dir_;              // absolute
  std::atomic<bool> keeping_{false};  // in KeepServing: Ctrl-C exits 0

  absl::Mutex mu_;
  std::vector<std::unique_ptr<ChildProcess>> children_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_DEMO_RUNNER_H_
