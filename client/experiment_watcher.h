// Follows one experiment's WatchExperiment stream until the experiment
// finishes, showing progress (ProgressDisplay, or one JSON line per message
// with --json), and turns the final phase into a status: DONE is OK, FAILED
// is ABORTED carrying the experiment's error, CANCELLED is CANCELLED (see
// error_report.h for the exit codes these become).
//
// Not thread-safe.
#ifndef FNPROBE_CLIENT_EXPERIMENT_WATCHER_H_
#define FNPROBE_CLIENT_EXPERIMENT_WATCHER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "client/command_output.h"
#include "client/experiment_client.h"

namespace fnprobe::client {

class ExperimentWatcher {
 public:
  // `client` must outlive the watcher.
  ExperimentWatcher(ExperimentClient& client, const CommandOutput& output);

  // Watches experiment `id` to its end. OK when it is done; ABORTED "experiment
  // N failed: <error>"; CANCELLED "experiment N was cancelled"; the call's
  // error if the stream fails; UNKNOWN if it ends before a final phase.
  absl::Status Watch(int64_t id);

  // The status a final progress message stands for (as above).
  static absl::Status Outcome(const v1::ExperimentProgress& last);

 private:
  ExperimentClient& client_;
  const CommandOutput output_;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_EXPERIMENT_WATCHER_H_
