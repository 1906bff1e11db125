// FrameValues: the captured values of one frame, as the scheduler hands
// them to a RequestStream. Either a row of one engine step's values shared
// with every other frame of that step, with the column runs that cut it
// down to the request's layout (no copy on the step loop), or a vector of
// its own (a copy, for streams that lag; see Scheduler). The consumer
// gathers the values on its own thread.
//
// Immutable once built; copies share the data. Thread-compatible.
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_FRAME_VALUES_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_FRAME_VALUES_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/types/span.h"
#include "server/inference/serving/capture_columns.h"

namespace fnprobe {

class FrameValues {
 public:
  FrameValues() = default;
  // Owns `values`.
  explicit FrameValues(std::vector<float> values);
  // The floats of `step` from `row_offset` on, cut by `runs` (offsets
  // relative to row_offset). REQUIRES: every run lies within *step.
  FrameValues(std::shared_ptr<const std::vector<float>> step,
              int64_t row_offset, std::shared_ptr<const ColumnRuns> runs);

  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // True when the values are a shared step row rather than a copy.
  bool shared() const { return runs_ != nullptr; }

  // The values contiguous: straight from the data when they already are
  // (owned, or one run), else gathered into *scratch. Valid while both this
  // and *scratch live unchanged.
  absl::Span<const float> Contiguous(std::vector<float>* scratch) const;
  std::vector<float> ToVector() const;

 private:
  std::shared_ptr<const std::vector<float>> data_;
  int64_t offset_ = 0;                      // first float of the row
  std::shared_ptr<const ColumnRuns> runs_;  // null: data_ is the values
  int64_t size_ = 0;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_FRAME_VALUES_H_
