// Held-out identification (Nencka et al. 2023): a run's t map is scored
// against one network per condition, each defined without that run (the
// run's own condition uses its leave-one-out network; the others their full
// condition network, which never saw the run). Two scores per candidate:
//   mean_t       mean over the network's units u of t_run[u] sign(t_net[u])
//                (0 for an empty network): does the run activate the
//                network's units, in the network's direction?
//   correlation  Pearson correlation of the run's t map with the whole map
//                the network thresholds (0 if either is constant).
// Predictions are the argmax of each score; ties go to the earlier
// candidate (spec order), so results are deterministic.
//
// Free functions; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_HELD_OUT_CLASSIFIER_H_
#define FNPROBE_SERVER_ANALYSIS_HELD_OUT_CLASSIFIER_H_

#include <armadillo>
#include <string>
#include <vector>

#include "server/analysis/experiment_analysis.h"

namespace fnprobe::analysis {

// Pearson correlation of two equally long vectors; 0 when either is
// constant (or they are shorter than 2).
double PearsonCorrelation(const arma::vec& a, const arma::vec& b);

// mean_t of `run_t` on `network` (0 for an empty network). REQUIRES: the
// network's units index into run_t.
double MeanSignedT(const arma::vec& run_t, const Network& network);

// One candidate: the condition and the network (index into `networks`) the
// run is scored against.
struct HeldOutCandidate {
  std::string condition;
  int network = 0;
};

// Scores `run` against each candidate, in order, and picks the best.
// The map behind a network is condition_maps[network.map_index].
// REQUIRES: candidates non-empty; every map has run.map's size.
HeldOutResult ClassifyRun(const RunInput& run,
                          const std::vector<HeldOutCandidate>& candidates,
                          const std::vector<Network>& networks,
                          const std::vector<StatMap>& condition_maps);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_HELD_OUT_CLASSIFIER_H_
