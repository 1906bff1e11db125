// Shared pieces of the ICA tests: the planted fixture (tests/data/ica),
// synthetic data, and matching components to planted sources.
#ifndef FNPROBE_TESTS_ANALYSIS_ICA_ICA_TEST_UTIL_H_
#define FNPROBE_TESTS_ANALYSIS_ICA_ICA_TEST_UTIL_H_

#include <armadillo>
#include <cstdint>
#include <string>

namespace fnprobe::ica::testing {

// tests/data/ica (FNPROBE_TEST_DATA_DIR), copied from the shared reference.
std::string FixturePath(const std::string& name);

// The planted fixture: X (T = 200 x V = 1500) = A S + noise.
struct PlantedFixture {
  arma::fmat x;            // T x V
  arma::fmat sources;      // 4 x V, the planted spatial maps
  arma::fmat timecourses;  // T x 4
};
PlantedFixture LoadPlantedFixture();

// `x` (T x V) in the library's frames layout (V x T).
arma::fmat ToFrames(const arma::fmat& x);

// For each planted source (row of `planted`, n x V), its |correlation| with
// the component (column of `maps`, V x K) the Hungarian matching on |corr|
// assigns it; 0 for a source left unmatched.
arma::vec MatchedAbsCorrelation(const arma::mat& maps,
                                const arma::mat& planted);

// Frames (V x T) of i.i.d. standard normal noise, seeded.
arma::fmat GaussianFrames(arma::uword units, arma::uword time_points,
                          uint64_t seed);

// Frames (V x T) of `k` sparse Laplacian-like sources over `units` with
// random time courses plus N(0, noise²); *planted receives the k x V
// sources.
arma::fmat PlantedFrames(arma::uword units, arma::uword time_points, int k,
                         double noise, uint64_t seed, arma::mat* planted);

}  // namespace fnprobe::ica::testing

#endif  // FNPROBE_TESTS_ANALYSIS_ICA_ICA_TEST_UTIL_H_
