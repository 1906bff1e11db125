// From per-run statistical maps to an experiment's results (DESIGN.md
// "Analysis"): condition maps by fixed effects over repeats, networks per
// condition, per run and per condition-without-one-run (leave one repeat
// out), the overlap matrix, repeatability and held-out identification.
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
  std::string threshold_method;  // "fdr", "bonferroni", "permutation"
  double alpha = 0.05;
  double threshold = 0.0;  // the smallest |t| that passed (or the cut-off)
  double dof = 0.0;
  // Members, ascending unit index, with their statistics.
  std::vector<int64_t> units;
  std::vector<double> beta, t, p, q;
  // Index into AnalysisResult::condition_maps (kCondition, kLeaveOneOut) or
  // AnalysisResult's RunInput order (kRun) of the map it thresholds.
  int map_index = 0;
};

struct OverlapEntry {
  int a = 0, b = 0;  // indices into AnalysisResult::networks, a < b
  int64_t intersection = 0;
  double dice = 0.0, jaccard = 0.0;
};

struct HeldOutScore {
  std::string condition;
  int network = 0;  // index into AnalysisResult::networks
  double mean_t = 0.0;
  double correlation = 0.0;
};

struct HeldOutResult {
  int64_t run_id = 0;
  std::string true_condition;
  std::string predicted;                 // best mean_t
  std::string predicted_by_correlation;  // best correlation
  std::vector<HeldOutScore> scores;      // in condition order
};

struct AnalysisResult {
  // Fixed-effects maps: one per condition (all repeats), then one per
  // (condition, excluded run) used by leave-one-out networks.
  std::vector<StatMap> condition_maps;
  // Condition networks first (spec order), then run networks (run order),
  // then leave-one-out networks.
  std::vector<Network> networks;
  std::vector<OverlapEntry> overlaps;  // every pair of condition networks
                                       // and every pair of run networks
  std::vector<HeldOutResult> held_out;  // empty unless classify
};

// REQUIRES: spec validated with defaults (WithDefaults); runs hold every run
// of the plan, each map over the same units. INVALID_ARGUMENT for runs of
// unknown conditions or maps of different sizes.
absl::StatusOr<AnalysisResult> AnalyzeExperiment(
    const v1::ExperimentSpec& spec, const std::vector<RunInput>& runs);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_EXPERIMENT_ANALYSIS_H_
