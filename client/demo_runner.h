// `fnprobe demo`: the whole pipeline in one command, on a tiny model with a
// known answer, made on the spot. It finds fnprobe-make-model,
// fnprobe-inference and fnprobe-worker (--bin-dir, else next to the fnprobe
// binary, else in the build tree it was built in), makes the demo model
// unless the work dir has it: a planted-response model
// (`fnprobe-make-model --planted`, client/examples/planted-demo.plant.json)
// whose units respond to known made-up words, one set per condition. It
// starts the inference server and the worker on free loopback ports as
// child processes (logs in the work dir), submits the example spec
// (client/examples/planted-demo.json, with the model the inference server
// serves), shows progress, prints the report, exports the results, and ends
// with the planted truth beside what was found: per condition precision and
// recall of the network against the planted units, held-out accuracy
// against chance, and what the null audit gives on a random model. It says
// where the database and exports are and stops both servers (worker
// first). Ctrl-C at any point stops them too. The demo fails (exit 1) when
// the planted truth is not recovered (planted_truth.h's thresholds): a
// demonstration that silently showed a failure would mislead.
//
// Work dir layout: demo-model/ (planted.json: the truth), inference.log,
// inference.port, worker.log, worker.port, data/ (the worker's database and
// activation store), export/.
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
#include "client/experiment_report.h"

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
  // The PLANT.json the demo model is made with (same tree).
  static std::string DefaultDemoPlantPath();

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
  absl::StatusOr<ExperimentReport> ReportAndExport(ExperimentClient& client,
                                                   int64_t id);
  // Prints the planted truth beside the experiment's networks; the
  // shortfalls (CheckPlantedTruth) as the error.
  absl::Status CompareWithPlantedTruth(ExperimentClient& client,
                                       const ExperimentReport& report);
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
