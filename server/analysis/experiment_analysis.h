// From per-run statistical maps to an experiment's results (DESIGN.md
// "Analysis"): condition maps by fixed effects over repeats, networks per
// condition, per run and per condition-without-one-run (leave one repeat
// out), the overlap matrix, repeatability and held-out identification.
//
// Inference (the spec's analysis.inference):
//   PROMPT (default)  condition and leave-one-out maps are level-two tests
//                     (level_two.h) of the task prompts against the baseline
//                     prompts of the condition's runs (RunInput::prompts),
//                     a prompt drawn into several runs counted once; run
//                     maps are the same test within one run (the worker
//                     stores them as RunInput::map). PERMUTATION exchanges
//                     whole prompts' labels within runs, for every map.
//   TOKEN             condition maps are fixed effects over the runs'
//                     token-level maps (descriptive: tokens of one prompt
//                     are not independent). PERMUTATION applies each run's
//                     own block-permutation cut-off (|t| >
//                     RunInput::permutation_threshold) to that run's
//                     network; maps over runs fall back to FDR and their
//                     networks say "fdr".
// Thresholds are two-sided. FDR is Benjamini-Hochberg, BONFERRONI is
// Bonferroni, at the spec's alpha.
//
// The pieces live in network_threshold.h, network_overlap.h and
// held_out_classifier.h.
//
// Pure functions of their inputs: no I/O, no database, deterministic.
// Thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_EXPERIMENT_ANALYSIS_H_
#define FNPROBE_SERVER_ANALYSIS_EXPERIMENT_ANALYSIS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fnprobe/v1/experiment_spec.pb.h"
#include "server/analysis/prompt_accumulator.h"
#include "server/analysis/stat_map.h"

namespace fnprobe::analysis {

// One finished run, as the analysis sees it.
struct RunInput {
  int64_t run_id = 0;  // the database id; results refer to runs by it
  int index = 0;       // RunPlan::index
  std::string condition;
  int repeat = 0;
  StatMap map;  // "condition > baseline" for this run
  // |t| cut-off from block permutation (max-t) of this run, when the spec's
  // threshold is PERMUTATION; 0 otherwise.
  double permutation_threshold = 0.0;
  // Level-one values of the run's prompts (PROMPT inference; empty under
  // TOKEN).
  RunPrompts prompts;
};

enum class NetworkKind { kCondition, kRun, kLeaveOneOut };

// A thresholded map: the units whose two-sided test passes the spec's
// threshold (FDR, Bonferroni or block-permutation max-t).
struct Network {
  NetworkKind kind = NetworkKind::kCondition;
  std::string condition;
  int64_t run_id = 0;           // kRun
  int64_t excluded_run_id = 0;  // kLeaveOneOut
  std::string contrast;
  std::string threshold_method;      // "fdr", "bonferroni", "permutation"
  std::string inference = "prompt";  // or "token"
  double alpha = 0.05;
  double threshold = 0.0;  // the smallest member |t|; 0 when empty
  double dof = 0.0;
  // Members, ascending unit index, with their statistics: beta is the
  // contrast effect; q the Benjamini-Hochberg q-value over the whole map
  // (computed whatever the method).
  std::vector<int64_t> units;
  std::vector<double> beta, t, p, q;
  // Index into AnalysisResult::condition_maps (kCondition, kLeaveOneOut) or
  // AnalysisResult's RunInput order (kRun) of the map it thresholds.
  int map_index = 0;
};

// Dice 2|A n B| / (|A| + |B|), Jaccard |A n B| / |A u B|; both 0 when
// both networks are empty.
struct OverlapEntry {
  int a = 0, b = 0;  // indices into AnalysisResult::networks, a < b
  int64_t intersection = 0;
  double dice = 0.0, jaccard = 0.0;
};

// The run scored against one condition's network: its own condition's
// leave-one-out network, or another condition's full network.
struct HeldOutScore {
  std::string condition;
  int network = 0;  // index into AnalysisResult::networks
  // Mean over the network's units u of t_run[u] * sign(t_network[u]);
  // 0 for an empty network.
  double mean_t = 0.0;
  // Pearson correlation of the run's t map with the map the network
  // thresholds, over all units; 0 if either is constant.
  double correlation = 0.0;
};

struct HeldOutResult {
  int64_t run_id = 0;
  std::string true_condition;
  std::string predicted;                 // best mean_t (ties: first)
  std::string predicted_by_correlation;  // best correlation (ties: first)
  std::vector<HeldOutScore> scores;      // in condition order
};

struct AnalysisResult {
  // Fixed-effects maps: one per condition (all repeats), then one per
  // (condition, excluded run) used by leave-one-out networks.
  std::vector<StatMap> condition_maps;
  // Condition networks first (spec order), then run networks (run order),
  // then leave-one-out networks.
  std::vector<Network> networks;
  // Every pair of condition networks, then every pair of run networks
  // (same-condition pairs are the repeatability), each in (a, b) order.
  std::vector<OverlapEntry> overlaps;
  // One per run, in input order; empty unless the spec classifies and
  // every condition has at least two runs.
  std::vector<HeldOutResult> held_out;
};

// REQUIRES: spec validated with defaults (WithDefaults); runs hold every run
// of the plan, each map over the same units. INVALID_ARGUMENT for no runs,
// runs of unknown conditions, a condition without runs, repeated run ids,
// maps of different sizes, non-finite t or p outside [0, 1], (TOKEN,
// PERMUTATION) a run whose permutation_threshold is not positive, (PROMPT) a
// run without prompt values or a level-two test its prompts cannot support;
// FAILED_PRECONDITION for a permutation threshold the design cannot reach.
absl::StatusOr<AnalysisResult> AnalyzeExperiment(
    const v1::ExperimentSpec& spec, const std::vector<RunInput>& runs);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_EXPERIMENT_ANALYSIS_H_
