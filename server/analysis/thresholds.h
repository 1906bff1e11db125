// Multiple-comparison corrections over V per-unit p-values: Bonferroni and
// Benjamini-Hochberg FDR, computed as statsmodels' multipletests
// ("bonferroni", "fdr_bh") computes them.
//
// Free functions; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_THRESHOLDS_H_
#define FNPROBE_SERVER_ANALYSIS_THRESHOLDS_H_

#include <armadillo>

namespace fnprobe::analysis {

// Units (ascending indices) with min(1, p * V) <= alpha.
arma::uvec BonferroniSelect(const arma::vec& p, double alpha);

// Benjamini-Hochberg q-values: p_(i) V / i made monotone from the largest p
// down (step-up), capped at 1; in the input order.
arma::vec FdrBhQValues(const arma::vec& p);

// Units (ascending indices) rejected by the BH step-up at level alpha: all
// p up to the largest p_(i) <= alpha i / V.
arma::uvec FdrBhSelect(const arma::vec& p, double alpha);

// The same two, given arma::sort_index(p), for callers that need both from
// one sort (every network of an experiment thresholds up to ~200k units).
arma::vec FdrBhQValues(const arma::vec& p, const arma::uvec& order);
arma::uvec FdrBhSelect(const arma::vec& p, const arma::uvec& order,
                       double alpha);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_THRESHOLDS_H_
