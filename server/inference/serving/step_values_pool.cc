#include "server/inference/serving/step_values_pool.h"

#include <utility>

namespace fnprobe {

StepValuesPool::StepValuesPool(size_t max_free)
    : max_free_(max_free), free_(std::make_shared<FreeList>()) {}

std::vector<float> StepValuesPool::Take() {
  absl::MutexLock lock(&free_->mu);
  if (free_->buffers.empty()) return {};
  std::vector<float> out = std::move(free_->buffers.back());
  free_->buffers.pop_back();
  return out;
}

std::shared_ptr<const std::vector<float>> StepValuesPool::Share(
    std::vector<float> values) {
  std::weak_ptr<FreeList> weak = free_;
  const size_t max_free = max_free_;
  return std::shared_ptr<const std::vector<float>>(
      new std::vector<float>(std::move(values)),
      [weak, max_free](const std::vector<float>* v) {
        auto* buffer = const_cast<std::vector<float>*>(v);
        if (std::shared_ptr<FreeList> list = weak.lock()) {
          absl::MutexLock lock(&list->mu);
          if (list->buffers.size() < max_free) {
            list->buffers.push_back(std::move(*buffer));
          }
        }
        delete buffer;
      });
}

size_t StepValuesPool::free_buffers() const {
  absl::MutexLock lock(&free_->mu);
  return free_->buffers.size();
}

}  // namespace fnprobe
