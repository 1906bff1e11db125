// FindRecurringNetworks: sequential Hungarian seeding, then k-means-like
// refinement against fixed consensus sets (see recurrence.h).
#include "server/analysis/ica/recurrence.h"

#include <algorithm>
#include <armadillo>
#include <cmath>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "server/analysis/ica/hungarian.h"
#include "server/analysis/network_overlap.h"

namespace fnprobe::ica {
namespace {

using Member = std::pair<int, int>;  // (group, component)

struct Cluster {
  std::vector<Member> members;  // ascending by group
  std::vector<int64_t> consensus;
};

const std::vector<int64_t>& UnitsOf(const NetworksByGroup& networks,
                                    const Member& m) {
  return networks[m.first][m.second];
}

// Every unit of the members with how many members hold it, ascending.
std::vector<std::pair<int64_t, int>> CountUnits(
    const NetworksByGroup& networks, const std::vector<Member>& members) {
  std::vector<int64_t> all;
  for (const Member& m : members) {
    const auto& u = UnitsOf(networks, m);
    all.insert(all.end(), u.begin(), u.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<std::pair<int64_t, int>> counts;
  for (int64_t unit : all) {
    if (counts.empty() || counts.back().first != unit) {
      counts.emplace_back(unit, 0);
    }
    ++counts.back().second;
  }
  return counts;
}

std::vector<int64_t> Consensus(
    const std::vector<std::pair<int64_t, int>>& counts, size_t num_members,
    double fraction) {
  // The small slack keeps 0.5 * 4 = 2 from becoming 3 through rounding.
  const int need =
      std::max(1, static_cast<int>(std::ceil(fraction * num_members - 1e-9)));
  std::vector<int64_t> units;
  for (const auto& [unit, count] : counts) {
    if (count >= need) units.push_back(unit);
  }
  return units;
}

void UpdateConsensus(const NetworksByGroup& networks, double fraction,
                     Cluster* c) {
  c->consensus =
      Consensus(CountUnits(networks, c->members), c->members.size(), fraction);
}

// Matches `components` of group `group` to the consensus sets of
// clusters[first..]: result[i] is components[i]'s cluster index, or -1.
// Pairs below min_jaccard are zeroed so they cannot match or steer.
//
// Intersections come from an inverted index (unit -> clusters whose
// consensus holds it) rather than a merge per pair: with many clusters
// (the unmatched networks of every group each start one) most pairs share
// nothing, and the index touches only the pairs that do.
std::vector<int> MatchGroup(const NetworksByGroup& networks, int group,
                            const std::vector<int>& components,
                            const std::vector<Cluster>& clusters, size_t first,
                            double min_jaccard) {
  std::vector<int> out(components.size(), -1);
  if (components.empty() || clusters.size() <= first) return out;
  const size_t m = clusters.size() - first;
  absl::flat_hash_map<int64_t, std::vector<int>> index;
  for (size_t j = 0; j < m; ++j) {
    for (int64_t unit : clusters[first + j].consensus) {
      index[unit].push_back(static_cast<int>(j));
    }
  }
  arma::mat w(components.size(), m, arma::fill::zeros);
  std::vector<int> common(m, 0);
  std::vector<int> touched;
  bool any = false;
  for (size_t i = 0; i < components.size(); ++i) {
    const auto& units = networks[group][components[i]];
    for (int64_t unit : units) {
      auto it = index.find(unit);
      if (it == index.end()) continue;
      for (int j : it->second) {
        if (common[j]++ == 0) touched.push_back(j);
      }
    }
    for (int j : touched) {
      const double shared = common[j];
      const double jac =
          shared / (static_cast<double>(units.size() +
                                        clusters[first + j].consensus.size()) -
                    shared);
      if (jac >= min_jaccard) {
        w(i, j) = jac;
        any = true;
      }
      common[j] = 0;
    }
    touched.clear();
  }
  if (!any) return out;
  // Only clusters some component can match enter the solver.
  std::vector<arma::uword> live;
  for (arma::uword j = 0; j < m; ++j) {
    if (arma::any(w.col(j) > 0)) live.push_back(j);
  }
  const arma::mat w_live = w.cols(arma::uvec(live));
  const std::vector<int> match = MaxWeightMatching(w_live);
  for (size_t i = 0; i < components.size(); ++i) {
    if (match[i] >= 0 && w_live(i, match[i]) > 0) {
      out[i] = static_cast<int>(first + live[match[i]]);
    }
  }
  return out;
}

// Seeds new clusters (appended to *clusters) from `pending` (per group, the
// components to place), in group order: each group is matched against the
// clusters seeded so far in this call, the unmatched start their own.
void SeedClusters(const NetworksByGroup& networks,
                  const std::vector<std::vector<int>>& pending,
                  const RecurrenceOptions& o, std::vector<Cluster>* clusters) {
  const size_t first = clusters->size();
  for (size_t g = 0; g < pending.size(); ++g) {
    if (pending[g].empty()) continue;
    const int group = static_cast<int>(g);
    const std::vector<int> match = MatchGroup(networks, group, pending[g],
                                              *clusters, first, o.min_jaccard);
    std::vector<size_t> touched;
    for (size_t i = 0; i < pending[g].size(); ++i) {
      if (match[i] >= 0) {
        (*clusters)[match[i]].members.emplace_back(group, pending[g][i]);
        touched.push_back(match[i]);
      } else {
        Cluster c;
        c.members.emplace_back(group, pending[g][i]);
        c.consensus = networks[g][pending[g][i]];
        clusters->push_back(std::move(c));
      }
    }
    for (size_t j : touched) {
      UpdateConsensus(networks, o.consensus_fraction, &(*clusters)[j]);
    }
  }
}

// One refinement pass: every group matched against `previous`' consensus
// sets, the unmatched seeded anew.
std::vector<Cluster> Refine(const NetworksByGroup& networks,
                            const std::vector<Cluster>& previous,
                            const RecurrenceOptions& o) {
  std::vector<Cluster> next(previous.size());
  for (size_t j = 0; j < previous.size(); ++j) {
    next[j].consensus = previous[j].consensus;
  }
  std::vector<std::vector<int>> leftover(networks.size());
  for (size_t g = 0; g < networks.size(); ++g) {
    std::vector<int> components;
    for (size_t c = 0; c < networks[g].size(); ++c) {
      if (!networks[g][c].empty()) components.push_back(static_cast<int>(c));
    }
    const std::vector<int> match = MatchGroup(
        networks, static_cast<int>(g), components, previous, 0, o.min_jaccard);
    for (size_t i = 0; i < components.size(); ++i) {
      if (match[i] >= 0) {
        next[match[i]].members.emplace_back(static_cast<int>(g), components[i]);
      } else {
        leftover[g].push_back(components[i]);
      }
    }
  }
  next.erase(std::remove_if(next.begin(), next.end(),
                            [](const Cluster& c) { return c.members.empty(); }),
             next.end());
  for (Cluster& c : next) UpdateConsensus(networks, o.consensus_fraction, &c);
  SeedClusters(networks, leftover, o, &next);
  return next;
}

// The clusters' member lists, sorted: equal iff the partitions are equal.
std::vector<std::vector<Member>> Partition(const std::vector<Cluster>& cs) {
  std::vector<std::vector<Member>> p;
  p.reserve(cs.size());
  for (const Cluster& c : cs) p.push_back(c.members);
  std::sort(p.begin(), p.end());
  return p;
}

}  // namespace

absl::Status ValidateRecurrenceOptions(const RecurrenceOptions& o) {
  if (!(o.min_jaccard > 0 && o.min_jaccard <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_jaccard must be in (0, 1]; got ", o.min_jaccard));
  }
  if (!(o.consensus_fraction > 0 && o.consensus_fraction <= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "consensus_fraction must be in (0, 1]; got ", o.consensus_fraction));
  }
  if (o.max_refinements < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_refinements must be >= 0; got ", o.max_refinements));
  }
  return absl::OkStatus();
}

absl::Status ValidateNetworksByGroup(const NetworksByGroup& networks) {
  if (networks.empty()) {
    return absl::InvalidArgumentError("recurrence needs at least one group");
  }
  for (size_t g = 0; g < networks.size(); ++g) {
    for (size_t c = 0; c < networks[g].size(); ++c) {
      const auto& units = networks[g][c];
      for (size_t i = 0; i < units.size(); ++i) {
        if (units[i] < 0) {
          return absl::InvalidArgumentError(
              absl::StrCat("group ", g, ", component ", c, ": unit id ",
                           units[i], " at position ", i, " is negative"));
        }
        if (i > 0 && units[i] <= units[i - 1]) {
          return absl::InvalidArgumentError(absl::StrCat(
              "group ", g, ", component ", c, ": unit ids must be strictly ",
              "ascending; position ", i, " holds ", units[i], " after ",
              units[i - 1]));
        }
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RecurringNetwork>> FindRecurringNetworks(
    const NetworksByGroup& networks, const RecurrenceOptions& options) {
  if (absl::Status s = ValidateRecurrenceOptions(options); !s.ok()) return s;
  if (absl::Status s = ValidateNetworksByGroup(networks); !s.ok()) return s;

  std::vector<std::vector<int>> all(networks.size());
  for (size_t g = 0; g < networks.size(); ++g) {
    for (size_t c = 0; c < networks[g].size(); ++c) {
      if (!networks[g][c].empty()) all[g].push_back(static_cast<int>(c));
    }
  }
  std::vector<Cluster> clusters;
  SeedClusters(networks, all, options, &clusters);
  auto partition = Partition(clusters);
  for (int pass = 0; pass < options.max_refinements; ++pass) {
    std::vector<Cluster> next = Refine(networks, clusters, options);
    auto next_partition = Partition(next);
    clusters = std::move(next);
    if (next_partition == partition) break;
    partition = std::move(next_partition);
  }

  const double num_groups = static_cast<double>(networks.size());
  std::vector<RecurringNetwork> out;
  out.reserve(clusters.size());
  for (Cluster& c : clusters) {
    RecurringNetwork r;
    r.members = std::move(c.members);
    std::sort(r.members.begin(), r.members.end());
    r.frequency = static_cast<double>(r.members.size()) / num_groups;
    r.unit_counts = CountUnits(networks, r.members);
    r.units =
        Consensus(r.unit_counts, r.members.size(), options.consensus_fraction);
    double sum = 0;
    for (const Member& m : r.members) {
      sum += analysis::UnitOverlap(UnitsOf(networks, m), r.units).jaccard;
    }
    r.mean_jaccard = sum / static_cast<double>(r.members.size());
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(),
            [](const RecurringNetwork& a, const RecurringNetwork& b) {
              const auto size_a = static_cast<int64_t>(a.units.size());
              const auto size_b = static_cast<int64_t>(b.units.size());
              return std::make_tuple(-a.frequency, -size_a, a.members.front()) <
                     std::make_tuple(-b.frequency, -size_b, b.members.front());
            });
  return out;
}

std::vector<KeyNeuron> KeyNeurons(
    const std::vector<RecurringNetwork>& recurring, int num_groups,
    double min_frequency) {
  // Each unit's best network; ties go to the earlier (more frequent) one.
  std::vector<KeyNeuron> best;
  for (size_t n = 0; n < recurring.size(); ++n) {
    for (const auto& [unit, count] : recurring[n].unit_counts) {
      const double f = static_cast<double>(count) / num_groups;
      if (f + 1e-12 < min_frequency) continue;
      best.push_back({unit, f, static_cast<int>(n)});
    }
  }
  std::sort(best.begin(), best.end(),
            [](const KeyNeuron& a, const KeyNeuron& b) {
              return std::make_tuple(a.unit, -a.frequency, a.network) <
                     std::make_tuple(b.unit, -b.frequency, b.network);
            });
  best.erase(std::unique(best.begin(), best.end(),
                         [](const KeyNeuron& a, const KeyNeuron& b) {
                           return a.unit == b.unit;
                         }),
             best.end());
  std::sort(best.begin(), best.end(),
            [](const KeyNeuron& a, const KeyNeuron& b) {
              return std::make_pair(-a.frequency, a.unit) <
                     std::make_pair(-b.frequency, b.unit);
            });
  return best;
}

absl::StatusOr<std::vector<KeyNeuron>> KeyNeurons(
    const NetworksByGroup& networks, double min_frequency,
    const RecurrenceOptions& options) {
  if (!(min_frequency > 0 && min_frequency <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("min_frequency must be in (0, 1]; got ", min_frequency));
  }
  auto recurring = FindRecurringNetworks(networks, options);
  if (!recurring.ok()) return recurring.status();
  return KeyNeurons(*recurring, static_cast<int>(networks.size()),
                    min_frequency);
}

absl::StatusOr<std::vector<UnitFrequency>> UnitGroupFrequencies(
    const NetworksByGroup& networks) {
  if (absl::Status s = ValidateNetworksByGroup(networks); !s.ok()) return s;
  // One entry per (group, unit): a group's union, then counted over groups.
  std::vector<int64_t> all;
  for (const auto& group : networks) {
    std::vector<int64_t> units;
    for (const auto& net : group)
      units.insert(units.end(), net.begin(), net.end());
    std::sort(units.begin(), units.end());
    units.erase(std::unique(units.begin(), units.end()), units.end());
    all.insert(all.end(), units.begin(), units.end());
  }
  std::sort(all.begin(), all.end());
  std::vector<UnitFrequency> out;
  for (int64_t unit : all) {
    if (out.empty() || out.back().unit != unit) out.push_back({unit, 0});
    out.back().frequency += 1;
  }
  for (UnitFrequency& u : out)
    u.frequency /= static_cast<double>(networks.size());
  return out;
}

}  // namespace fnprobe::ica
