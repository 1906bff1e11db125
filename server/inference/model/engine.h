// Engine: runs one forward step over a batch of sequences, each with its own
// KV cache, and returns the logits and captured hook values of the positions
// asked for. This is the seam between batching policy (the scheduler, the
// generator) and the model implementation: it names no torch type, so that
// schedulers can be tested against a fake engine.
//
// A step may mix sequences that are prefilling a prompt (many tokens) with
// sequences decoding one token; each item's tokens are appended to its own
// cache, at its own positions, and attend only to its own past.
//
// Not thread-safe: one thread drives an engine.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_ENGINE_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_ENGINE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/layout.h"
#include "server/inference/model/model_config.h"

namespace fnprobe {

using SequenceId = int64_t;

// A change to some units of one hook point, applied to every position the
// owning item runs (prompt and generation alike).
struct UnitIntervention {
  enum class Op { kZero, kSet, kScale, kAdd, kKeepOnly };
  std::string hook;            // hook point name, e.g. "blocks.7.mlp_post"
  std::vector<int64_t> units;  // indices within the hook point
  Op op = Op::kZero;
  float value = 0;            // kSet / kScale / kAdd when values is empty
  std::vector<float> values;  // per-unit values, same length as units
};

// Checks interventions against the model: known hook point, units within
// its width and unique, values matching units. INVALID_ARGUMENT naming the
// intervention's index and field.
absl::Status ValidateInterventions(const ModelConfig& config,
                                   const std::vector<UnitIntervention>& list);

struct StepItem {
  SequenceId sequence = 0;
  std::vector<int64_t> tokens;  // appended at positions length..length+n-1
  // Capture hook values (and return logits) for every new position, or only
  // for the last one (the position that predicts the next token).
  bool all_positions = false;
  bool want_logits = true;
  // Applied during this item's rows only; null or empty for none.
  // REQUIRES: validated with ValidateInterventions.
  std::shared_ptr<const std::vector<UnitIntervention>> interventions;
};

struct StepRequest {
  std::vector<StepItem> items;
  // Hook points to capture; empty captures nothing.
  Layout capture;
};

struct StepResult {
  // Captured values, row-major [rows, capture.width()]: for each item in
  // order, tokens.size() rows if all_positions, else one row.
  std::vector<float> values;
  // Logits, row-major [rows, vocab], rows as for values; items with
  // want_logits false contribute no rows.
  std::vector<float> logits;
  std::vector<int64_t> value_row_begin;  // per item, first row in values
  std::vector<int64_t> logit_row_begin;  // per item, -1 if no logits
  int64_t batch_tokens = 0;              // tokens run in this step
  int64_t batch_sequences = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;

  virtual const ModelConfig& config() const = 0;
  // "cpu", "cuda:0", ...
  virtual std::string device() const = 0;

  // Creates an empty sequence (no cached tokens).
  virtual SequenceId StartSequence() = 0;
  // Frees a sequence's cache. Unknown ids are ignored.
  virtual void EndSequence(SequenceId sequence) = 0;
  // Tokens cached so far; -1 for an unknown sequence.
  virtual int64_t SequenceLength(SequenceId sequence) const = 0;

  // Runs one forward step, filling *result. Callers keep one StepResult
  // across steps so that its buffers are reused rather than reallocated
  // (values can be megabytes per step). INVALID_ARGUMENT for an unknown
  // sequence, an empty item, a token id outside the vocabulary, a sequence
  // appearing twice, or a sequence that would exceed the model's context;
  // caches are unchanged on any error.
  virtual absl::Status Step(const StepRequest& request, StepResult* result) = 0;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_ENGINE_H_
