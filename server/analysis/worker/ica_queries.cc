#include "server/analysis/worker/ica_queries.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/ica/glm_comparison.h"
#include "server/analysis/ica/recurrence.h"
#include "server/analysis/run_planner.h"

namespace fnprobe::worker {
namespace {

// An experiment's ICA networks, grouped for recurrence: per hook point, the
// runs decomposed (ascending id: the group order) and each run's networks
// by component index.
struct HookNetworks {
  std::vector<int64_t> run_ids;
  std::vector<int> groups;  // each run's repeat
  ica::NetworksByGroup networks;
  std::vector<std::vector<int64_t>> network_ids;  // [group][component]
};

struct Loaded {
  ExperimentRow experiment;  // with its runs when asked for
  Layout layout;
  std::vector<IcaNetwork> networks;
};

// The experiment (owned by `user`) and its ICA networks; FAILED_PRECONDITION
// when it has none.
absl::StatusOr<Loaded> LoadNetworks(WorkerStore* store, int64_t id,
                                    const std::string& user,
                                    const std::string& hook,
                                    bool with_time_courses,
                                    bool with_runs = false) {
  Loaded out;
  FNPROBE_ASSIGN_OR_RETURN(
      out.experiment, store->experiments().GetExperiment(id, user, with_runs));
  FNPROBE_ASSIGN_OR_RETURN(
      out.networks, store->ica().LoadIcaNetworks(id, hook, with_time_courses));
  if (out.networks.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", id, " has no ICA networks",
                     hook.empty() ? "" : absl::StrCat(" of hook ", hook),
                     ": decompose it with `fnprobe ica ", id, "`"));
  }
  FNPROBE_ASSIGN_OR_RETURN(out.layout,
                           store->experiments().ExperimentLayout(id));
  return out;
}

std::map<std::string, HookNetworks> ByHook(
    const std::vector<IcaNetwork>& networks) {
  std::map<std::string, HookNetworks> out;
  for (const IcaNetwork& n : networks) {
    HookNetworks& h = out[n.hook];
    // LoadIcaNetworks orders by hook, run, component.
    if (h.run_ids.empty() || h.run_ids.back() != n.run_id) {
      h.run_ids.push_back(n.run_id);
      h.groups.push_back(n.group);
      h.networks.emplace_back();
      h.network_ids.emplace_back();
    }
    auto& components = h.networks.back();
    auto& ids = h.network_ids.back();
    if (static_cast<int>(components.size()) <= n.component) {
      components.resize(n.component + 1);
      ids.resize(n.component + 1, 0);
    }
    components[n.component] = n.units;
    ids[n.component] = n.network_id;
  }
  return out;
}

int CountGroups(const std::map<std::string, HookNetworks>& by_hook) {
  size_t groups = 0;
  for (const auto& [hook, h] : by_hook) {
    groups = std::max(groups, h.run_ids.size());
  }
  return static_cast<int>(groups);
}

std::string NameOf(const Layout& layout, int64_t unit) {
  absl::StatusOr<std::string> name = layout.UnitName(unit);
  return name.ok() ? *name : absl::StrCat(unit);
}

absl::Status CheckFraction(double value, const char* field, bool open_zero) {
  if (!std::isfinite(value) || value < 0 || value > 1 ||
      (open_zero && value == 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be in ", open_zero ? "(0, 1]" : "[0, 1]",
                     ", got ", value));
  }
  return absl::OkStatus();
}

// Recurrence compares decompositions of separate groups; one decomposition
// of every run's time points (IcaSpec::EXPERIMENT) has nothing to match.
absl::Status CheckPerGroup(const std::vector<IcaNetwork>& networks,
                           int64_t id) {
  for (const IcaNetwork& n : networks) {
    if (n.run_id == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "experiment ", id,
          " was decomposed with scope experiment (every run at once): "
          "recurrence needs one decomposition per group; run `fnprobe ica ",
          id, " --scope group`"));
    }
  }
  return absl::OkStatus();
}

