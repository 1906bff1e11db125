// StepValuesPool: recycles the engine's captured-values buffers once every
// frame sharing them has let go, so that handing frames a shared step
// buffer (rather than a copy) costs no allocation per step: the engine
// writes into a buffer that keeps its capacity.
//
// Thread-safe: buffers come back on whichever thread drops the last frame.
// Buffers still shared when the pool dies are freed, not returned.
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_STEP_VALUES_POOL_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_STEP_VALUES_POOL_H_

#include <cstddef>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace fnprobe {

class StepValuesPool {
 public:
  // Keeps at most `max_free` returned buffers.
  explicit StepValuesPool(size_t max_free);

  // A returned buffer (contents unspecified, capacity kept) or a new one.
  std::vector<float> Take();
  // Shares `values` read-only; the buffer comes back to the pool when the
  // last holder lets go.
  std::shared_ptr<const std::vector<float>> Share(std::vector<float> values);

  size_t free_buffers() const;

 private:
  struct FreeList {
    absl::Mutex mu;
    std::vector<std::vector<float>> buffers ABSL_GUARDED_BY(mu);
  };
  const size_t max_free_;
  // Shared with the buffers' deleters, which may outlive the pool.
  const std::shared_ptr<FreeList> free_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_STEP_VALUES_POOL_H_
