#include "server/analysis/worker/masking_submit.h"

#include <fnmatch.h>

#include <algorithm>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_util.h"
#include "server/analysis/worker/unit_moments.h"

namespace fnprobe::worker {
namespace {

absl::Status Invalid(const std::string& field, const std::string& problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

// Adds `units` of `hook` to `out`, checking them against the model.
absl::Status AddUnits(const std::string& field, const std::string& hook,
                      const std::vector<int64_t>& units,
                      const std::map<std::string, int64_t>& widths,
                      UnitSelection* out) {
  auto it = widths.find(hook);
  if (it == widths.end()) {
    return Invalid(
        field, absl::StrCat("'", hook, "' is not a hook point of the model"));
  }
  for (int64_t u : units) {
    if (u < 0 || u >= it->second) {
      return Invalid(field, absl::StrCat(hook, "[", u, "] is outside ", hook,
                                         " (width ", it->second, ")"));
    }
    (*out)[hook].push_back(u);
  }
  return absl::OkStatus();
}

// The network of experiment `n.experiment()`'s ICA component
// `n.component()` (the caller has checked the experiment: the user's,
// finished): the one of group `n.group()` (any when unset) whose
// decomposition's hook is one of `n.hooks()` (any when empty). Errors name
// the field: no ICA result, no such component, or several (which field to
// add to pick one).
absl::StatusOr<IcaNetwork> FindIcaNetwork(const std::string& field,
                                          const v1::MaskingNetwork& n,
                                          WorkerStore& store) {
  FNPROBE_ASSIGN_OR_RETURN(
      std::vector<IcaNetwork> all,
      store.ica().LoadIcaNetworks(n.experiment(), "", false));
  if (all.empty()) {
    return Invalid(field + ".component",
                   absl::StrCat("experiment ", n.experiment(),
                                " has no ICA components (decompose it with "
                                "`fnprobe ica`, or give a text corpus an "
                                "`ica` section)"));
  }
  std::vector<IcaNetwork*> matches;
  std::set<int> groups;
  std::set<std::string> hooks;
  int max_component = -1;
  for (IcaNetwork& c : all) {
    const bool hook_ok = n.hooks().empty() ||
                         std::find(n.hooks().begin(), n.hooks().end(),
                                   c.hook) != n.hooks().end() ||
                         c.hook == "*";
    if (!hook_ok || (n.has_group() && c.group != n.group())) continue;
    max_component = std::max(max_component, c.component);
    if (c.component != n.component()) continue;
    matches.push_back(&c);
    groups.insert(c.group);
    hooks.insert(c.hook);
  }
  if (matches.empty()) {
    std::set<int> all_groups;
    std::set<std::string> all_hooks;
    for (const IcaNetwork& c : all) {
      all_groups.insert(c.group);
      all_hooks.insert(c.hook);
    }
    if (n.has_group() && all_groups.count(n.group()) == 0) {
      return Invalid(field + ".group",
                     absl::StrCat("experiment ", n.experiment(),
                                  " has no ICA group ", n.group(), " (groups: ",
                                  absl::StrJoin(all_groups, ", "), ")"));
    }
    if (max_component < 0) {
      return Invalid(field + ".hooks",
                     absl::StrCat("experiment ", n.experiment(),
                                  " decomposed none of these hook points "
                                  "(decomposed: ",
                                  absl::StrJoin(all_hooks, ", "), ")"));
    }
    return Invalid(field + ".component",
                   absl::StrCat("experiment ", n.experiment(),
                                " has no ICA component ", n.component(),
                                " there (components 0..", max_component, ")"));
  }
  if (hooks.size() > 1) {
    return Invalid(
        field + ".hooks",
        absl::StrCat("component ", n.component(), " of experiment ",
                     n.experiment(), " exists for hook points ",
                     absl::StrJoin(hooks, ", "), "; name one in hooks"));
  }
  if (groups.size() > 1) {
    return Invalid(
        field + ".group",
        absl::StrCat("component ", n.component(), " of experiment ",
                     n.experiment(), " exists in groups ",
                     absl::StrJoin(groups, ", "), "; name one in group"));
  }
  return std::move(*matches[0]);
}

// The units of an ICA network (layout-global indices into `layout`, the
// experiment's) at the hook points that pass `n.hooks()` (globs, as
// GetNetwork filters them; all when empty). The network FindIcaNetwork
// loaded is used as it is: no second read of its units.
absl::Status AddIcaUnits(const std::string& field, const v1::MaskingNetwork& n,
                         const IcaNetwork& network, const Layout& layout,
                         const std::map<std::string, int64_t>& widths,
                         UnitSelection* out) {
  std::vector<bool> wanted(layout.size(), n.hooks().empty());
  for (int h = 0; h < n.hooks_size(); ++h) {
    bool any = false;
    for (size_t i = 0; i < layout.size(); ++i) {
      if (fnmatch(n.hooks(h).c_str(), layout.hooks()[i].name.c_str(), 0) == 0) {
        wanted[i] = any = true;
      }
    }
    if (!any) {
      return Invalid(absl::StrCat(field, ".hooks[", h, "]"),
                     absl::StrCat("hook '", n.hooks(h),
                                  "' matches no hook point of the layout"));
    }
  }
  for (int64_t unit : network.units) {
    absl::StatusOr<size_t> i = layout.HookOf(unit);
    if (!i.ok()) {
      return absl::DataLossError(absl::StrCat(field, ": stored ICA unit ", unit,
                                              " is outside the layout"));
    }
    if (!wanted[*i]) continue;
    FNPROBE_RETURN_IF_ERROR(AddUnits(field, layout.hooks()[*i].name,
                                     {unit - layout.offset(*i)}, widths, out));
  }
  return absl::OkStatus();
}

// Experiment E's network of condition C (GLM) or of ICA component K
// (FindIcaNetwork), its units in `hooks` (all when empty).
absl::Status AddStoredNetwork(const std::string& field,
                              const v1::MaskingNetwork& n,
                              const v1::ExperimentSpec& spec,
                              const std::string& user, WorkerStore& store,
                              const std::map<std::string, int64_t>& widths,
                              UnitSelection* out) {
  // NOT_FOUND for a missing or foreign experiment, as every read says.
  absl::StatusOr<ExperimentRow> found =
      store.experiments().GetExperiment(n.experiment(), user, false);
  if (!found.ok()) {
    return absl::Status(
        found.status().code(),
        absl::StrCat(field, ".experiment: ", found.status().message()));
  }
  const ExperimentRow& e = *found;
  if (e.phase != ExperimentPhase::kDone) {
    return absl::FailedPreconditionError(absl::StrCat(
        field, ".experiment: experiment ", n.experiment(), " is ",
        PhaseName(e.phase),
        "; a network comes from a finished (PHASE_DONE) experiment"));
  }
  if (e.spec.model() != spec.model()) {
    return Invalid(
        field + ".experiment",
        absl::StrCat("experiment ", n.experiment(), " ran model '",
                     e.spec.model(), "', this one masks '", spec.model(), "'"));
  }
  if (n.has_component()) {
    FNPROBE_ASSIGN_OR_RETURN(const IcaNetwork ica,
                             FindIcaNetwork(field, n, store));
    if (!e.layout.has_value()) {
      return absl::DataLossError(
          absl::StrCat(field, ".experiment: experiment ", n.experiment(),
                       " has ICA networks but no layout"));
    }
    return AddIcaUnits(field, n, ica, *e.layout, widths, out);
  }
  NetworkListQuery list;
  list.experiment_id = n.experiment();
  list.condition = n.condition();
  list.kind = NetworkKind::kCondition;
  FNPROBE_ASSIGN_OR_RETURN(const std::vector<NetworkSummary> networks,
                           store.queries().ListNetworks(list, user));
  if (networks.empty()) {
    return Invalid(
        field + ".condition",
        absl::StrCat("experiment ", n.experiment(),
                     " has no network of condition '", n.condition(), "'"));
  }
  const int64_t network_id = networks[0].id;
  std::vector<std::string> filters(n.hooks().begin(), n.hooks().end());
  if (filters.empty()) filters.push_back("");
  for (size_t h = 0; h < filters.size(); ++h) {
    std::string token;
    do {
      NetworkQuery get;
      get.network_id = network_id;
      get.hook = filters[h];
      get.page_size = 10000;
      get.page_token = token;
      absl::StatusOr<NetworkPage> page = store.queries().GetNetwork(get, user);
      if (!page.ok()) {
        return Invalid(
            n.hooks().empty() ? field : absl::StrCat(field, ".hooks[", h, "]"),
            std::string(page.status().message()));
      }
      for (const NetworkUnit& unit : page->units) {
        FNPROBE_ASSIGN_OR_RETURN(const UnitRef ref, ParseUnitRef(unit.name));
        FNPROBE_RETURN_IF_ERROR(
            AddUnits(field, ref.hook, {ref.index}, widths, out));
      }
      token = page->next_page_token;
    } while (!token.empty());
  }
  return absl::OkStatus();
}

// The experiment whose stored activations give MEAN's means and the
// variances of variance-matched controls (`purpose`: "MEAN",
// "matchVariance" or both, for the messages): the caller's, finished, of
// the same model, with its activations, capturing every hook point of
// `units` (the controls use the same ones).
absl::StatusOr<int64_t> CheckMeanSource(const std::string& field, int64_t id,
                                        const v1::ExperimentSpec& spec,
                                        const std::string& user,
                                        WorkerStore& store,
                                        const UnitSelection& units,
                                        const std::string& purpose) {
  if (id <= 0) {
    return Invalid("masking.meanFrom",
                   absl::StrCat(field, " lists units of no experiment: ",
                                purpose, " needs meanFrom"));
  }
  FNPROBE_ASSIGN_OR_RETURN(const ExperimentRow e,
                           store.experiments().GetExperiment(id, user));
  const std::string where =
      absl::StrCat("masking.meanFrom: experiment ", id, " ");
  if (e.phase != ExperimentPhase::kDone) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, "is ", PhaseName(e.phase), "; ", purpose,
                     " reads a finished experiment"));
  }
  if (e.activations_deleted) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, "has no stored activations any more"));
  }
  if (e.spec.model() != spec.model()) {
    return Invalid(
        "masking.meanFrom",
        absl::StrCat("experiment ", id, " ran model '", e.spec.model(), "'"));
  }
  for (const auto& [hook, list] : units) {
    const bool captured =
        e.layout.has_value() && e.layout->IndexOf(hook).has_value();
    if (!captured) {
      return Invalid("masking.meanFrom",
                     absl::StrCat("experiment ", id, " did not capture ", hook,
                                  " (", field, "; ", purpose, ")"));
    }
  }
  return id;
}

}  // namespace