// The recurring networks of each hook point.
absl::StatusOr<std::map<std::string, std::vector<ica::RecurringNetwork>>>
Recurrence(const std::map<std::string, HookNetworks>& by_hook,
           double min_jaccard) {
  ica::RecurrenceOptions options;
  options.min_jaccard = min_jaccard;
  std::map<std::string, std::vector<ica::RecurringNetwork>> out;
  for (const auto& [hook, h] : by_hook) {
    FNPROBE_ASSIGN_OR_RETURN(out[hook],
                             ica::FindRecurringNetworks(h.networks, options));
  }
  return out;
}

// Each condition's regressor over `runs` concatenated in order (1 where the
// run is that condition's and the time point is in one of its blocks): what
// a component of every run's time points is compared with.
std::vector<std::vector<double>> ConcatenatedRegressors(
    const v1::ExperimentSpec& spec, const std::vector<const RunPlan*>& runs,
    const std::vector<int64_t>& time_points,
    const std::vector<std::string>& conditions) {
  std::vector<std::vector<double>> out(conditions.size());
  for (size_t r = 0; r < runs.size(); ++r) {
    for (int64_t t = 0; t < time_points[r]; ++t) {
      const std::string type = TrialTypeAt(spec, *runs[r], t);
      for (size_t c = 0; c < conditions.size(); ++c) {
        out[c].push_back(runs[r]->condition_name == conditions[c] &&
                                 type == conditions[c]
                             ? 1.0
                             : 0.0);
      }
    }
  }
  return out;
}

// Network `n` against `condition`'s `regressor` (NaN where the correlation
// is undefined or the lengths differ), with its Dice against each GLM
// condition network.
void AddComparison(
    const IcaNetwork& n, const std::string& condition,
    const std::vector<double>& regressor,
    const std::vector<std::pair<std::string, std::vector<int64_t>>>& glm,
    v1::CompareMethodsResponse& response) {
  const std::vector<double> course(n.time_course.begin(), n.time_course.end());
  const absl::StatusOr<double> r =
      ica::TimeCourseCorrelation(course, regressor);
  v1::ComponentVsCondition* out = response.add_components();
  out->set_network_id(n.network_id);
  out->set_group(n.group);
  out->set_hook(n.hook);
  out->set_component(n.component);
  out->set_condition(condition);
  out->set_correlation(r.ok() ? *r : std::numeric_limits<double>::quiet_NaN());
  for (const auto& [glm_condition, units] : glm) {
    out->add_dice(ica::NetworkDice(n.units, units));
  }
}

}  // namespace

absl::StatusOr<v1::ListIcaComponentsResponse> IcaQueries::ListComponents(
    const v1::ListIcaComponentsRequest& request, const std::string& user) {
  const int top = request.top_units() > 0 ? request.top_units() : 5;
  FNPROBE_ASSIGN_OR_RETURN(Loaded loaded,
                           LoadNetworks(store_, request.experiment_id(), user,
                                        request.hook(), false));
  v1::ListIcaComponentsResponse response;
  response.set_z(loaded.experiment.spec.ica().z());
  response.set_groups(CountGroups(ByHook(loaded.networks)));
  for (const IcaNetwork& n : loaded.networks) {
    v1::IcaComponentSummary* c = response.add_components();
    c->set_network_id(n.network_id);
    c->set_run_id(n.run_id);
    c->set_group(n.group);
    c->set_hook(n.hook);
    c->set_component(n.component);
    c->set_size(static_cast<int64_t>(n.units.size()));
    c->set_stability(n.stability);
    c->set_explained_variance(n.explained_variance);
    std::vector<size_t> order(n.units.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return std::abs(n.z[a]) > std::abs(n.z[b]);
    });
    for (size_t i = 0; i < order.size() && static_cast<int>(i) < top; ++i) {
      c->add_top_units(NameOf(loaded.layout, n.units[order[i]]));
    }
  }
  return response;
}

