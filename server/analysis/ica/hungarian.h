// Maximum-weight bipartite matching (the Hungarian algorithm, Kuhn-Munkres,
// in the O(n² m) shortest-augmenting-path form). Matches ICA components to
// planted sources by |corr| here; recurrence matches networks across groups
// of texts by IoU with it later.
//
// Thread-safety: free function without state.
#ifndef FNPROBE_SERVER_ANALYSIS_ICA_HUNGARIAN_H_
#define FNPROBE_SERVER_ANALYSIS_ICA_HUNGARIAN_H_

#include <armadillo>
#include <vector>

namespace fnprobe::ica {

// For a rows x cols matrix of finite weights, the assignment of rows to
// distinct columns with the largest total weight: result[i] is row i's
// column, or -1 when rows > cols leaves row i unmatched. Deterministic.
std::vector<int> MaxWeightMatching(const arma::mat& weights);

}  // namespace fnprobe::ica

#endif  // FNPROBE_SERVER_ANALYSIS_ICA_HUNGARIAN_H_
