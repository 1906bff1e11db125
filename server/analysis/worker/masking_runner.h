// Executes the runs of masking experiments (masking_spec.h) for the
// ExperimentRunner, which branches here for a spec with `masking` and keeps
// the same state machine, progress, cancellation, resume and ownership
// rules as for block-design runs.
//
// A run scores one batch of evaluation texts teacher-forced (Forward with
// `score`) under one or more members: the unmasked run has one; a masked
// run has the network's intervention (member 0) and each of its controls'
// (members 1..N). The members' Forward streams are started together, one
// thread each, so that the inference server's scheduler batches their
// sequences into shared forward steps. Each text's scored positions (all
// but its last) are summed into a MaskingScore; the run's scores go to a CSV
// file beside the activation files and, with the run marked done, to the
// store in one transaction (MaskingStore::MarkRunScored).
//
// Thread-safe: free functions; concurrent runs use different paths.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_MASKING_RUNNER_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_MASKING_RUNNER_H_

#include <grpcpp/client_context.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/env.h"
#include "fnprobe/v1/experiment_spec.pb.h"
#include "fnprobe/v1/inference.grpc.pb.h"
#include "server/analysis/masking_spec.h"
#include "server/analysis/masking_statistics.h"
#include "server/analysis/worker/inference_pool.h"
#include "server/analysis/worker/worker_store.h"

namespace fnprobe::worker {

// The ForwardRequest of one member of a run: the batch's texts, scored, no
// capture, the member's interventions.
// MEAN: `means` gives each hook point's unit means (UnitMoments).
v1::ForwardRequest MakeMaskingRequest(
    const v1::ExperimentSpec& spec, const MaskingPlan& plan,
    const MaskingRun& run, int member,
    const std::map<std::string, std::vector<float>>& means = {});

struct MaskingAttempt {
  const v1::ExperimentSpec* spec = nullptr;  // defaults applied
  const MaskingPlan* plan = nullptr;
  int run_index = 0;
  std::string inference_token;
  // MEAN runs: UnitMoments' means of the network's mean_from experiment.
  std::map<std::string, std::vector<float>> means;
  // Every stream's context is registered before its call and unregistered
  // after it, so that a cancellation reaches it; false from add_context
  // means the run is abandoned (the attempt then returns CANCELLED).
  std::function<bool(grpc::ClientContext*)> add_context;
  std::function<void(grpc::ClientContext*)> remove_context;
};

// One attempt: every member's stream, concurrently. The scores of every
// member and text (MaskingScore::run is attempt.run_index). Errors: the
// first failing stream's status (the others are cancelled); DATA_LOSS for
// a stream missing a text's positions.
absl::StatusOr<std::vector<MaskingScore>> ExecuteMaskingAttempt(
    v1::InferenceService::StubInterface* stub, const MaskingAttempt& attempt);

// What the ExperimentRunner lends a masking run.
struct MaskingRunHost {
  ExperimentStore* experiments = nullptr;
  MaskingStore* masking = nullptr;
  InferencePool* pool = nullptr;
  // Where score files are written durably; null: Env::Default().
  Env* env = nullptr;
  std::string data_dir;
  std::string inference_token;
  absl::Duration initial_backoff;
  absl::Duration max_backoff;
  int max_attempts = 60;
  // Whether the experiment ended (cancelled, failed, shutdown).
  std::function<bool()> abandoned;
  // Sleeps unless the experiment ends first; whether to go on.
  std::function<bool(absl::Duration)> backoff;
  std::function<bool(grpc::ClientContext*)> add_context;
  std::function<void(grpc::ClientContext*)> remove_context;
  std::function<void()> notify;  // progress changed
};

struct MaskingRunOutcome {
  enum Kind { kDone, kAbandoned, kFailed };
  Kind kind = kAbandoned;
  std::string error;  // kFailed: why the experiment fails
};

// Starts run `run_id` (plan index `index`) of experiment `id`, retries its
// attempts while servers are unreachable, and stores it.
MaskingRunOutcome ExecuteMaskingRun(const MaskingRunHost& host, int64_t id,
                                    const v1::ExperimentSpec& spec,
                                    int64_t run_id, int index);

// The file a masking run's scores go to.
std::string MaskingScoresPath(const std::string& data_dir, int64_t id,
                              int64_t run_id);

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_MASKING_RUNNER_H_
