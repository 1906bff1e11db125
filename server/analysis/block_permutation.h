// Family-wise error threshold by block permutation (max statistic, Nichols &
// Holmes): the frames are cut into equal blocks; each permutation moves the
// condition regressors' blocks among the block positions (drift and constant
// stay put), refits every unit from the sufficient statistics (X'Y, sum y^2;
// the GlmAccumulator path) and records the maximum t of the contrast over
// units. The threshold is the (1 - alpha) quantile of those maxima; the
// unpermuted design counts as the first permutation. Needs the T x V data,
// as re-analysis from the activation store has it.
//
// Deterministic for a seed (own Fisher-Yates over std::mt19937_64).
// Free function; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_BLOCK_PERMUTATION_H_
#define FNPROBE_SERVER_ANALYSIS_BLOCK_PERMUTATION_H_

#include <armadillo>
#include <cstdint>

#include "absl/status/statusor.h"

namespace fnprobe::analysis {

struct BlockPermutationOptions {
  arma::uword block_length = 0;  // Frames per block; trailing rest fixed.
  arma::uvec condition_columns;  // Design columns moved with the blocks.
  int num_permutations = 1000;   // Including the unpermuted design.
  double alpha = 0.05;
  uint64_t seed = 0;
  // Record max |t| instead of max t (for two-sided networks).
  bool two_sided = false;
};

struct BlockPermutationResult {
  double threshold = 0.0;  // t above which a unit is significant (FWE).
  arma::vec max_t;         // num_permutations maxima; [0] unpermuted.
};

// INVALID_ARGUMENT for mismatched sizes, fewer than two blocks, a column
// index out of range, num_permutations < 1, alpha outside (0, 1), or a
// contrast of the wrong length; FactorDesign's errors for a permuted design.
absl::StatusOr<BlockPermutationResult> BlockPermutationMaxT(
    const arma::mat& x, const arma::mat& y, const arma::vec& contrast,
    const BlockPermutationOptions& options);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_BLOCK_PERMUTATION_H_
