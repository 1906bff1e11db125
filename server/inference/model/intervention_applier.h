// Applies the interventions of a step's items to the packed rows they own,
// at each hook point, out of place (the unmodified tensor may still be used
// by the reference op order, e.g. a residual).
//
// Torch header: engine files only. Not thread-safe.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_INTERVENTION_APPLIER_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_INTERVENTION_APPLIER_H_

#include <ATen/ATen.h>

#include <vector>

#include "server/inference/model/engine.h"
#include "server/inference/model/hook_points.h"

namespace fnprobe {

class InterventionApplier {
 public:
  InterventionApplier(int num_layers, at::Device device);

  // Registers `list` for packed rows [begin, end).
  // REQUIRES: list validated with ValidateInterventions.
  void Add(const std::vector<UnitIntervention>& list, int64_t begin,
           int64_t end);

  bool empty() const { return count_ == 0; }

  // `x` with the registered interventions for `id` applied, or `x` itself
  // when there are none.
  at::Tensor Apply(HookId id, const at::Tensor& x) const;

 private:
  struct Entry {
    const UnitIntervention* intervention;
    int64_t begin;
    int64_t end;
    at::Tensor units;   // int64 on the device
    at::Tensor values;  // float32 on the device, or undefined
  };

  int Slot(HookId id) const;
  static void ApplyOne(const Entry& e, at::Tensor& y);

  int num_layers_;
  at::Device device_;
  int count_ = 0;
  std::vector<std::vector<Entry>> by_slot_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_INTERVENTION_APPLIER_H_
