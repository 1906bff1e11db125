// Level two of prompt-level (summary-statistics) inference (DESIGN.md
// "Analysis": the unit of inference is the prompt). Each prompt contributes
// one value per unit (level one: its mean over its generated tokens, or its
// first-level beta); level two tests task prompts against baseline prompts.
//
// Why: the tokens of one prompt share that prompt, and what an experiment
// samples (and a new experiment would sample again) is prompts. Tokens as
// independent observations give t-statistics with ~T degrees of freedom where
// the data hold a few prompts per condition; on a null model that called
// units in every experiment. Here the degrees of freedom are the prompts'.
//
// Models:
//   kRunOls  y = a_run + b * task + e (one intercept per run, pooled
//            variance): the effect b is the within-run task - baseline
//            difference, df = N - R - 1.
//   kWelch   Welch's unequal-variance t of task against baseline prompts
//            (runs ignored), Welch-Satterthwaite df per unit.
//
// Permutation: task and baseline labels of whole prompts are exchanged
// within each run (the exchangeable unit under the null), keeping each run's
// task count. With at most `permutations` distinct labellings every one is
// visited (an exact test); otherwise the identity plus `permutations` random
// labellings (a valid Monte Carlo test). Family-wise error by the maximum
// |t| over units; per-unit p-values count each unit's own |t|.
//
// Free functions of their inputs; deterministic given the seed; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_LEVEL_TWO_H_
#define FNPROBE_SERVER_ANALYSIS_LEVEL_TWO_H_

#include <armadillo>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/analysis/stat_map.h"

namespace fnprobe::analysis {

enum class LevelTwoModel { kRunOls, kWelch };

// "run_ols", "welch": StatMap::noise_model of a level-two map.
std::string LevelTwoModelName(LevelTwoModel model);

// The prompts of one level-two test.
// Invariant (checked by the functions below): values.n_rows == task.size()
// == run.size(); run ids are 0..R-1.
struct PromptSample {
  arma::mat values;           // N x V: one row per prompt (level one)
  std::vector<uint8_t> task;  // N: 1 for a task prompt, 0 for baseline
  std::vector<int> run;       // N: exchangeability block (the run)
};

// The map of "task > baseline" over the sample's prompts: effect (b, or the
// difference of means for Welch), its variance, t, two-sided p and dof (the
// mean of the per-unit Welch df for kWelch). A unit whose residual variance
// is zero (constant within groups, to rounding) has variance 0, t 0, p 1.
// INVALID_ARGUMENT for inconsistent sizes, run ids outside 0..R-1, fewer
// than one task or baseline prompt with a variance to estimate (kRunOls:
// N - R - 1 < 1 or no run holding both labels; kWelch: fewer than two of
// either label).
absl::StatusOr<StatMap> LevelTwoMap(const PromptSample& sample,
                                    LevelTwoModel model, std::string contrast);

// Distinct labellings within runs: prod over runs of C(n_r, k_r). Huge
// values are returned as +inf-free doubles up to 1e300.
double DistinctLabellings(const PromptSample& sample);

// The smallest p-value a permutation test of the sample can give: 1 over
// the distinct values of max |t| it can see (labellings, halved when every
// run is balanced, since a labelling and its complement give -t), and at
// least 1 / (permutations + 1) when it samples.
double SmallestPermutationP(double distinct_labellings, bool all_balanced,
                            int permutations);

struct PermutationOptions {
  int permutations = 1000;  // random labellings when not exhaustive
  uint64_t seed = 0;
  double alpha = 0.05;  // family-wise error of the max-|t| cut-off
};

struct PermutationResult {
  // Members have |t| > cutoff (p_FWE <= alpha); +inf when nothing can pass.
  double cutoff = 0.0;
  arma::vec p;             // per-unit permutation p-values (two-sided)
  int64_t labellings = 0;  // visited, identity included
  bool exhaustive = false;
  double distinct = 0.0;  // DistinctLabellings
};

// Permutation test of LevelTwoMap(sample, model). FAILED_PRECONDITION when
// the design cannot reach `alpha` (SmallestPermutationP > alpha); the
// errors of LevelTwoMap otherwise.
absl::StatusOr<PermutationResult> PermuteLevelTwo(
    const PromptSample& sample, LevelTwoModel model,
    const PermutationOptions& options);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_LEVEL_TWO_H_
