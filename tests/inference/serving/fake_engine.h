// FakeEngine: a deterministic, torch-free Engine for tests of code that
// drives an Engine (the scheduler, generators).
//
// The model is arithmetic on token ids, so that expectations can be
// computed without it:
//   - the greedy next token of a sequence whose cache holds t_0..t_{n-1} is
//     NextToken(t) = (7 t_{n-1} + t_0 + n) mod 32; logits fall by one per id
//     after it (cyclically), so when it is banned the next id wins;
//   - the value of unit u of hook point h at position p where token t was
//     fed is Value(h, u, p, t), exact in float.
// Both depend only on the sequence's own tokens, never on what else is in
// the step, as a real engine's results do.
//
// Besides the Engine, it records every step's composition, can fail steps
// on purpose (FailStepsWithToken) and can hold steps at a gate until the
// test lets them run (HoldSteps / AllowSteps / ReleaseSteps), so that tests
// synchronise with the scheduler's thread instead of sleeping.
//
// Thread-safe: the Engine methods run on the scheduler's thread while the
// test thread inspects and steers.
#ifndef FNPROBE_TESTS_INFERENCE_SERVING_FAKE_ENGINE_H_
#define FNPROBE_TESTS_INFERENCE_SERVING_FAKE_ENGINE_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/inference/model/engine.h"

namespace fnprobe {

class FakeEngine final : public Engine {
 public:
  // One item of a recorded step.
  struct ItemRecord {
    SequenceId sequence = 0;
    std::vector<int64_t> tokens;
    bool all_positions = false;
    bool want_logits = true;
  };
  // One call of Step, in call order.
  struct StepRecord {
    std::vector<ItemRecord> items;
    std::vector<std::string> capture;  // hook point names
    int64_t live_sequences = 0;        // started and not ended, at the call
    bool failed = false;
    int64_t tokens() const;
  };

  static constexpr int64_t kVocab = 32;
  static constexpr int64_t kEos = 31;
  static constexpr int64_t kContext = 64;

  FakeEngine();

  // The tiny model: vocabulary 32 (EOS 31), context 64, one GPT-2-style
  // layer of width 4 with an MLP of 8.
  static ModelConfig TinyConfig();
  // The greedy next token after `tokens` (non-empty).
  static int64_t NextToken(const std::vector<int64_t>& tokens);
  // Unit `unit` of hook point `hook` at `position`, where `token` was fed.
  // REQUIRES: hook is one of TinyConfig()'s hook points.
  static float Value(absl::string_view hook, int64_t unit, int64_t position,
                     int64_t token);

  // --- Engine ---
  const ModelConfig& config() const override { return config_; }
  std::string device() const override { return "fake"; }
  SequenceId StartSequence() override;
  void EndSequence(SequenceId sequence) override;
  int64_t SequenceLength(SequenceId sequence) const override;
  absl::Status Step(const StepRequest& request, StepResult* result) override;

  // --- inspection ---
  std::vector<StepRecord> steps() const;
  int64_t live_sequences() const;

  // --- steering ---
  // From now on a step with an item feeding `token` fails with INTERNAL,
  // leaving every cache unchanged.
  void FailStepsWithToken(int64_t token);
  // From now on each Step waits at its start for a permit (AllowSteps).
  void HoldSteps();
  void AllowSteps(int n);
  // Stops holding; waiting steps go on.
  void ReleaseSteps();
  // Waits until the call of Step with 0-based index `index` waits at the
  // gate. False if that does not happen within `timeout`.
  bool WaitForHeldStep(int index, absl::Duration timeout = absl::Seconds(10));

 private:
  absl::Status CheckRequest(const StepRequest& request) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ModelConfig config_;
  std::map<std::string, int64_t> hook_rank_;  // constant after construction

  mutable absl::Mutex mu_;
  std::map<SequenceId, std::vector<int64_t>> sequences_ ABSL_GUARDED_BY(mu_);
  SequenceId next_id_ ABSL_GUARDED_BY(mu_) = 100;
  std::vector<StepRecord> steps_ ABSL_GUARDED_BY(mu_);
  std::optional<int64_t> fail_token_ ABSL_GUARDED_BY(mu_);
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  int permits_ ABSL_GUARDED_BY(mu_) = 0;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;  // calls of Step so far
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;  // calls waiting at the gate
};

}  // namespace fnprobe

#endif  // FNPROBE_TESTS_INFERENCE_SERVING_FAKE_ENGINE_H_
