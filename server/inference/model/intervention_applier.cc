#include "server/inference/model/intervention_applier.h"

namespace fnprobe {

InterventionApplier::InterventionApplier(int num_layers, at::Device device)
    : num_layers_(num_layers),
      device_(device),
      by_slot_(static_cast<size_t>(kNumHookKinds) * (num_layers + 1)) {}

int InterventionApplier::Slot(HookId id) const {
  return static_cast<int>(id.kind) * (num_layers_ + 1) + (id.layer + 1);
}

void InterventionApplier::Add(const std::vector<UnitIntervention>& list,
                              int64_t begin, int64_t end) {
  for (const UnitIntervention& iv : list) {
    auto id = ParseHookName(iv.hook);
    if (!id.ok() || id->layer >= num_layers_) continue;
    Entry e{&iv, begin, end, at::Tensor(), at::Tensor()};
    std::vector<int64_t> units = iv.units;
    e.units = at::tensor(units, at::kLong).to(device_);
    if (!iv.values.empty()) {
      std::vector<float> values = iv.values;
      e.values = at::tensor(values, at::kFloat).to(device_);
    }
    by_slot_[Slot(*id)].push_back(std::move(e));
    ++count_;
  }
}

void InterventionApplier::ApplyOne(const Entry& e, at::Tensor& y) {
  using Op = UnitIntervention::Op;
  const UnitIntervention& iv = *e.intervention;
  at::Tensor rows = y.narrow(0, e.begin, e.end - e.begin);
  const int64_t n = rows.size(0), k = e.units.size(0);
  at::Tensor per_unit;  // [n, k] values in y's dtype, when given per unit
  if (e.values.defined()) {
    per_unit = e.values.to(y.scalar_type()).unsqueeze(0).expand({n, k});
  }
  switch (iv.op) {
    case Op::kZero:
      rows.index_fill_(1, e.units, 0);
      break;
    case Op::kSet:
      if (per_unit.defined()) {
        rows.index_copy_(1, e.units, per_unit.contiguous());
      } else {
        rows.index_fill_(1, e.units, iv.value);
      }
      break;
    case Op::kScale:
    case Op::kAdd: {
      at::Tensor sel = rows.index_select(1, e.units);
      if (iv.op == Op::kScale) {
        sel = per_unit.defined() ? sel * per_unit : sel * iv.value;
      } else {
        sel = per_unit.defined() ? sel + per_unit : sel + iv.value;
      }
      rows.index_copy_(1, e.units, sel);
      break;
    }
    case Op::kKeepOnly: {
      at::Tensor mask = at::zeros({rows.size(1)}, rows.options());
      mask.index_fill_(0, e.units, 1);
      rows.mul_(mask);
      break;
    }
  }
}

at::Tensor InterventionApplier::Apply(HookId id, const at::Tensor& x) const {
  if (count_ == 0) return x;
  const std::vector<Entry>& entries = by_slot_[Slot(id)];
  if (entries.empty()) return x;
  at::Tensor y = x.clone(at::MemoryFormat::Contiguous);
  for (const Entry& e : entries) ApplyOne(e, y);
  return y;
}

}  // namespace fnprobe
