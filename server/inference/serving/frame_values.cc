#include "server/inference/serving/frame_values.h"

#include <utility>

namespace fnprobe {

FrameValues::FrameValues(std::vector<float> values)
    : size_(static_cast<int64_t>(values.size())) {
  if (size_ > 0) {
    data_ = std::make_shared<const std::vector<float>>(std::move(values));
  }
}

FrameValues::FrameValues(std::shared_ptr<const std::vector<float>> step,
                         int64_t row_offset,
                         std::shared_ptr<const ColumnRuns> runs)
    : data_(std::move(step)), offset_(row_offset), runs_(std::move(runs)) {
  for (const auto& run : *runs_) size_ += run.second;
}

absl::Span<const float> FrameValues::Contiguous(
    std::vector<float>* scratch) const {
  if (size_ == 0) return {};
  if (runs_ == nullptr) return absl::MakeConstSpan(*data_);
  const float* row = data_->data() + offset_;
  if (runs_->size() == 1) {
    return absl::MakeConstSpan(row + runs_->front().first, size_);
  }
  scratch->resize(static_cast<size_t>(size_));
  float* out = scratch->data();
  for (const auto& [begin, width] : *runs_) {
    out = std::copy(row + begin, row + begin + width, out);
  }
  return absl::MakeConstSpan(*scratch);
}

std::vector<float> FrameValues::ToVector() const {
  std::vector<float> scratch;
  absl::Span<const float> values = Contiguous(&scratch);
  return std::vector<float>(values.begin(), values.end());
}

}  // namespace fnprobe
