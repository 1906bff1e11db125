#include "server/analysis/block_permutation.h"

#include <algorithm>
#include <cmath>
#include <exception>
#include <numeric>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/analysis/contrast.h"
#include "server/analysis/ols_fit.h"

namespace fnprobe::analysis {
namespace {

absl::Status Validate(const arma::mat& x, const arma::mat& y,
                      const arma::vec& contrast,
                      const BlockPermutationOptions& o) {
  if (x.n_rows != y.n_rows || contrast.n_elem != x.n_cols || y.n_cols == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "permutation: X is ", x.n_rows, " x ", x.n_cols, ", Y is ", y.n_rows,
        " x ", y.n_cols, ", contrast has ", contrast.n_elem, " entries"));
  }
  if (o.block_length == 0 || x.n_rows / o.block_length < 2) {
    return absl::InvalidArgumentError(absl::StrCat("permutation: block_length ",
                                                   o.block_length,
                                                   " gives fewer than 2 "
                                                   "blocks over ",
                                                   x.n_rows, " frames"));
  }
  if (o.condition_columns.is_empty() || o.condition_columns.max() >= x.n_cols) {
    return absl::InvalidArgumentError(
        "permutation: condition_columns empty or out of range");
  }
  if (o.num_permutations < 1 || !(o.alpha > 0 && o.alpha < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("permutation: num_permutations ", o.num_permutations,
                     ", alpha ", o.alpha, " (need >= 1 and in (0, 1))"));
  }
  return absl::OkStatus();
}

// Uniform integer in [0, bound) by rejection, independent of the standard
// library's distribution implementation.
uint64_t UniformBelow(std::mt19937_64& rng, uint64_t bound) {
  const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
  uint64_t r;
  do {
    r = rng();
  } while (r >= limit);
  return r % bound;
}

void Shuffle(std::vector<arma::uword>& order, std::mt19937_64& rng) {
  for (size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[UniformBelow(rng, i)]);
  }
}

// X with the condition columns' block b taken from block order[b].
arma::mat PermuteBlocks(const arma::mat& x,
                        const std::vector<arma::uword>& order,
                        const BlockPermutationOptions& o) {
  arma::mat out = x;
  const arma::uword len = o.block_length;
  for (arma::uword b = 0; b < order.size(); ++b) {
    out.submat(arma::regspace<arma::uvec>(b * len, b * len + len - 1),
               o.condition_columns) =
        x.submat(arma::regspace<arma::uvec>(order[b] * len,
                                            order[b] * len + len - 1),
                 o.condition_columns);
  }
  return out;
}

absl::StatusOr<double> MaxT(const arma::mat& x, const arma::mat& y,
                            const arma::vec& sum_y2, const arma::vec& contrast,
                            bool two_sided) {
  FNPROBE_ASSIGN_OR_RETURN(DesignFactor design, FactorDesign(x));
  const OlsFit fit = SolveFromSufficientStatistics(design, x.t() * y, sum_y2);
  FNPROBE_ASSIGN_OR_RETURN(arma::vec t, TStatistic(fit, contrast));
  return two_sided ? arma::abs(t).max() : t.max();
}

absl::StatusOr<BlockPermutationResult> Run(const arma::mat& x,
                                           const arma::mat& y,
                                           const arma::vec& contrast,
                                           const BlockPermutationOptions& o) {
  const arma::vec sum_y2 = arma::sum(arma::square(y), 0).t();
  std::vector<arma::uword> order(x.n_rows / o.block_length);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(o.seed);
  BlockPermutationResult result;
  result.max_t.set_size(o.num_permutations);
  for (int i = 0; i < o.num_permutations; ++i) {
    if (i > 0) Shuffle(order, rng);
    FNPROBE_ASSIGN_OR_RETURN(
        result.max_t[i],
        MaxT(PermuteBlocks(x, order, o), y, sum_y2, contrast, o.two_sided));
  }
  const arma::vec sorted = arma::sort(result.max_t);
  const double rank = std::ceil((1.0 - o.alpha) * o.num_permutations);
  const arma::uword index = static_cast<arma::uword>(
      std::clamp(rank - 1.0, 0.0, static_cast<double>(sorted.n_elem - 1)));
  result.threshold = sorted[index];
  return result;
}

}  // namespace

absl::StatusOr<BlockPermutationResult> BlockPermutationMaxT(
    const arma::mat& x, const arma::mat& y, const arma::vec& contrast,
    const BlockPermutationOptions& options) {
  FNPROBE_RETURN_IF_ERROR(Validate(x, y, contrast, options));
  try {
    return Run(x, y, contrast, options);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("permutation: ", e.what()));
  }
}

}  // namespace fnprobe::analysis
