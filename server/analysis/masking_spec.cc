#include "server/analysis/masking_spec.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace fnprobe {
namespace {

using Problems = std::vector<SpecProblem>;

void Add(Problems& p, std::string field, std::string problem) {
  p.push_back({std::move(field), std::move(problem)});
}

// Names of networks and evaluation sets become labels in tables and run
// conditions ("ZERO/alpha/beta"): printable, no '/'.
void CheckLabel(Problems& p, const std::string& field, const std::string& s,
                bool required) {
  if (s.empty()) {
    if (required) Add(p, field, "is empty");
    return;
  }
  if (s.size() > 128) Add(p, field, "is longer than 128 bytes");
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '/') {
      Add(p, field, "holds a control character or '/'");
      return;
    }
  }
}

bool IsKnownOperation(int op) {
  return op == v1::MaskingOperation::ZERO ||
         op == v1::MaskingOperation::KEEP_ONLY ||
         op == v1::MaskingOperation::MEAN ||
         op == v1::MaskingOperation::AMPLIFY;
}

std::string DefaultNetworkName(const v1::MaskingNetwork& n, int i) {
  if (!n.name().empty()) return n.name();
  if (!n.condition().empty()) return n.condition();
  if (n.has_component()) return absl::StrCat("component-", n.component());
  return absl::StrCat("network-", i);
}

}  // namespace

std::string EvaluationCondition(const v1::MaskingEvaluation& set) {
  return set.condition().empty() ? set.name() : set.condition();
}

std::string NetworkCondition(const v1::MaskingNetwork& network, int index) {
  if (!network.condition().empty()) return network.condition();
  return DefaultNetworkName(network, index);
}

std::string OperationName(v1::MaskingOperation::Kind operation) {
  if (operation == v1::MaskingOperation::UNSPECIFIED) return "NONE";
  return v1::MaskingOperation::Kind_Name(operation);
}

absl::StatusOr<UnitRef> ParseUnitRef(absl::string_view text) {
  const size_t open = text.rfind('[');
  if (open == absl::string_view::npos || open == 0 || text.back() != ']') {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text,
                     "' is not a unit (expected HOOK[INDEX], e.g. "
                     "blocks.0.mlp_post[12])"));
  }
  UnitRef ref;
  ref.hook = std::string(text.substr(0, open));
  const absl::string_view digits =
      text.substr(open + 1, text.size() - open - 2);
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(digits, &ref.index)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "': the index must be a non-negative integer"));
  }
  return ref;
}

int64_t SelectionSize(const UnitSelection& units) {
  int64_t n = 0;
  for (const auto& [hook, list] : units) n += static_cast<int64_t>(list.size());
  return n;
}

