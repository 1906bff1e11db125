#include "server/inference/model/engine.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/inference/model/hook_points.h"

namespace fnprobe {

absl::Status ValidateInterventions(const ModelConfig& config,
                                   const std::vector<UnitIntervention>& list) {
  const std::vector<HookSpec> hooks = ModelHookPoints(config);
  for (size_t i = 0; i < list.size(); ++i) {
    const UnitIntervention& iv = list[i];
    const std::string where = absl::StrCat("interventions[", i, "]");
    const HookSpec* hook = nullptr;
    for (const HookSpec& h : hooks) {
      if (h.name == iv.hook) hook = &h;
    }
    if (hook == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".hook: '", iv.hook, "' is not a hook point of this model"));
    }
    if (iv.units.empty()) {
      return absl::InvalidArgumentError(where + ".units: empty");
    }
    absl::flat_hash_set<int64_t> seen;
    for (int64_t u : iv.units) {
      if (u < 0 || u >= hook->width) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".units: ", u, " outside [0, ", hook->width,
                         ") of ", iv.hook));
      }
      if (!seen.insert(u).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ".units: ", u, " listed twice"));
      }
    }
    if (!iv.values.empty() && iv.values.size() != iv.units.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ".values: ", iv.values.size(), " values for ",
                       iv.units.size(), " units"));
    }
  }
  return absl::OkStatus();
}

}  // namespace fnprobe