absl::StatusOr<MaskingPlan> PlanMaskingExperiment(
    const v1::ExperimentSpec& spec, const std::string& user, WorkerStore& store,
    const v1::ModelInfo& info) {
  std::map<std::string, int64_t> widths;
  for (const v1::HookPoint& h : info.hook_points())
    widths[h.name()] = h.width();
  const v1::MaskingSpec& m = spec.masking();
  const bool mean = std::count(m.operations().begin(), m.operations().end(),
                               v1::MaskingOperation::MEAN) > 0;
  const std::string purpose = mean && m.match_variance()
                                  ? "MEAN and matchVariance"
                              : mean ? "MEAN"
                                     : "matchVariance";
  MaskingPlan plan;
  for (int i = 0; i < m.networks_size(); ++i) {
    const v1::MaskingNetwork& n = m.networks(i);
    const std::string field = absl::StrCat("masking.networks[", i, "]");
    MaskedNetwork network;
    network.name = n.name();
    if (n.experiment() != 0) {
      FNPROBE_RETURN_IF_ERROR(AddStoredNetwork(field, n, spec, user, store,
                                               widths, &network.units));
    } else {
      for (int u = 0; u < n.units_size(); ++u) {
        const std::string uf = absl::StrCat(field, ".units[", u, "]");
        absl::StatusOr<UnitRef> ref = ParseUnitRef(n.units(u));
        if (!ref.ok()) return Invalid(uf, std::string(ref.status().message()));
        FNPROBE_RETURN_IF_ERROR(
            AddUnits(uf, ref->hook, {ref->index}, widths, &network.units));
      }
    }
    for (auto& [hook, units] : network.units) {
      std::sort(units.begin(), units.end());
      units.erase(std::unique(units.begin(), units.end()), units.end());
    }
    const int64_t size = SelectionSize(network.units);
    if (size == 0) {
      return Invalid(field,
                     absl::StrCat("network '", network.name, "' has no units",
                                  n.hooks().empty() ? "" : " there"));
    }
    if (size > kMaxMaskingUnitsPerNetwork) {
      return Invalid(
          field, absl::StrCat("network '", network.name, "' has ", size,
                              " units; at most ", kMaxMaskingUnitsPerNetwork));
    }
    const int max_interventions = info.limits().max_interventions();
    if (max_interventions > 0 &&
        static_cast<int>(network.units.size()) > max_interventions) {
      return Invalid(field,
                     absl::StrCat("network '", network.name, "' spans ",
                                  network.units.size(),
                                  " hook points; the inference server takes "
                                  "at most ",
                                  max_interventions, " interventions"));
    }
    for (const auto& [hook, units] : network.units) {
      // A control of the same size must fit among the other units.
      if (2 * static_cast<int64_t>(units.size()) > widths.at(hook)) {
        return Invalid(
            field,
            absl::StrCat("network '", network.name, "' holds ", units.size(),
                         " of the ", widths.at(hook), " units of ", hook,
                         ": a random control of that size needs "
                         "as many other units there"));
      }
    }
    if (mean || m.match_variance()) {
      FNPROBE_ASSIGN_OR_RETURN(
          network.mean_from,
          CheckMeanSource(field,
                          m.mean_from() > 0 ? m.mean_from() : n.experiment(),
                          spec, user, store, network.units, purpose));
    }
    plan.networks.push_back(std::move(network));
  }
  // Variances: one pass over each source experiment's activations for the
  // hook points of every network that reads it.
  std::map<int64_t, std::map<std::string, HookMoments>> moments;
  if (m.match_variance()) {
    std::map<int64_t, std::set<std::string>> hooks;
    for (const MaskedNetwork& network : plan.networks) {
      for (const auto& [hook, units] : network.units) {
        hooks[network.mean_from].insert(hook);
      }
    }
    for (const auto& [source, names] : hooks) {
      absl::StatusOr<std::map<std::string, HookMoments>> read =
          UnitMoments(store.experiments(), source,
                      std::vector<std::string>(names.begin(), names.end()));
      if (!read.ok()) {
        return absl::Status(
            read.status().code(),
            absl::StrCat("masking.matchVariance: variances from experiment ",
                         source, ": ", read.status().message()));
      }
      moments[source] = *std::move(read);
    }
  }
  plan.matched_variance = m.match_variance();
  for (size_t i = 0; i < plan.networks.size(); ++i) {
    MaskedNetwork& network = plan.networks[i];
    const int index = static_cast<int>(i);
    if (!m.match_variance()) {
      network.controls =
          DrawControls(network.units, widths, m.controls(), m.seed(), index);
      continue;
    }
    std::map<std::string, std::vector<double>> variances;
    for (const auto& [hook, units] : network.units) {
      const HookMoments& hm = moments.at(network.mean_from).at(hook);
      if (static_cast<int64_t>(hm.variance.size()) != widths.at(hook)) {
        return absl::FailedPreconditionError(
            absl::StrCat("masking.meanFrom: experiment ", network.mean_from,
                         " stored ", hm.variance.size(), " units of ", hook,
                         ", the model has ", widths.at(hook)));
      }
      variances[hook] = hm.variance;
    }
    network.controls = DrawVarianceMatchedControls(
        network.units, variances, m.controls(), m.seed(), index);
  }
  const int max_prompts = info.limits().max_prompts_per_request();
  if (max_prompts > 0 && m.batch_texts() > max_prompts) {
    return Invalid("masking.batchTexts",
                   absl::StrCat(m.batch_texts(),
                                " texts per run; the inference server takes "
                                "at most ",
                                max_prompts, " per request"));
  }
  plan.runs = PlanMaskingRuns(spec, static_cast<int>(plan.networks.size()),
                              m.controls());
  return plan;
}

absl::StatusOr<int64_t> CreateMaskingExperiment(const v1::ExperimentSpec& spec,
                                                const std::string& user,
                                                WorkerStore& store,
                                                InferencePool& pool) {
  absl::Status model = pool.CheckModel(spec.model());
  if (absl::IsNotFound(model)) {
    return Invalid("model", std::string(model.message()));
  }
  std::optional<v1::ModelInfo> info = pool.ModelInfoFor(spec.model());
  if (!info.has_value()) {
    return absl::UnavailableError(absl::StrCat(
        "no inference server serving '", spec.model(),
        "' answers; a masking experiment is planned against the model's "
        "layout: submit it again when one is up"));
  }
  FNPROBE_ASSIGN_OR_RETURN(const MaskingPlan plan,
                           PlanMaskingExperiment(spec, user, store, *info));
  const std::vector<RunPlan> runs = MaskingRunPlans(spec, plan);
  return store.experiments().CreateExperiment(
      user, spec, runs, info->checkpoint_sha256(),
      [&plan](SQLite::Database& db, int64_t id) {
        MaskingStore::InsertPlan(db, id, plan);
      });
}

}  // namespace fnprobe::worker
