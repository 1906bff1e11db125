// ICASSO-style stability of ICA components across restarts (Himberg,
// Hyvärinen & Esposito 2004), specialised to restarts that share one
// whitened subspace.
//
// All R x K estimated components are clustered by average-linkage
// agglomeration on the similarity |corr| (distance 1 − |corr|) into K
// clusters. Since every restart's unmixing matrix W is orthogonal and the
// whitened data have identity covariance, corr(component i of run a,
// component j of run b) = ⟨w_a,i, w_b,j⟩: the whole similarity matrix is
// one small product, without touching V-sized data.
//
// Stability index of a cluster C: Iq = mean similarity within C (over
// distinct pairs; 0 for a singleton) − mean similarity between C and the
// other components. Near 1 for a component every restart finds, near 0 for
// one that depends on the starting point.
//
// The kept solution is the most stable whole restart (its components stay
// mutually orthogonal, unlike a mix of centrotypes from different runs): the
// run whose components best cover the clusters' centrotypes, scored as the
// sum over clusters of the best similarity between the centrotype and a
// member from that run (0 for a cluster the run misses). Ties go to the
// lower run index.
//
// Thread-safety: free function without state.
#ifndef FNPROBE_SERVER_ANALYSIS_ICA_ICASSO_H_
#define FNPROBE_SERVER_ANALYSIS_ICA_ICASSO_H_

#include <armadillo>
#include <vector>

namespace fnprobe::ica {

struct IcassoResult {
  // cluster[r * K + k]: the cluster of run r's component k.
  std::vector<int> cluster;
  arma::vec stability;          // per cluster: Iq
  std::vector<int> centrotype;  // per cluster: index r * K + k
  arma::vec run_score;          // per run: the coverage score above
  int best_run = 0;
  // Per component of best_run: the Iq of its cluster.
  arma::vec best_run_stability;
};

// `unmixings`: R >= 1 orthogonal K x K matrices (FastIcaRun::unmixing).
IcassoResult ClusterRestarts(const std::vector<arma::mat>& unmixings);

// Average-linkage agglomerative clustering of items with `similarity`
// (symmetric, n x n) into `num_clusters` clusters; returns each item's
// cluster, numbered in order of each cluster's smallest item. Deterministic:
// ties merge the pair with the lowest indices. O(n³).
std::vector<int> AverageLinkage(const arma::mat& similarity, int num_clusters);

}  // namespace fnprobe::ica

#endif  // FNPROBE_SERVER_ANALYSIS_ICA_ICASSO_H_