std::vector<SpecProblem> FindMaskingSpecProblems(
    const v1::ExperimentSpec& spec) {
  Problems p;
  const v1::MaskingSpec& m = spec.masking();
  CheckLabel(p, "name", spec.name(), true);
  if (spec.model().empty()) Add(p, "model", "is empty");
  if (spec.conditions_size() > 0 || !spec.baseline().name().empty() ||
      spec.baseline().prompts_size() > 0 || spec.has_design()) {
    Add(p, "masking",
        "a masking experiment has no baseline, conditions or design");
  }
  if (m.networks().empty()) Add(p, "masking.networks", "is empty");
  if (m.networks_size() > kMaxMaskingNetworks) {
    Add(p, "masking.networks",
        absl::StrCat("holds ", m.networks_size(), " networks; at most ",
                     kMaxMaskingNetworks));
  }
  std::set<std::string> names;
  for (int i = 0; i < m.networks_size() && i < kMaxMaskingNetworks; ++i) {
    const v1::MaskingNetwork& n = m.networks(i);
    const std::string f = absl::StrCat("masking.networks[", i, "]");
    CheckLabel(p, f + ".name", n.name(), false);
    const bool stored = n.experiment() != 0;
    if (n.experiment() < 0) Add(p, f + ".experiment", "must be positive");
    if (stored) {
      if (!n.units().empty()) {
        Add(p, f + ".units", "give either experiment or units, not both");
      }
      if (n.condition().empty() == !n.has_component()) {
        Add(p, f,
            "a stored network needs exactly one of condition and "
            "component");
      }
      if (n.has_component() && n.component() < 0) {
        Add(p, f + ".component", "must be >= 0");
      }
      if (n.has_group() && !n.has_component()) {
        Add(p, f + ".group", "applies to an ICA component only");
      }
      if (n.has_group() && n.group() < 0) {
        Add(p, f + ".group", "must be >= 0");
      }
    } else {
      if (n.units().empty()) {
        Add(p, f, "give experiment (with condition or component) or units");
      }
      if (!n.condition().empty() || n.has_component() || n.has_group()) {
        Add(p, f + ".experiment",
            "is missing: condition and component refer to a stored "
            "experiment");
      }
      if (!n.hooks().empty()) {
        Add(p, f + ".hooks", "applies to a stored network only");
      }
    }
    if (n.units_size() > kMaxMaskingUnitsPerNetwork) {
      Add(p, f + ".units",
          absl::StrCat("holds ", n.units_size(), " units; at most ",
                       kMaxMaskingUnitsPerNetwork));
    } else {
      std::set<std::string> seen;
      for (int u = 0; u < n.units_size(); ++u) {
        const std::string uf = absl::StrCat(f, ".units[", u, "]");
        absl::StatusOr<UnitRef> ref = ParseUnitRef(n.units(u));
        if (!ref.ok()) {
          Add(p, uf, std::string(ref.status().message()));
        } else if (!seen.insert(n.units(u)).second) {
          Add(p, uf, absl::StrCat("'", n.units(u), "' is listed twice"));
        }
      }
    }
    for (int h = 0; h < n.hooks_size(); ++h) {
      if (n.hooks(h).empty()) {
        Add(p, absl::StrCat(f, ".hooks[", h, "]"), "is empty");
      }
    }
    const std::string name = DefaultNetworkName(n, i);
    if (!names.insert(name).second) {
      Add(p, f + ".name",
          absl::StrCat("'", name,
                       "' names another network too; give each a name"));
    }
  }
  if (m.operations().empty()) Add(p, "masking.operations", "is empty");
  std::set<int> ops;
  bool amplify = false, mean = false;
  for (int i = 0; i < m.operations_size(); ++i) {
    const std::string f = absl::StrCat("masking.operations[", i, "]");
    const int op = m.operations(i);
    if (!IsKnownOperation(op)) {
      Add(p, f, "must be ZERO, KEEP_ONLY, MEAN or AMPLIFY");
    } else if (!ops.insert(op).second) {
      Add(p, f, "is listed twice");
    }
    amplify |= op == v1::MaskingOperation::AMPLIFY;
    mean |= op == v1::MaskingOperation::MEAN;
  }
  if (amplify) {
    if (!std::isfinite(m.factor()) || m.factor() == 0 || m.factor() == 1 ||
        std::abs(m.factor()) > kMaxMaskingFactor) {
      Add(p, "masking.factor",
          absl::StrCat("AMPLIFY needs a factor other than 0 and 1, at most ",
                       kMaxMaskingFactor, " in magnitude"));
    }
  } else if (m.factor() != 0) {
    Add(p, "masking.factor", "applies to AMPLIFY only");
  }
  if (mean || m.match_variance()) {
    // Which explicit-unit network lacks a source shows at submission
    // (masking_submit.h); here only a spec that has none at all.
    bool has_source = m.mean_from() > 0;
    for (const auto& n : m.networks()) has_source |= n.experiment() > 0;
    if (!has_source || m.mean_from() < 0) {
      Add(p, "masking.meanFrom",
          absl::StrCat(
              mean && m.match_variance() ? "MEAN and matchVariance need"
              : mean                     ? "MEAN needs"
                                         : "matchVariance needs",
              " a finished experiment whose stored activations give the "
              "units' ",
              mean && m.match_variance() ? "means and variances"
              : mean                     ? "means"
                                         : "variances",
              " (meanFrom, or the networks' own experiment)"));
    }
  } else if (m.mean_from() != 0) {
    Add(p, "masking.meanFrom", "applies to MEAN and matchVariance only");
  }
  if (m.controls() != 0 && (m.controls() < kMinMaskingControls ||
                            m.controls() > kMaxMaskingControls)) {
    Add(p, "masking.controls",
        absl::StrCat("must be in [", kMinMaskingControls, ", ",
                     kMaxMaskingControls, "] (default ",
                     kDefaultMaskingControls, "), got ", m.controls()));
  }
  if (m.batch_texts() < 0 || m.batch_texts() > kMaxMaskingBatchTexts) {
    Add(p, "masking.batchTexts",
        absl::StrCat("must be in [1, ", kMaxMaskingBatchTexts, "] (default ",
                     kDefaultMaskingBatchTexts, ")"));
  }
  if (m.evaluation().empty()) Add(p, "masking.evaluation", "is empty");
  if (m.evaluation_size() > kMaxMaskingEvaluations) {
    Add(p, "masking.evaluation",
        absl::StrCat("holds ", m.evaluation_size(), " sets; at most ",
                     kMaxMaskingEvaluations));
  }
  std::set<std::string> sets;
  for (int e = 0; e < m.evaluation_size() && e < kMaxMaskingEvaluations; ++e) {
    const v1::MaskingEvaluation& set = m.evaluation(e);
    const std::string f = absl::StrCat("masking.evaluation[", e, "]");
    CheckLabel(p, f + ".name", set.name(), true);
    CheckLabel(p, f + ".condition", set.condition(), false);
    if (!set.name().empty() && !sets.insert(set.name()).second) {
      Add(p, f + ".name", absl::StrCat("'", set.name(), "' is used twice"));
    }
    if (set.texts().empty()) Add(p, f + ".texts", "is empty");
    if (set.texts_size() > kMaxMaskingTextsPerSet) {
      Add(p, f + ".texts",
          absl::StrCat("holds ", set.texts_size(), " texts; at most ",
                       kMaxMaskingTextsPerSet));
      continue;
    }
    for (int t = 0; t < set.texts_size(); ++t) {
      const std::string tf = absl::StrCat(f, ".texts[", t, "]");
      if (set.texts(t).empty()) {
        Add(p, tf, "is empty");
      } else if (static_cast<int>(set.texts(t).size()) > kMaxPromptBytes) {
        Add(p, tf, absl::StrCat("is longer than ", kMaxPromptBytes, " bytes"));
      }
    }
  }
  return p;
}

