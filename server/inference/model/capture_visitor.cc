#include "server/inference/model/capture_visitor.h"

namespace fnprobe {

CaptureVisitor::CaptureVisitor(const Layout& layout, int num_layers,
                               at::Tensor rows, at::Tensor buffer,
                               const InterventionApplier* interventions)
    : columns_(static_cast<size_t>(kNumHookKinds) * (num_layers + 1), {0, 0}),
      num_layers_(num_layers),
      rows_(std::move(rows)),
      buffer_(std::move(buffer)),
      interventions_(interventions) {
  for (size_t i = 0; i < layout.size(); ++i) {
    auto id = ParseHookName(layout.hooks()[i].name);
    if (!id.ok() || id->layer >= num_layers) continue;
    columns_[Slot(*id)] = {layout.offset(i), layout.hooks()[i].width};
  }
}

int CaptureVisitor::Slot(HookId id) const {
  return static_cast<int>(id.kind) * (num_layers_ + 1) + (id.layer + 1);
}

at::Tensor CaptureVisitor::Visit(HookId id, const at::Tensor& in) {
  at::Tensor x = interventions_ ? interventions_->Apply(id, in) : in;
  auto [offset, width] = columns_[Slot(id)];
  if (width == 0 || !buffer_.defined()) return x;
  at::Tensor picked = rows_.defined() ? x.index_select(0, rows_) : x;
  buffer_.narrow(1, offset, width).copy_(picked);
  return x;
}

}  // namespace fnprobe
