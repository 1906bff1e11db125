// AnalyzeExperiment in steps: check the inputs and group runs by condition;
// fixed-effects maps (per condition, then leave-one-out); networks in the
// header's order; overlaps; held-out identification. Run maps are never
// copied: V can be ~200k units and an experiment ~20 runs.
#include "server/analysis/experiment_analysis.h"

#include <cmath>
#include <exception>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/portable_hash.h"
#include "common/status_util.h"
#include "server/analysis/held_out_classifier.h"
#include "server/analysis/network_overlap.h"
#include "server/analysis/network_threshold.h"

namespace fnprobe::analysis {
namespace {

// The runs grouped by condition, as indices into the input.
struct Grouping {
  std::vector<std::vector<int>> runs_of;  // per condition, input order
  std::vector<int> condition_of;          // per run
};

// A leave-one-out map: condition `condition` without run `excluded`.
struct LeaveOneOut {
  int condition = 0;
  int excluded = 0;   // index into the runs
  int map_index = 0;  // into AnalysisResult::condition_maps
};

absl::Status CheckMap(const RunInput& run, arma::uword units) {
  const StatMap& m = run.map;
  if (m.effect.n_elem != units || m.variance.n_elem != units ||
      m.t.n_elem != units || m.p.n_elem != units) {
    return absl::InvalidArgumentError(
        absl::StrCat("analysis: run ", run.run_id, " map has ", m.effect.n_elem,
                     "/", m.variance.n_elem, "/", m.t.n_elem, "/", m.p.n_elem,
                     " effect/variance/t/p entries, expected ", units));
  }
  if (!m.t.is_finite() || !m.p.is_finite() || arma::any(m.p < 0) ||
      arma::any(m.p > 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("analysis: run ", run.run_id,
                     " map has non-finite t or p outside [0, 1]"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ConditionIndex(const v1::ExperimentSpec& spec,
                                   const RunInput& run) {
  for (int c = 0; c < spec.conditions_size(); ++c) {
    if (spec.conditions(c).name() == run.condition) return c;
  }
  return absl::InvalidArgumentError(absl::StrCat("analysis: run ", run.run_id,
                                                 " has unknown condition \"",
                                                 run.condition, "\""));
}

bool PromptInference(const v1::ExperimentSpec& spec) {
  return spec.analysis().inference() == v1::InferenceLevel::PROMPT;
}

absl::Status CheckPrompts(const RunInput& run, arma::uword units) {
  const RunPrompts& p = run.prompts;
  if (p.values.n_rows == 0 || p.values.n_cols != units ||
      p.task.size() != p.values.n_rows || p.text.size() != p.values.n_rows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "analysis: run ", run.run_id, " has ", p.values.n_rows, " x ",
        p.values.n_cols, " prompt values for ", p.task.size(),
        " prompts; prompt-level inference needs one row per prompt over ",
        units, " units"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Grouping> GroupRuns(const v1::ExperimentSpec& spec,
                                   const std::vector<RunInput>& runs) {
  if (runs.empty()) return absl::InvalidArgumentError("analysis: no runs");
  const double alpha = spec.analysis().threshold().alpha();
  if (!(alpha > 0 && alpha < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("analysis: alpha must be in (0, 1), got ", alpha));
  }
  Grouping g;
  g.runs_of.resize(spec.conditions_size());
  std::set<int64_t> ids;
  for (size_t r = 0; r < runs.size(); ++r) {
    FNPROBE_RETURN_IF_ERROR(CheckMap(runs[r], runs[0].map.effect.n_elem));
    if (PromptInference(spec)) {
      FNPROBE_RETURN_IF_ERROR(CheckPrompts(runs[r], runs[0].map.effect.n_elem));
    }
    FNPROBE_ASSIGN_OR_RETURN(const int c, ConditionIndex(spec, runs[r]));
    if (!ids.insert(runs[r].run_id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("analysis: run id ", runs[r].run_id, " repeats"));
    }
    g.runs_of[c].push_back(static_cast<int>(r));
    g.condition_of.push_back(c);
  }
  for (int c = 0; c < spec.conditions_size(); ++c) {
    if (g.runs_of[c].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("analysis: condition \"",
                                                     spec.conditions(c).name(),
                                                     "\" has no runs"));
    }
  }
  return g;
}

// A map over the runs `members` without `excluded`: level two over their
// prompts (PROMPT) or fixed effects over their maps (TOKEN).
absl::StatusOr<StatMap> CombineRuns(const v1::ExperimentSpec& spec,
                                    const std::vector<RunInput>& runs,
                                    const std::vector<int>& members,
                                    int excluded) {
  if (!PromptInference(spec)) {
    std::vector<const StatMap*> maps;
    for (int r : members) {
      if (r != excluded) maps.push_back(&runs[r].map);
    }
    return FixedEffects(maps);
  }
  std::vector<const RunPrompts*> prompts;
  for (int r : members) {
    if (r != excluded) prompts.push_back(&runs[r].prompts);
  }
  FNPROBE_ASSIGN_OR_RETURN(PromptSample sample, PoolRuns(prompts));
  FNPROBE_ASSIGN_OR_RETURN(StatMap map,
                           LevelTwoMap(sample, LevelTwoModelOf(spec.analysis()),
                                       runs[members[0]].map.contrast));
  map.noise_model = "OLS";
  return map;
}

// Condition maps (one per condition, spec order), then one leave-one-out
// map per run of each condition with at least two runs.
absl::StatusOr<std::vector<LeaveOneOut>> BuildConditionMaps(
    const v1::ExperimentSpec& spec, const std::vector<RunInput>& runs,
    const Grouping& g, std::vector<StatMap>& maps) {
  // Reserved: arma::vec's move is not noexcept, so growth would copy maps.
  maps.reserve(g.runs_of.size() + runs.size());
  for (const std::vector<int>& members : g.runs_of) {
    FNPROBE_ASSIGN_OR_RETURN(StatMap m, CombineRuns(spec, runs, members, -1));
    maps.push_back(std::move(m));
  }
  std::vector<LeaveOneOut> loo;
  for (size_t c = 0; c < g.runs_of.size(); ++c) {
    if (g.runs_of[c].size() < 2) continue;
    for (int r : g.runs_of[c]) {
      FNPROBE_ASSIGN_OR_RETURN(StatMap m,
                               CombineRuns(spec, runs, g.runs_of[c], r));
      loo.push_back({static_cast<int>(c), r, static_cast<int>(maps.size())});
      maps.push_back(std::move(m));
    }
  }
  return loo;
}

ThresholdMethod MethodOf(const v1::ExperimentSpec& spec) {
  switch (spec.analysis().threshold().method()) {
    case v1::ThresholdSpec::BONFERRONI:
      return ThresholdMethod::kBonferroni;
    case v1::ThresholdSpec::PERMUTATION:
      return ThresholdMethod::kPermutation;
    default:
      return ThresholdMethod::kFdr;
  }
}

// TOKEN inference: maps combined over runs have no permutation distribution
// of their own (blocks are permuted per run, where the data is), so
// PERMUTATION falls back to FDR there.
ThresholdRule TokenCombinedRule(const v1::ExperimentSpec& spec) {
  ThresholdRule rule;
  rule.method = MethodOf(spec) == ThresholdMethod::kBonferroni
                    ? ThresholdMethod::kBonferroni
                    : ThresholdMethod::kFdr;
  rule.alpha = spec.analysis().threshold().alpha();
  return rule;
}

absl::StatusOr<ThresholdRule> TokenRunRule(const v1::ExperimentSpec& spec,
                                           const RunInput& run) {
  ThresholdRule rule;
  rule.method = MethodOf(spec);
  rule.alpha = spec.analysis().threshold().alpha();
  if (rule.method != ThresholdMethod::kPermutation) return rule;
  // A missing cut-off (0) would make every unit a member.
  if (!(run.permutation_threshold > 0) ||
      !std::isfinite(run.permutation_threshold)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "analysis: run ", run.run_id, " has no permutation threshold (got ",
        run.permutation_threshold, ")"));
  }
  rule.cutoff = run.permutation_threshold;
  return rule;
}

// PROMPT inference under PERMUTATION: the max-|t| cut-off of `members`
// (without `excluded`) from exchanging prompt labels within runs; `map`'s p
// become the per-unit permutation p-values. `stream` keeps each map's
// labellings independent and reproducible.
absl::StatusOr<ThresholdRule> PermutePrompts(const v1::ExperimentSpec& spec,
                                             const std::vector<RunInput>& runs,
                                             const std::vector<int>& members,
                                             int excluded, uint64_t stream,
                                             StatMap& map) {
  std::vector<const RunPrompts*> prompts;
  for (int r : members) {
    if (r != excluded) prompts.push_back(&runs[r].prompts);
  }
  FNPROBE_ASSIGN_OR_RETURN(PromptSample sample, PoolRuns(prompts));
  PermutationOptions options;
  options.permutations = spec.analysis().threshold().permutations();
  options.alpha = spec.analysis().threshold().alpha();
  uint64_t state = spec.generation().seed() ^ (stream * 0x9e3779b97f4a7c15ULL);
  options.seed = SplitMix64(state);
  auto result =
      PermuteLevelTwo(sample, LevelTwoModelOf(spec.analysis()), options);
  if (!result.ok()) return Annotate(result.status(), "analysis");
  map.p = std::move(result->p);
  ThresholdRule rule;
  rule.method = ThresholdMethod::kPermutation;
  rule.alpha = options.alpha;
  rule.cutoff = result->cutoff;
  return rule;
}

// The rule for condition map `c` (or a leave-one-out map of runs `members`
// without `excluded`), replacing the map's p under prompt permutation.
absl::StatusOr<ThresholdRule> CombinedRule(const v1::ExperimentSpec& spec,
                                           const std::vector<RunInput>& runs,
                                           const std::vector<int>& members,
                                           int excluded, uint64_t stream,
                                           StatMap& map) {
  if (!PromptInference(spec) ||
      MethodOf(spec) != ThresholdMethod::kPermutation) {
    return TokenCombinedRule(spec);
  }
  return PermutePrompts(spec, runs, members, excluded, stream, map);
}

std::string InferenceName(const v1::ExperimentSpec& spec) {
  return PromptInference(spec) ? "prompt" : "token";
}

absl::Status AddNetworks(const v1::ExperimentSpec& spec,
                         const std::vector<RunInput>& runs, const Grouping& g,
                         const std::vector<LeaveOneOut>& loo,
                         AnalysisResult& result) {
  result.networks.reserve(spec.conditions_size() + runs.size() + loo.size());
  uint64_t stream = 0;
  for (int c = 0; c < spec.conditions_size(); ++c) {
    FNPROBE_ASSIGN_OR_RETURN(const ThresholdRule rule,
                             CombinedRule(spec, runs, g.runs_of[c], -1,
                                          ++stream, result.condition_maps[c]));
    Network n = ThresholdMap(result.condition_maps[c], rule);
    n.kind = NetworkKind::kCondition;
    n.condition = spec.conditions(c).name();
    n.map_index = c;
    result.networks.push_back(std::move(n));
  }
  const bool prompt_permutation =
      PromptInference(spec) && MethodOf(spec) == ThresholdMethod::kPermutation;
  for (size_t r = 0; r < runs.size(); ++r) {
    Network n;
    if (prompt_permutation) {
      StatMap map = runs[r].map;
      FNPROBE_ASSIGN_OR_RETURN(
          const ThresholdRule rule,
          PermutePrompts(spec, runs, {static_cast<int>(r)}, -1, ++stream, map));
      n = ThresholdMap(map, rule);
    } else if (PromptInference(spec)) {
      n = ThresholdMap(runs[r].map, TokenCombinedRule(spec));
    } else {
      FNPROBE_ASSIGN_OR_RETURN(const ThresholdRule rule,
                               TokenRunRule(spec, runs[r]));
      n = ThresholdMap(runs[r].map, rule);
    }
    n.kind = NetworkKind::kRun;
    n.condition = runs[r].condition;
    n.run_id = runs[r].run_id;
    n.map_index = static_cast<int>(r);
    result.networks.push_back(std::move(n));
  }
  for (const LeaveOneOut& l : loo) {
    FNPROBE_ASSIGN_OR_RETURN(
        const ThresholdRule rule,
        CombinedRule(spec, runs, g.runs_of[l.condition], l.excluded, ++stream,
                     result.condition_maps[l.map_index]));
    Network n = ThresholdMap(result.condition_maps[l.map_index], rule);
    n.kind = NetworkKind::kLeaveOneOut;
    n.condition = spec.conditions(l.condition).name();
    n.excluded_run_id = runs[l.excluded].run_id;
    n.map_index = l.map_index;
    result.networks.push_back(std::move(n));
  }
  for (Network& n : result.networks) n.inference = InferenceName(spec);
  return absl::OkStatus();
}

void AddOverlaps(int num_conditions, int num_runs, AnalysisResult& result) {
  std::vector<int> conditions(num_conditions), run_networks(num_runs);
  for (int i = 0; i < num_conditions; ++i) conditions[i] = i;
  for (int i = 0; i < num_runs; ++i) run_networks[i] = num_conditions + i;
  result.overlaps = PairwiseOverlaps(result.networks, conditions);
  std::vector<OverlapEntry> between_runs =
      PairwiseOverlaps(result.networks, run_networks);
  result.overlaps.insert(result.overlaps.end(), between_runs.begin(),
                         between_runs.end());
}

// Leave one repeat out: the runs of repeat k are scored against every
// condition's network built without that condition's repeat-k run, so that
// all candidates rest on the same number of runs. (Scoring against the own
// condition's leave-one-out network but the other conditions' full networks
// favours the own condition: a network of fewer runs keeps only the
// strongest units, whose mean t is higher; with shuffled labels that bias
// alone gave 0.69 accuracy at a chance of 0.33.) A condition without a run
// of that repeat is represented by its full network. Needs a leave-one-out
// network for every run, hence >= 2 runs everywhere.
void AddHeldOut(const v1::ExperimentSpec& spec,
                const std::vector<RunInput>& runs, const Grouping& g,
                const std::vector<LeaveOneOut>& loo, AnalysisResult& result) {
  if (!spec.analysis().classify()) return;
  for (const std::vector<int>& members : g.runs_of) {
    if (members.size() < 2) return;
  }
  const int first_loo_network =
      spec.conditions_size() + static_cast<int>(runs.size());
  std::vector<int> loo_network(runs.size(), -1);
  for (size_t i = 0; i < loo.size(); ++i) {
    loo_network[loo[i].excluded] = first_loo_network + static_cast<int>(i);
  }
  for (size_t r = 0; r < runs.size(); ++r) {
    std::vector<HeldOutCandidate> candidates;
    for (int c = 0; c < spec.conditions_size(); ++c) {
      int network = c;
      for (int member : g.runs_of[c]) {
        if (runs[member].repeat == runs[r].repeat) {
          network = loo_network[member];
        }
      }
      candidates.push_back({spec.conditions(c).name(), network});
    }
    result.held_out.push_back(ClassifyRun(runs[r], candidates, result.networks,
                                          result.condition_maps));
  }
}

absl::StatusOr<AnalysisResult> Analyze(const v1::ExperimentSpec& spec,
                                       const std::vector<RunInput>& runs) {
  FNPROBE_ASSIGN_OR_RETURN(const Grouping g, GroupRuns(spec, runs));
  AnalysisResult result;
  FNPROBE_ASSIGN_OR_RETURN(
      const std::vector<LeaveOneOut> loo,
      BuildConditionMaps(spec, runs, g, result.condition_maps));
  FNPROBE_RETURN_IF_ERROR(AddNetworks(spec, runs, g, loo, result));
  AddOverlaps(spec.conditions_size(), static_cast<int>(runs.size()), result);
  AddHeldOut(spec, runs, g, loo, result);
  return result;
}

}  // namespace

absl::StatusOr<AnalysisResult> AnalyzeExperiment(
    const v1::ExperimentSpec& spec, const std::vector<RunInput>& runs) {
  try {
    return Analyze(spec, runs);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("analysis: ", e.what()));
  }
}

}  // namespace fnprobe::analysis