v1::ExperimentSpec MaskingWithDefaults(v1::ExperimentSpec spec) {
  v1::MaskingSpec* m = spec.mutable_masking();
  if (m->controls() == 0) m->set_controls(kDefaultMaskingControls);
  if (m->batch_texts() == 0) m->set_batch_texts(kDefaultMaskingBatchTexts);
  for (int i = 0; i < m->networks_size(); ++i) {
    v1::MaskingNetwork* n = m->mutable_networks(i);
    n->set_name(DefaultNetworkName(*n, i));
  }
  return spec;
}

std::vector<UnitSelection> DrawControls(
    const UnitSelection& network, const std::map<std::string, int64_t>& widths,
    int count, uint64_t seed, int network_index) {
  // One stream per network, so that adding a network does not change the
  // controls of the others.
  std::mt19937_64 rng(seed * 1000003u + static_cast<uint64_t>(network_index));
  std::vector<UnitSelection> controls(count);
  for (int k = 0; k < count; ++k) {
    for (const auto& [hook, units] : network) {
      const int64_t width = widths.at(hook);
      std::vector<int64_t> pool;
      pool.reserve(width - units.size());
      for (int64_t u = 0; u < width; ++u) {
        if (!std::binary_search(units.begin(), units.end(), u)) {
          pool.push_back(u);
        }
      }
      // Partial Fisher-Yates: the first |units| of a uniform shuffle.
      for (size_t i = 0; i < units.size(); ++i) {
        std::uniform_int_distribution<size_t> pick(i, pool.size() - 1);
        std::swap(pool[i], pool[pick(rng)]);
      }
      std::vector<int64_t> drawn(pool.begin(), pool.begin() + units.size());
      std::sort(drawn.begin(), drawn.end());
      controls[k][hook] = std::move(drawn);
    }
  }
  return controls;
}