absl::StatusOr<v1::GetRecurrenceResponse> IcaQueries::GetRecurrence(
    const v1::GetRecurrenceRequest& request, const std::string& user) {
  const double min_jaccard =
      request.min_jaccard() != 0 ? request.min_jaccard() : 0.2;
  FNPROBE_RETURN_IF_ERROR(CheckFraction(min_jaccard, "min_jaccard", true));
  FNPROBE_RETURN_IF_ERROR(
      CheckFraction(request.min_frequency(), "min_frequency", false));
  FNPROBE_ASSIGN_OR_RETURN(Loaded loaded,
                           LoadNetworks(store_, request.experiment_id(), user,
                                        request.hook(), false));
  FNPROBE_RETURN_IF_ERROR(
      CheckPerGroup(loaded.networks, request.experiment_id()));
  const std::map<std::string, HookNetworks> by_hook = ByHook(loaded.networks);
  FNPROBE_ASSIGN_OR_RETURN(auto per_hook, Recurrence(by_hook, min_jaccard));
  std::vector<std::pair<std::string, ica::RecurringNetwork>> recurring;
  for (auto& [hook, networks] : per_hook) {
    for (ica::RecurringNetwork& r : networks) {
      recurring.push_back({hook, std::move(r)});
    }
  }
  const int groups = CountGroups(by_hook);
  // Most frequent first, then larger; a network met in one group only does
  // not recur (unless only one group was decomposed).
  std::stable_sort(recurring.begin(), recurring.end(),
                   [](const auto& a, const auto& b) {
                     return a.second.frequency > b.second.frequency;
                   });
  v1::GetRecurrenceResponse response;
  response.set_groups(groups);
  response.set_min_jaccard(min_jaccard);
  for (const auto& [hook, r] : recurring) {
    if (r.members.size() < std::min<size_t>(2, groups) ||
        r.frequency < request.min_frequency() || r.units.empty()) {
      continue;
    }
    const HookNetworks& h = by_hook.at(hook);
    v1::RecurringNetwork* out = response.add_networks();
    out->set_hook(hook);
    out->set_frequency(r.frequency);
    out->set_mean_jaccard(r.mean_jaccard);
    for (int64_t unit : r.units) {
      out->add_unit_ids(unit);
      out->add_units(NameOf(loaded.layout, unit));
    }
    for (const auto& [group, component] : r.members) {
      v1::IcaMember* m = out->add_members();
      m->set_group(h.groups[group]);
      m->set_component(component);
      m->set_network_id(h.network_ids[group][component]);
    }
  }
  return response;
}

absl::StatusOr<v1::GetKeyNeuronsResponse> IcaQueries::GetKeyNeurons(
    const v1::GetKeyNeuronsRequest& request, const std::string& user) {
  const double min_frequency = request.min_frequency() != 0
                                   ? request.min_frequency()
                                   : ica::kDefaultKeyNeuronFrequency;
  FNPROBE_RETURN_IF_ERROR(CheckFraction(min_frequency, "min_frequency", true));
  FNPROBE_ASSIGN_OR_RETURN(
      Loaded loaded,
      LoadNetworks(store_, request.experiment_id(), user, "", false));
  FNPROBE_RETURN_IF_ERROR(
      CheckPerGroup(loaded.networks, request.experiment_id()));
  const std::map<std::string, HookNetworks> by_hook = ByHook(loaded.networks);
  const int groups = CountGroups(by_hook);
  FNPROBE_ASSIGN_OR_RETURN(
      const auto per_hook,
      Recurrence(by_hook, ica::RecurrenceOptions().min_jaccard));
  std::vector<ica::KeyNeuron> neurons;
  for (const auto& [hook, recurring] : per_hook) {
    const int hook_groups = static_cast<int>(by_hook.at(hook).networks.size());
    for (const ica::KeyNeuron& k :
         ica::KeyNeurons(recurring, hook_groups, min_frequency)) {
      neurons.push_back(k);
    }
  }
  std::sort(neurons.begin(), neurons.end(),
            [](const ica::KeyNeuron& a, const ica::KeyNeuron& b) {
              return a.frequency != b.frequency ? a.frequency > b.frequency
                                                : a.unit < b.unit;
            });
  v1::GetKeyNeuronsResponse response;
  response.set_groups(groups);
  response.set_min_frequency(min_frequency);
  for (const ica::KeyNeuron& k : neurons) {
    v1::KeyNeuron* out = response.add_neurons();
    out->set_unit_id(k.unit);
    out->set_unit(NameOf(loaded.layout, k.unit));
    out->set_frequency(k.frequency);
  }
  return response;
}

