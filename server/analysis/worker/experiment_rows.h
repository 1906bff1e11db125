// The worker's own types for what ExperimentStore reads back: an experiment
// row with its progress and (when asked for) its runs, a page of
// experiments. Plain structs over the phase and run-state enums of
// experiment_phase.h; ExperimentService converts them to fnprobe.v1
// messages (proto_conversion.h).
//
// The one protobuf inside is the experiment's spec: v1::ExperimentSpec is
// the validated spec the worker stores and plans from, not a wire reply.
//
// Thread-safety: plain values; no synchronisation of their own.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_ROWS_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_ROWS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/layout.h"
#include "fnprobe/v1/experiments.pb.h"
#include "server/analysis/worker/experiment_phase.h"

namespace fnprobe::worker {

// One run of an experiment (table runs).
struct RunRow {
  int64_t id = 0;
  int index = 0;  // Position in the plan (0-based); row ids follow it.
  std::string condition;
  int repeat = 0;
  RunState state = RunState::kUnspecified;
  int64_t time_points = 0;  // The plan's T.
  int64_t tokens_generated = 0;
  int64_t overflow_count = 0;
  std::string activation_path;  // Empty until done.
  std::string activation_checksum;
  std::string error;
  int attempts = 0;  // Generate streams opened for the run.
};

// Counts over an experiment's runs.
struct ExperimentProgressRow {
  int runs_done = 0;
  int runs_total = 0;
  int64_t tokens_done = 0;   // Sum of tokens_generated.
  int64_t tokens_total = 0;  // Sum of the plans' time points.
};

// One experiment (table experiments).
struct ExperimentRow {
  int64_t id = 0;
  std::string name;
  std::string owner;
  ExperimentPhase phase = ExperimentPhase::kUnspecified;
  std::string error;  // kFailed only.
  // The stored spec, defaults explicit (its model is the experiment's).
  v1::ExperimentSpec spec;
  ExperimentProgressRow progress;
  std::vector<RunRow> runs;      // In plan order; empty unless asked for.
  std::optional<Layout> layout;  // Known once a run is done.
  std::string created_at;        // ISO-8601 UTC; empty when not yet.
  std::string started_at;
  std::string finished_at;
  int plan_version = 0;
  int64_t stored_bytes = 0;  // 0 once the activations are deleted.
  bool activations_deleted = false;
  std::string model_checksum;
};

// ListExperiments: one page, newest first.
struct ExperimentPage {
  std::vector<ExperimentRow> experiments;
  std::string next_page_token;  // Empty on the last page.
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_EXPERIMENT_ROWS_H_