int VarianceStrataCount(int64_t width, int64_t network_units, int max_strata,
                        int min_ratio) {
  int64_t strata = max_strata;
  if (min_ratio > 0 && network_units > 0) {
    strata = std::min<int64_t>(strata, width / (min_ratio * network_units));
  }
  strata = std::min<int64_t>(strata, width);
  return static_cast<int>(std::max<int64_t>(strata, 1));
}

namespace {

// One hook point's strata for the matched draw: each stratum's units that
// are not the network's, and how many network units it holds.
struct HookStrata {
  std::vector<std::vector<int64_t>> pools;
  std::vector<int64_t> needs;
};

HookStrata StratifyHook(const std::vector<int64_t>& units,
                        const std::vector<double>& variances, int max_strata,
                        int min_ratio) {
  const int64_t width = static_cast<int64_t>(variances.size());
  std::vector<int64_t> order(width);
  for (int64_t u = 0; u < width; ++u) order[u] = u;
  // Ranked by variance, ties by index, so that the strata do not depend on
  // the sort's implementation.
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return variances[a] != variances[b] ? variances[a] < variances[b] : a < b;
  });
  const int strata = VarianceStrataCount(
      width, static_cast<int64_t>(units.size()), max_strata, min_ratio);
  HookStrata out;
  out.pools.resize(strata);
  out.needs.assign(strata, 0);
  for (int64_t rank = 0; rank < width; ++rank) {
    // Equal counts: rank r is in stratum floor(r x S / width).
    const int s = static_cast<int>(rank * strata / width);
    const int64_t u = order[rank];
    if (std::binary_search(units.begin(), units.end(), u)) {
      ++out.needs[s];
    } else {
      out.pools[s].push_back(u);
    }
  }
  return out;
}

}  // namespace

std::vector<UnitSelection> DrawVarianceMatchedControls(
    const UnitSelection& network,
    const std::map<std::string, std::vector<double>>& variances, int count,
    uint64_t seed, int network_index, int max_strata, int min_stratum_ratio) {
  // The uniform draw's stream (DrawControls).
  std::mt19937_64 rng(seed * 1000003u + static_cast<uint64_t>(network_index));
  std::map<std::string, HookStrata> strata;
  for (const auto& [hook, units] : network) {
    strata[hook] =
        StratifyHook(units, variances.at(hook), max_strata, min_stratum_ratio);
  }
  std::vector<UnitSelection> controls(count);
  for (int k = 0; k < count; ++k) {
    for (const auto& [hook, units] : network) {
      HookStrata h = strata.at(hook);  // a fresh copy of the pools
      const int n = static_cast<int>(h.pools.size());
      std::vector<size_t> used(n, 0);
      std::vector<int64_t> drawn;
      drawn.reserve(units.size());
      // Partial Fisher-Yates within a pool: its next unit, uniformly among
      // those not drawn yet.
      auto take = [&](int s) {
        std::vector<int64_t>& pool = h.pools[s];
        std::uniform_int_distribution<size_t> pick(used[s], pool.size() - 1);
        std::swap(pool[used[s]], pool[pick(rng)]);
        drawn.push_back(pool[used[s]++]);
      };
      auto left = [&](int s) { return h.pools[s].size() - used[s]; };
      // Each stratum's own units first, so that a stratum that runs out
      // borrows only what the others do not need themselves.
      std::vector<int64_t> deficit(n, 0);
      for (int s = 0; s < n; ++s) {
        const int64_t own = std::min<int64_t>(h.needs[s], left(s));
        for (int64_t i = 0; i < own; ++i) take(s);
        deficit[s] = h.needs[s] - own;
      }
      for (int s = 0; s < n; ++s) {
        for (int64_t i = 0; i < deficit[s]; ++i) {
          int from = -1;
          for (int d = 1; d < n && from < 0; ++d) {
            const bool below = s - d >= 0 && left(s - d) > 0;
            const bool above = s + d < n && left(s + d) > 0;
            if (below && above) {
              from = rng() % 2 ? s + d : s - d;
            } else if (below) {
              from = s - d;
            } else if (above) {
              from = s + d;
            }
          }
          if (from >= 0) take(from);  // REQUIRES guarantees one
        }
      }
      std::sort(drawn.begin(), drawn.end());
      controls[k][hook] = std::move(drawn);
    }
  }
  return controls;
}

