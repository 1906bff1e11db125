#include "client/experiment_watcher.h"

#include "absl/strings/str_cat.h"
#include "client/json_output.h"
#include "client/progress_display.h"
#include "client/proto_names.h"
#include "common/status_util.h"

namespace fnprobe::client {

ExperimentWatcher::ExperimentWatcher(ExperimentClient& client,
                                     const CommandOutput& output)
    : client_(client), output_(output) {}

absl::Status ExperimentWatcher::Outcome(const v1::ExperimentProgress& last) {
  const int64_t id = last.experiment_id();
  switch (last.phase()) {
    case v1::PHASE_DONE:
      return absl::OkStatus();
    case v1::PHASE_FAILED:
      return absl::AbortedError(absl::StrCat(
          "experiment ", id, " failed: ",
          last.error().empty() ? "(no error given)" : last.error()));
    case v1::PHASE_CANCELLED:
      return absl::CancelledError(
          absl::StrCat("experiment ", id, " was cancelled"));
    default:
      return absl::UnknownError(
          absl::StrCat("the progress stream of experiment ", id,
                       " ended while it was ", PhaseName(last.phase())));
  }
}

absl::Status ExperimentWatcher::Watch(int64_t id) {
  ProgressDisplay display(*output_.out, output_.tty);
  v1::ExperimentProgress last;
  last.set_experiment_id(id);
  absl::Status json_status;
  bool any = false;
  absl::Status stream_status =
      client_.WatchExperiment(id, [&](const v1::ExperimentProgress& progress) {
        last = progress;
        any = true;
        if (output_.json) {
          json_status.Update(PrintJsonLine(progress, *output_.out));
        } else {
          display.Update(progress);
        }
      });
  if (!stream_status.ok()) {
    if (any && output_.tty && !output_.json) *output_.out << std::endl;
    return stream_status;
  }
  FNPROBE_RETURN_IF_ERROR(json_status);
  if (!output_.json) display.Finish(last);
  return Outcome(last);
}

}  // namespace fnprobe::client
