// Overlap of networks as unit sets: intersection size, Dice
// 2|A n B| / (|A| + |B|) and Jaccard |A n B| / |A u B|, both 0 when both
// networks are empty (no shared evidence, rather than NaN).
//
// Free functions; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_NETWORK_OVERLAP_H_
#define FNPROBE_SERVER_ANALYSIS_NETWORK_OVERLAP_H_

#include <cstdint>
#include <vector>

#include "server/analysis/experiment_analysis.h"

namespace fnprobe::analysis {

// Overlap of two unit lists. REQUIRES: each ascending without duplicates
// (as Network::units are). The entry's a and b are left 0.
OverlapEntry UnitOverlap(const std::vector<int64_t>& a,
                         const std::vector<int64_t>& b);

// One entry per pair i < j of `members` (indices into `networks`), in
// lexicographic order of (i, j); entry.a and entry.b are the network
// indices. REQUIRES: members ascending and in range.
std::vector<OverlapEntry> PairwiseOverlaps(const std::vector<Network>& networks,
                                           const std::vector<int>& members);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_NETWORK_OVERLAP_H_
