// The HookVisitor of an engine step: applies the step's interventions (if
// any) and then copies the selected hook points' values of selected rows
// into one float32 buffer, [rows, layout width]. Captured values are those
// the model went on to use, interventions included.
//
// Torch header: engine files only. Not thread-safe.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_CAPTURE_VISITOR_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_CAPTURE_VISITOR_H_

#include <ATen/ATen.h>

#include <vector>

#include "common/layout.h"
#include "server/inference/model/intervention_applier.h"
#include "server/inference/model/transformer.h"

namespace fnprobe {

class CaptureVisitor : public HookVisitor {
 public:
  // `rows`: the packed rows to keep ([R] int64 on the device), or undefined
  // to keep every row in order. `buffer` is [R, layout width] float32 (or
  // undefined when nothing is captured). Hook names the model does not
  // have are ignored.
  // `interventions` may be null; it must outlive the visitor.
  CaptureVisitor(const Layout& layout, int num_layers, at::Tensor rows,
                 at::Tensor buffer,
                 const InterventionApplier* interventions = nullptr);

  at::Tensor Visit(HookId id, const at::Tensor& x) override;

  // The filled buffer.
  const at::Tensor& buffer() const { return buffer_; }

 private:
  int Slot(HookId id) const;

  // Column offset and width per (kind, layer + 1); width 0 = not captured.
  std::vector<std::pair<int64_t, int64_t>> columns_;
  int num_layers_;
  at::Tensor rows_;
  at::Tensor buffer_;
  const InterventionApplier* interventions_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_CAPTURE_VISITOR_H_