std::vector<MaskingRun> PlanMaskingRuns(const v1::ExperimentSpec& spec,
                                        int num_networks, int controls) {
  const v1::MaskingSpec& m = spec.masking();
  const int batch =
      m.batch_texts() > 0 ? m.batch_texts() : kDefaultMaskingBatchTexts;
  std::vector<MaskingRun> runs;
  auto batches = [&](MaskingRun base) {
    for (int e = 0; e < m.evaluation_size(); ++e) {
      const int n = m.evaluation(e).texts_size();
      for (int first = 0; first < n; first += batch) {
        MaskingRun r = base;
        r.evaluation = e;
        r.first_text = first;
        r.num_texts = std::min(batch, n - first);
        runs.push_back(r);
      }
    }
  };
  batches(MaskingRun{});
  for (int op : m.operations()) {
    for (int net = 0; net < num_networks; ++net) {
      MaskingRun base;
      base.operation = static_cast<v1::MaskingOperation::Kind>(op);
      base.network = net;
      base.members = 1 + controls;
      batches(base);
    }
  }
  return runs;
}

std::vector<RunPlan> MaskingRunPlans(const v1::ExperimentSpec& spec,
                                     const MaskingPlan& plan) {
  const v1::MaskingSpec& m = spec.masking();
  const int batch =
      m.batch_texts() > 0 ? m.batch_texts() : kDefaultMaskingBatchTexts;
  std::vector<RunPlan> plans;
  for (size_t i = 0; i < plan.runs.size(); ++i) {
    const MaskingRun& r = plan.runs[i];
    const v1::MaskingEvaluation& set = m.evaluation(r.evaluation);
    RunPlan p;
    p.index = static_cast<int>(i);
    p.condition = r.evaluation;
    p.condition_name =
        r.network < 0
            ? absl::StrCat("unmasked/", set.name())
            : absl::StrCat(OperationName(r.operation), "/",
                           plan.networks[r.network].name, "/", set.name());
    p.repeat = r.first_text / batch;
    p.prompts.assign(set.texts().begin() + r.first_text,
                     set.texts().begin() + r.first_text + r.num_texts);
    p.blocks.push_back({true, 0, r.num_texts});
    p.time_points = static_cast<int64_t>(r.num_texts) * r.members;
    plans.push_back(std::move(p));
  }
  return plans;
}

