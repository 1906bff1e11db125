// The first half of spatial ICA: centre the data, reduce it to its K
// leading principal components and whiten them.
//
// Layout. The data are "frames": a V x T matrix, one column per time point
// (token), one row per unit. That is the byte layout of a row-major (C
// order) T x V array, as numpy saves it and as the activation store holds
// frames, so neither the tool nor the worker transposes a V-sized matrix.
// Units are the samples of spatial ICA; time points are the features.
//
// Centring subtracts each time point's mean over units (numpy/scikit-learn
// centre the features of Xᵀ the same way). The reduction is the truncated
// SVD of the centred data, X_c (T x V) = U Σ Wᵀ, kept to K terms:
//   - exact: eigendecomposition of the smaller Gram matrix (T x T or V x V;
//     BLAS syrk), one more product to reach the other side;
//   - randomized (Halko, Martinsson & Tropp 2011, algorithm 4.4): a Gaussian
//     test matrix, q power iterations with QR re-orthonormalisation, then
//     the SVD of the small L x T matrix Qᵀ X_c (L = K + oversampling). Each
//     pass over the data is one thin BLAS product, 2 + 2q passes in all.
// Products with the data run in its own precision (float32 data stay
// float32, half the memory traffic); everything K- or L-sized is float64.
//
// Whitened data: Z = sqrt(V) W_K (V x K), so ZᵀZ / V = I.
//
// Thread-safety: free functions; concurrent calls on different data are
// safe (BLAS may use its own threads).
#ifndef FNPROBE_SERVER_ANALYSIS_ICA_PCA_REDUCTION_H_
#define FNPROBE_SERVER_ANALYSIS_ICA_PCA_REDUCTION_H_

#include <armadillo>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fnprobe::ica {

enum class PcaMethod {
  kAuto,        // exact when min(T, V) is small, else randomized
  kExact,       // Gram-matrix eigendecomposition
  kRandomized,  // randomized SVD
};

struct PcaOptions {
  int components = 20;  // K
  PcaMethod method = PcaMethod::kAuto;
  int oversampling = 10;     // L = K + max(oversampling, K / 2)
  int power_iterations = 3;  // q
  uint64_t seed = 0;         // of the randomized test matrix
};

// The K-dimensional whitened subspace of the centred data.
struct PcaReduction {
  arma::mat whitened;            // V x K; whitenedᵀ whitened / V = I
  arma::vec singular_values;     // K, descending, of the centred T x V data
  arma::mat time_vectors;        // T x K: U_K, orthonormal columns
  double total_sum_squares = 0;  // of the centred data
  bool randomized = false;       // which method ran
};

// Subtracts from every column of `frames` (V x T) its mean, accumulated in
// float64. Returns INVALID_ARGUMENT, naming the first offending (time point,
// unit), if any value is NaN or infinite; `frames` is then unspecified.
// Sets *total_sum_squares to the centred data's sum of squares.
template <typename eT>
absl::Status CenterFrames(arma::Mat<eT>& frames, double* total_sum_squares);

// Reduces the centred `frames` (V x T, from CenterFrames) to K whitened
// components. INVALID_ARGUMENT when K < 1 or K > min(T, V - 1) (the rank
// the centred data can have), FAILED_PRECONDITION when the K-th singular
// value is numerically zero (K exceeds the data's rank).
template <typename eT>
absl::StatusOr<PcaReduction> ReducePca(const arma::Mat<eT>& frames,
                                       double total_sum_squares,
                                       const PcaOptions& options);

// A matrix of independent standard normal values, the same for the same
// seed on every platform (mt19937_64 and Box-Muller written out here, since
// std::normal_distribution is implementation-defined).
arma::mat SeededGaussian(arma::uword rows, arma::uword cols, uint64_t seed);

// SplitMix64: derives well-mixed seeds (per restart, per purpose).
uint64_t MixSeed(uint64_t seed, uint64_t stream);

}  // namespace fnprobe::ica

#endif  // FNPROBE_SERVER_ANALYSIS_ICA_PCA_REDUCTION_H_
