// One attempt at one run: a Generate stream carrying all of the run's prompts
// to an inference server. Every frame is placed at its time point (prompt
// index x tokens_per_prompt + step), appended to the run's activation file
// and added, as it arrives, to the run's level one (PROMPT inference:
// per-prompt sums, PromptAccumulator) or streaming GLM (TOKEN); when the
// stream has delivered every time point, the file is finished (fsync,
// rename) and the run's prompt values and map are computed from the
// accumulated sufficient statistics.
//
// A text group's run (IsTextGroup) is teacher-forced instead: its texts are
// tokenized by the server (Tokenize), cut to the spec's maxTokens and sent
// as token ids through Forward; every position is a time point (the text's
// offset in the run + position), stored like generated ones, with no map
// (its analysis is ICA over the finished file).
//
// An attempt either returns everything a finished run stores or an error,
// leaving no activation file behind (the writer deletes its temporary). The
// caller decides about retrying (IsRetryable).
//
// Thread-safe: free functions; concurrent attempts must use different paths.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_RUN_EXECUTOR_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_RUN_EXECUTOR_H_

#include <grpcpp/client_context.h>

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "fnprobe/v1/experiment_spec.pb.h"
#include "fnprobe/v1/inference.grpc.pb.h"
#include "server/analysis/run_planner.h"
#include "server/analysis/storage/activation_file_system.h"
#include "server/analysis/worker/experiment_store.h"

namespace fnprobe::worker {

// Where an attempt's time went (wall clock), for the worker's log: the
// streaming GLM must stay a small share of a run.
struct RunAttemptStats {
  int64_t frames = 0;
  double wall_s = 0;        // from the request to the finished file and map
  double accumulate_s = 0;  // GlmAccumulator::Add
  double store_s = 0;       // ActivationWriter::Append and Finish
  double fit_s = 0;         // the run's fit from the sufficient statistics
};

struct RunAttempt {
  const v1::ExperimentSpec* spec = nullptr;  // validated, defaults applied
  const RunPlan* plan = nullptr;
  std::string activation_path;  // the run's file in the activation store
  std::string inference_token;  // bearer token for the inference server
  // Called with the number of frames received, every `progress_every`
  // frames and at the end.
  std::function<void(int64_t)> on_progress;
  int progress_every = 256;
  RunAttemptStats* stats = nullptr;  // filled when not null
  // The activation store's file operations; nullptr: the real file system.
  ActivationFileSystem* file_system = nullptr;
};

// The GenerateRequest of a run: its prompts in presentation order, the
// spec's generation and capture settings, end-of-sequence suppressed, and
// the run's own seed (RunSeed).
v1::GenerateRequest MakeGenerateRequest(const v1::ExperimentSpec& spec,
                                        const RunPlan& plan);

// The sampling seed of a run: a function of the spec's seed and the run's
// index, so that a redone run generates exactly what it did before.
uint64_t RunSeed(const v1::ExperimentSpec& spec, const RunPlan& plan);

// Executes one attempt over `stub`. `context` may be cancelled from another
// thread (CancelExperiment, shutdown): the attempt then returns CANCELLED.
// Errors: the stream's status; DATA_LOSS when the stream ends without every
// time point or with a frame outside the plan; the store's errors.
absl::StatusOr<FinishedRun> ExecuteRunAttempt(
    v1::InferenceService::StubInterface* stub, grpc::ClientContext* context,
    const RunAttempt& attempt);

// Whether a failed attempt is worth repeating: the server was unreachable or
// restarted (UNAVAILABLE, and the UNKNOWN/INTERNAL/ABORTED a broken stream
// reports), busy (RESOURCE_EXHAUSTED), or a stream ended early (DATA_LOSS).
bool IsRetryable(const absl::Status& status);

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_RUN_EXECUTOR_H_
