// From a spatial ICA component's map to its network (Liu et al. 2025): the
// units whose z-score exceeds a threshold in absolute value.
//
// Conventions (those of RunSpatialIca's IcaResult):
//   - maps are V x K, one column per component, z-scored over units
//     (population standard deviation, numpy's ddof = 0). RunSpatialIca
//     already z-scores; ZScoreMaps is for maps from elsewhere (another
//     tool's sources.npy, a raw unmixing).
//   - a network is the units with |z| > threshold, so it does not depend on
//     the component's sign. The sign matters for reading a time course
//     (mixing column) against a regressor: RunSpatialIca makes each map's
//     skewness >= 0; OrientMapsByPeak instead makes the largest-|z| unit
//     positive (the convention of reading a component by its strongest
//     unit). Both put a sparse network's heavy tail on the positive side;
//     they differ only for maps whose peak lies against the skew.
//   - unit ids are int64: row v of the maps is unit `unit_offset + v`, so
//     that several hook points' units can share one id space.
//
// Thread-safety: free functions without state.
#ifndef FNPROBE_SERVER_ANALYSIS_ICA_COMPONENT_NETWORK_H_
#define FNPROBE_SERVER_ANALYSIS_ICA_COMPONENT_NETWORK_H_

#include <armadillo>
#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "server/analysis/ica/spatial_ica.h"

namespace fnprobe::ica {

// Units `unit_offset + v` with |z_map[v]| > z_threshold, ascending. NaN
// values are never in the network.
std::vector<int64_t> ComponentNetworkUnits(
    absl::Span<const double> z_map, double z_threshold = kDefaultNetworkZ,
    int64_t unit_offset = 0);

// ComponentNetworkUnits of every column of `maps` (V x K): K networks.
std::vector<std::vector<int64_t>> ComponentNetworks(
    const arma::mat& maps, double z_threshold = kDefaultNetworkZ,
    int64_t unit_offset = 0);

// Z-scores each column of `maps` in place over its rows (mean 0, population
// standard deviation 1). A constant column becomes all zeros (no unit
// stands out), not NaN.
void ZScoreMaps(arma::mat* maps);

// Flips each column of `maps` whose largest-|value| entry is negative, and
// the same column of `mixing` (T x K, may be null) so that mixing · mapsᵀ
// is unchanged. Ties go to the first such entry. REQUIRES: mixing, when
// given, has maps.n_cols columns.
void OrientMapsByPeak(arma::mat* maps, arma::mat* mixing);

}  // namespace fnprobe::ica

#endif  // FNPROBE_SERVER_ANALYSIS_ICA_COMPONENT_NETWORK_H_
