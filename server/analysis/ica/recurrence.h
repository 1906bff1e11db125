// Recurring networks and key neurons across groups of texts (Liu et al.
// 2025): spatial ICA is run on each group's activations separately, each
// component's network taken (component_network.h), and the networks that
// come back group after group are the model's functional networks; their
// units are the "key neurons".
//
// Input everywhere: networks_by_group[g][c] is group g's component c's
// network, unit ids (int64, >= 0, one id space for all groups) strictly
// ascending. Empty networks are allowed and never recur.
//
// Matching (FindRecurringNetworks). Networks are compared by Jaccard
// |A n B| / |A u B|; a group's components are matched to clusters with the
// Hungarian solver (hungarian.h), one component per cluster per group, so
// that a cluster's frequency counts distinct groups. Pairs below
// min_jaccard are zeroed before solving, so that they neither count as
// matches nor steer the assignment of the others.
//   1. Seeding, in group order: group 0's components each start a cluster;
//      each next group is matched against the clusters' current consensus
//      sets, matched components join, the rest start new clusters.
//   2. Refinement, like k-means: every group is matched again against the
//      final consensus sets of the previous pass (fixed during the pass);
//      components left unmatched are seeded into new clusters as in 1;
//      empty clusters are dropped. Repeated until the membership no longer
//      changes (at most max_refinements passes).
// A consensus is the units present in at least consensus_fraction of the
// cluster's members (at least one member).
// Order: the refinement makes the result independent of the groups' order
// whenever the networks are separated enough that the pass converges to
// the same fixed point from any seeding (the planted tests check a
// permutation); it is not guaranteed for overlapping, ambiguous networks,
// where seeding in another order may split or merge them differently.
// Why not agglomerative clustering of all G·K networks: O((GK)²) pairs and
// no one-per-group constraint; the Hungarian per group keeps both.
//
// Chance level. Two random networks of s units out of V share s²/V units on
// average, Jaccard ~ s / (2V) (40 of 3072: 0.0065); reaching 0.2 needs 14
// shared units, probability ~6e-18 (hypergeometric). So random networks do
// not recur, and a frequency above 1/G means shared structure.
//
// Thread-safety: free functions without state.
#ifndef FNPROBE_SERVER_ANALYSIS_ICA_RECURRENCE_H_
#define FNPROBE_SERVER_ANALYSIS_ICA_RECURRENCE_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fnprobe::ica {

// [group][component] -> ascending unit ids.
using NetworksByGroup = std::vector<std::vector<std::vector<int64_t>>>;

struct RecurrenceOptions {
  double min_jaccard = 0.2;         // in (0, 1]: a match needs >= this
  double consensus_fraction = 0.5;  // in (0, 1]
  int max_refinements = 10;         // >= 0 refinement passes
};

// INVALID_ARGUMENT naming the first bad option.
absl::Status ValidateRecurrenceOptions(const RecurrenceOptions& options);

// INVALID_ARGUMENT for no groups, or a network with a negative, repeated or
// out-of-order id (naming the group, component and position).
absl::Status ValidateNetworksByGroup(const NetworksByGroup& networks_by_group);

struct RecurringNetwork {
  // (group, component), ascending by group, at most one per group.
  std::vector<std::pair<int, int>> members;
  double frequency = 0;        // members.size() / G, in (0, 1]
  std::vector<int64_t> units;  // the consensus, ascending
  double mean_jaccard = 0;     // of the members with the consensus
  // Every unit of any member and how many members hold it, ascending by
  // unit (the consensus is read off these counts).
  std::vector<std::pair<int64_t, int>> unit_counts;
};

// Clusters the networks of all groups into recurring networks (see the file
// comment), every non-empty network in exactly one. Sorted by frequency
// descending, then consensus size descending, then first member.
// Singletons (frequency 1/G) are included; callers filter by frequency.
absl::StatusOr<std::vector<RecurringNetwork>> FindRecurringNetworks(
    const NetworksByGroup& networks_by_group,
    const RecurrenceOptions& options = {});

// Key neurons: units that recur with their network. A unit's frequency is,
// over the recurring networks R, the largest fraction of the G groups whose
// member of R holds the unit (unit_counts / G); a key neuron has frequency
// >= min_frequency. Default 0.5: in at least half the groups, in the same
// network.
inline constexpr double kDefaultKeyNeuronFrequency = 0.5;

struct KeyNeuron {
  int64_t unit = 0;
  double frequency = 0;  // in (0, 1]
  int network = 0;       // index into the recurring networks giving it
};

// From FindRecurringNetworks' result over `num_groups` groups. Sorted by
// frequency descending, then unit ascending.
std::vector<KeyNeuron> KeyNeurons(
    const std::vector<RecurringNetwork>& recurring, int num_groups,
    double min_frequency = kDefaultKeyNeuronFrequency);

// FindRecurringNetworks then KeyNeurons; INVALID_ARGUMENT also for
// min_frequency outside (0, 1].
absl::StatusOr<std::vector<KeyNeuron>> KeyNeurons(
    const NetworksByGroup& networks_by_group,
    double min_frequency = kDefaultKeyNeuronFrequency,
    const RecurrenceOptions& options = {});

// The plain count, without matching: for each unit in any network, the
// fraction of groups in which some network holds it; ascending by unit.
// Beware chance: with K networks of s units out of V per group, a unit is
// in some network of a group with probability ~ 1 - (1 - s/V)^K (K = 20,
// s = 40, V = 3072: 0.23), so at G = 20 about 24 of 3072 random units reach
// 0.5. KeyNeurons, which needs the unit to recur within one matched
// network, does not have this floor.
struct UnitFrequency {
  int64_t unit = 0;
  double frequency = 0;
};
absl::StatusOr<std::vector<UnitFrequency>> UnitGroupFrequencies(
    const NetworksByGroup& networks_by_group);

}  // namespace fnprobe::ica

#endif  // FNPROBE_SERVER_ANALYSIS_ICA_RECURRENCE_H_