std::string MaskingPlanToJson(const MaskingPlan& plan) {
  nlohmann::json j;
  j["format"] = "fnprobe-masking-plan-1";
  j["matched_variance"] = plan.matched_variance;
  auto selection = [](const UnitSelection& s) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [hook, units] : s) out[hook] = units;
    return out;
  };
  j["networks"] = nlohmann::json::array();
  for (const MaskedNetwork& n : plan.networks) {
    nlohmann::json item;
    item["name"] = n.name;
    item["mean_from"] = n.mean_from;
    item["units"] = selection(n.units);
    item["controls"] = nlohmann::json::array();
    for (const UnitSelection& c : n.controls) {
      item["controls"].push_back(selection(c));
    }
    j["networks"].push_back(std::move(item));
  }
  j["runs"] = nlohmann::json::array();
  for (const MaskingRun& r : plan.runs) {
    j["runs"].push_back({OperationName(r.operation), r.network, r.evaluation,
                         r.first_text, r.num_texts, r.members});
  }
  return j.dump();
}

absl::StatusOr<MaskingPlan> MaskingPlanFromJson(absl::string_view json) {
  try {
    const nlohmann::json j = nlohmann::json::parse(json);
    if (j.at("format") != "fnprobe-masking-plan-1") {
      return absl::DataLossError("masking plan: unknown format");
    }
    auto selection = [](const nlohmann::json& s) {
      UnitSelection out;
      for (auto it = s.begin(); it != s.end(); ++it) {
        out[it.key()] = it.value().get<std::vector<int64_t>>();
      }
      return out;
    };
    MaskingPlan plan;
    // Absent in plans stored before variance-matched controls: uniform.
    plan.matched_variance = j.value("matched_variance", false);
    for (const auto& item : j.at("networks")) {
      MaskedNetwork n;
      n.name = item.at("name").get<std::string>();
      n.mean_from = item.value("mean_from", int64_t{0});
      n.units = selection(item.at("units"));
      for (const auto& c : item.at("controls")) {
        n.controls.push_back(selection(c));
      }
      plan.networks.push_back(std::move(n));
    }
    for (const auto& r : j.at("runs")) {
      MaskingRun run;
      const std::string op = r.at(0).get<std::string>();
      if (op != "NONE" &&
          !v1::MaskingOperation::Kind_Parse(op, &run.operation)) {
        return absl::DataLossError(
            absl::StrCat("masking plan: unknown operation '", op, "'"));
      }
      run.network = r.at(1).get<int>();
      run.evaluation = r.at(2).get<int>();
      run.first_text = r.at(3).get<int>();
      run.num_texts = r.at(4).get<int>();
      run.members = r.at(5).get<int>();
      if (run.network >= static_cast<int>(plan.networks.size())) {
        return absl::DataLossError("masking plan: run of an unknown network");
      }
      plan.runs.push_back(run);
    }
    return plan;
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat("masking plan: ", e.what()));
  }
}

std::vector<v1::Intervention> MaskingInterventions(
    const UnitSelection& units, v1::MaskingOperation::Kind operation,
    float factor, const std::map<std::string, std::vector<float>>& means) {
  std::vector<v1::Intervention> out;
  for (const auto& [hook, list] : units) {
    v1::Intervention iv;
    iv.set_hook(hook);
    for (int64_t u : list) iv.add_units(u);
    switch (operation) {
      case v1::MaskingOperation::ZERO:
        iv.set_op(v1::Intervention::OP_ZERO);
        break;
      case v1::MaskingOperation::KEEP_ONLY:
        iv.set_op(v1::Intervention::OP_KEEP_ONLY);
        break;
      case v1::MaskingOperation::AMPLIFY:
        iv.set_op(v1::Intervention::OP_SCALE);
        iv.set_value(factor);
        break;
      case v1::MaskingOperation::MEAN: {
        iv.set_op(v1::Intervention::OP_SET);
        auto it = means.find(hook);
        for (int64_t u : list) {
          const bool known =
              it != means.end() && u < static_cast<int64_t>(it->second.size());
          iv.add_values(known ? it->second[u] : 0.0f);
        }
        break;
      }
      default:
        continue;
    }
    out.push_back(std::move(iv));
  }
  return out;
}

}  // namespace fnprobe