absl::StatusOr<v1::CompareMethodsResponse> IcaQueries::CompareMethods(
    const v1::CompareMethodsRequest& request, const std::string& user) {
  const int64_t id = request.experiment_id();
  FNPROBE_ASSIGN_OR_RETURN(
      Loaded loaded,
      LoadNetworks(store_, id, user, "", /*with_time_courses=*/true,
                   /*with_runs=*/true));
  const ExperimentRow& e = loaded.experiment;
  const v1::ExperimentSpec spec = WithDefaults(e.spec);
  if (IsTextCorpus(spec)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "experiment ", id,
        " is a text corpus: it has no conditions to compare components "
        "with; see `fnprobe recurrence`"));
  }
  FNPROBE_ASSIGN_OR_RETURN(std::vector<RunPlan> plans,
                           store_->experiments().LoadPlans(id));
  FNPROBE_ASSIGN_OR_RETURN(auto glm,
                           store_->ica().LoadGlmConditionNetworks(id));
  absl::flat_hash_map<int64_t, const RunPlan*> plan_of;
  for (const RunRow& run : e.runs) {
    if (run.index >= 0 && run.index < static_cast<int>(plans.size())) {
      plan_of[run.id] = &plans[run.index];
    }
  }
  v1::CompareMethodsResponse response;
  for (const auto& [condition, units] : glm) response.add_conditions(condition);
  std::vector<std::string> conditions;
  for (const v1::PromptPool& c : spec.conditions()) {
    conditions.push_back(c.name());
  }
  // A network of every run has one time course over the runs concatenated
  // in id order (as DecomposeRuns read them): compared with each
  // condition's regressor over the same concatenation (only built when
  // there is such a network).
  std::vector<std::vector<double>> concatenated;
  if (std::any_of(loaded.networks.begin(), loaded.networks.end(),
                  [](const IcaNetwork& n) { return n.run_id == 0; })) {
    std::vector<const RunPlan*> run_plans;
    std::vector<int64_t> run_time_points;
    for (const RunRow& run : e.runs) {  // id order
      auto it = plan_of.find(run.id);
      if (it == plan_of.end()) continue;
      run_plans.push_back(it->second);
      run_time_points.push_back(run.time_points);
    }
    concatenated =
        ConcatenatedRegressors(spec, run_plans, run_time_points, conditions);
  }
  for (const IcaNetwork& n : loaded.networks) {
    if (n.run_id == 0) {
      for (size_t c = 0; c < conditions.size(); ++c) {
        AddComparison(n, conditions[c], concatenated[c], glm, response);
      }
      continue;
    }
    auto it = plan_of.find(n.run_id);
    if (it == plan_of.end()) continue;
    // The run's own task regressor over its time course.
    const RunPlan& plan = *it->second;
    const std::vector<std::vector<double>> own = ConcatenatedRegressors(
        spec, {&plan}, {static_cast<int64_t>(n.time_course.size())},
        {plan.condition_name});
    AddComparison(n, plan.condition_name, own[0], glm, response);
  }
  return response;
}

}  // namespace fnprobe::worker
