// recurrence.h: hand-made cases (matching, the Jaccard floor, one member
// per group, empty networks, validation), then planted truth and the null,
// each statistic recomputed a second way:
//   - planted: 3 networks of 40 of 3072 units in each of 20 groups, each
//     group's copy losing and gaining 10% of its units, among 17 random
//     networks; every planted network found with frequency >= 0.9 and
//     consensus IoU >= 0.8, the same partition for a permuted group order,
//     key neurons = the planted units; frequency, consensus and mean
//     Jaccard recomputed with std::map / std::set.
//   - null: 20 groups x 20 random 40-unit networks, 50 seeds: no network
//     recurs (the bound: ~8e4 pairs x P(J >= 0.2) ~6e-18, so 0 expected),
//     no key neurons; the plain unit count's chance floor matches its
//     binomial expectation.
#include "server/analysis/ica/recurrence.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <iterator>
#include <map>
#include <numeric>
#include <random>
#include <set>

namespace fnprobe::ica {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Units = std::vector<int64_t>;

Units Range(int64_t begin, int64_t end) {
  Units u(end - begin);
  std::iota(u.begin(), u.end(), begin);
  return u;
}

double SetJaccard(const Units& a, const Units& b) {
  std::set<int64_t> sa(a.begin(), a.end()), sb(b.begin(), b.end()), all = sa;
  all.insert(sb.begin(), sb.end());
  int common = 0;
  for (int64_t u : sa) common += sb.count(u);
  return all.empty() ? 0.0 : static_cast<double>(common) / all.size();
}

// --- hand-made cases -------------------------------------------------------

TEST(FindRecurringNetworksTest, IdenticalNetworksFormOneFullNetwork) {
  const NetworksByGroup n = {{Range(0, 10), Range(100, 110)},
                             {Range(100, 110), Range(0, 10)},
                             {Range(0, 10)}};
  auto r = FindRecurringNetworks(n);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].units, Range(0, 10));
  EXPECT_DOUBLE_EQ((*r)[0].frequency, 1.0);
  EXPECT_DOUBLE_EQ((*r)[0].mean_jaccard, 1.0);
  EXPECT_THAT((*r)[0].members,
              ElementsAre(std::pair(0, 0), std::pair(1, 1), std::pair(2, 0)));
  EXPECT_EQ((*r)[1].units, Range(100, 110));
  EXPECT_DOUBLE_EQ((*r)[1].frequency, 2.0 / 3.0);
  EXPECT_THAT((*r)[1].members, ElementsAre(std::pair(0, 1), std::pair(1, 0)));
}

TEST(FindRecurringNetworksTest, MinJaccardIsInclusive) {
  // |A n B| = 2, |A u B| = 10: Jaccard exactly 0.2.
  const NetworksByGroup n = {{Range(0, 6)}, {Range(4, 10)}};
  auto r = FindRecurringNetworks(n);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_DOUBLE_EQ((*r)[0].frequency, 1.0);
  RecurrenceOptions strict;
  strict.min_jaccard = 0.21;
  r = FindRecurringNetworks(n, strict);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 2u);
}

TEST(FindRecurringNetworksTest, OneMemberPerGroupTheBetterMatch) {
  // Group 1's two components both resemble group 0's; the Hungarian gives
  // the cluster to the closer one, the other starts its own.
  const NetworksByGroup n = {{Range(0, 20)}, {Range(0, 12), Range(0, 18)}};
  auto r = FindRecurringNetworks(n);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_THAT((*r)[0].members, ElementsAre(std::pair(0, 0), std::pair(1, 1)));
  EXPECT_THAT((*r)[1].members, ElementsAre(std::pair(1, 0)));
  // Consensus of two members at fraction 0.5: units in either.
  EXPECT_EQ((*r)[0].units, Range(0, 20));
  EXPECT_DOUBLE_EQ((*r)[0].mean_jaccard, (1.0 + 18.0 / 20.0) / 2);
}

TEST(FindRecurringNetworksTest, ConsensusFractionAndUnitCounts) {
  const NetworksByGroup n = {
      {{1, 2, 3, 4}}, {{1, 2, 3, 5}}, {{1, 2, 4, 6}}, {{1, 2, 3, 7}}};
  auto r = FindRecurringNetworks(n);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  // Counts 1:4 2:4 3:3 4:2 5:1 6:1 7:1; half of 4 members is 2.
  EXPECT_THAT((*r)[0].unit_counts,
              ElementsAre(std::pair<int64_t, int>(1, 4), std::pair(2l, 4),
                          std::pair(3l, 3), std::pair(4l, 2), std::pair(5l, 1),
                          std::pair(6l, 1), std::pair(7l, 1)));
  EXPECT_EQ((*r)[0].units, (Units{1, 2, 3, 4}));
  RecurrenceOptions most;
  most.consensus_fraction = 0.75;
  r = FindRecurringNetworks(n, most);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].units, (Units{1, 2, 3}));
}

TEST(FindRecurringNetworksTest, EmptyNetworksAndGroupsNeverRecur) {
  const NetworksByGroup n = {{{}, Range(0, 5)}, {}, {{}, {}, Range(0, 5)}};
  auto r = FindRecurringNetworks(n);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 1u);
  EXPECT_THAT((*r)[0].members, ElementsAre(std::pair(0, 1), std::pair(2, 2)));
  EXPECT_DOUBLE_EQ((*r)[0].frequency, 2.0 / 3.0);
}

TEST(FindRecurringNetworksTest, ValidatesInputs) {
  auto message = [](const NetworksByGroup& n) {
    return std::string(FindRecurringNetworks(n).status().message());
  };
  EXPECT_THAT(message({}), HasSubstr("at least one group"));
  EXPECT_THAT(message({{{1, 2}}, {{1}, {3, 2}}}),
              HasSubstr("group 1, component 1: unit ids must be strictly "
                        "ascending; position 1 holds 2 after 3"));
  EXPECT_THAT(message({{{1, 1}}}), HasSubstr("group 0, component 0"));
  EXPECT_THAT(message({{{0}}, {{-4, 2}}}),
              HasSubstr("group 1, component 0: unit id -4 at position 0 is "
                        "negative"));
  for (auto [field, value] : {std::pair<int, double>{0, 0.0},
                              {0, 1.5},
                              {1, 0.0},
                              {1, -1.0},
                              {2, -1.0}}) {
    RecurrenceOptions o;
    if (field == 0) o.min_jaccard = value;
    if (field == 1) o.consensus_fraction = value;
    if (field == 2) o.max_refinements = static_cast<int>(value);
    const auto status = FindRecurringNetworks({{{1}}}, o).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << field;
  }
  EXPECT_FALSE(KeyNeurons(NetworksByGroup{{{1}}}, 0.0).ok());
  EXPECT_FALSE(KeyNeurons(NetworksByGroup{{{1}}}, 1.5).ok());
  EXPECT_FALSE(UnitGroupFrequencies({{{2, 1}}}).ok());
}

TEST(KeyNeuronsTest, BestNetworkPerUnitSortedByFrequency) {
  std::vector<RecurringNetwork> rec(2);
  rec[0].unit_counts = {{5, 4}, {6, 2}, {9, 1}};
  rec[1].unit_counts = {{6, 3}, {7, 2}};
  const auto keys = KeyNeurons(rec, 4, 0.5);
  ASSERT_EQ(keys.size(), 3u);
  EXPECT_EQ(keys[0].unit, 5);
  EXPECT_DOUBLE_EQ(keys[0].frequency, 1.0);
  EXPECT_EQ(keys[0].network, 0);
  EXPECT_EQ(keys[1].unit, 6);
  EXPECT_DOUBLE_EQ(keys[1].frequency, 0.75);
  EXPECT_EQ(keys[1].network, 1);
  EXPECT_EQ(keys[2].unit, 7);
  EXPECT_DOUBLE_EQ(keys[2].frequency, 0.5);
}

TEST(UnitGroupFrequenciesTest, CountsGroupsNotNetworks) {
  const NetworksByGroup n = {{{1, 2}, {2, 3}}, {{3}}, {{}}, {{1}}};
  auto f = UnitGroupFrequencies(n);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->size(), 3u);
  EXPECT_EQ((*f)[0].unit, 1);
  EXPECT_DOUBLE_EQ((*f)[0].frequency, 0.5);
  EXPECT_DOUBLE_EQ((*f)[1].frequency, 0.25);  // unit 2: twice in group 0
  EXPECT_DOUBLE_EQ((*f)[2].frequency, 0.5);
}

// --- planted truth and the null ---------------------------------------------

constexpr int64_t kUnits = 3072;
constexpr int kSize = 40;

Units RandomNetwork(std::mt19937_64& rng, const std::set<int64_t>& avoid) {
  std::uniform_int_distribution<int64_t> unit(0, kUnits - 1);
  std::set<int64_t> s;
  while (static_cast<int>(s.size()) < kSize) {
    const int64_t u = unit(rng);
    if (!avoid.count(u)) s.insert(u);
  }
  return Units(s.begin(), s.end());
}

struct Planted {
  std::vector<Units> truth;
  NetworksByGroup groups;
};

// `planted` networks (disjoint) in every group, each copy losing and
// gaining `perturb` of its units, among random networks up to `k` per
// group, components shuffled.
Planted MakeGroups(int groups, int k, int planted, double perturb,
                   uint64_t seed) {
  std::mt19937_64 rng(seed);
  Planted p;
  std::set<int64_t> used;
  for (int i = 0; i < planted; ++i) {
    p.truth.push_back(RandomNetwork(rng, used));
    used.insert(p.truth.back().begin(), p.truth.back().end());
  }
  const int change = static_cast<int>(std::lround(perturb * kSize));
  std::uniform_int_distribution<int64_t> unit(0, kUnits - 1);
  for (int g = 0; g < groups; ++g) {
    std::vector<Units> group;
    for (const Units& t : p.truth) {
      Units copy = t;
      std::shuffle(copy.begin(), copy.end(), rng);
      copy.resize(copy.size() - change);
      std::set<int64_t> s(copy.begin(), copy.end());
      while (static_cast<int>(s.size()) < kSize) {
        const int64_t u = unit(rng);
        if (!used.count(u)) s.insert(u);
      }
      group.emplace_back(s.begin(), s.end());
    }
    while (static_cast<int>(group.size()) < k) {
      group.push_back(RandomNetwork(rng, {}));
    }
    std::shuffle(group.begin(), group.end(), rng);
    p.groups.push_back(std::move(group));
  }
  return p;
}

// Frequency, consensus, unit counts and mean Jaccard of `r` recomputed
// from its members with std::map / std::set.
void ExpectStatisticsAgree(const NetworksByGroup& n, const RecurringNetwork& r,
                           double consensus_fraction) {
  std::set<int> groups;
  std::map<int64_t, int> counts;
  for (const auto& [g, c] : r.members) {
    groups.insert(g);
    for (int64_t u : n[g][c]) ++counts[u];
  }
  ASSERT_EQ(groups.size(), r.members.size()) << "two members of one group";
  EXPECT_DOUBLE_EQ(r.frequency, static_cast<double>(groups.size()) / n.size());
  Units consensus;
  for (const auto& [u, count] : counts) {
    if (count >= consensus_fraction * r.members.size()) consensus.push_back(u);
  }
  EXPECT_EQ(r.units, consensus);
  ASSERT_EQ(r.unit_counts.size(), counts.size());
  const std::vector<std::pair<int64_t, int>> expected(counts.begin(),
                                                      counts.end());
  EXPECT_EQ(r.unit_counts, expected);
  double sum = 0;
  for (const auto& [g, c] : r.members) sum += SetJaccard(n[g][c], consensus);
  EXPECT_NEAR(r.mean_jaccard, sum / r.members.size(), 1e-12);
}

// The recurring network best matching `truth` (by IoU of consensus sets).
const RecurringNetwork* BestMatch(const std::vector<RecurringNetwork>& rec,
                                  const Units& truth, double* iou) {
  const RecurringNetwork* best = nullptr;
  *iou = -1;
  for (const auto& r : rec) {
    const double j = SetJaccard(r.units, truth);
    if (j > *iou) *iou = j, best = &r;
  }
  return best;
}

TEST(RecurrencePlantedTest, FindsEachPlantedNetwork) {
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    SCOPED_TRACE(seed);
    const Planted p = MakeGroups(20, 20, 3, 0.1, seed);
    auto rec = FindRecurringNetworks(p.groups);
    ASSERT_TRUE(rec.ok()) << rec.status();
    for (const Units& truth : p.truth) {
      double iou = 0;
      const RecurringNetwork* r = BestMatch(*rec, truth, &iou);
      ASSERT_NE(r, nullptr);
      EXPECT_GE(r->frequency, 0.9);
      EXPECT_GE(iou, 0.8);
      EXPECT_GT(r->mean_jaccard, 0.7);
    }
    // The three planted networks lead; everything else is a singleton.
    ASSERT_GE(rec->size(), 3u);
    EXPECT_LE((*rec)[3].frequency, 1.0 / 20);
    for (const auto& r : *rec) ExpectStatisticsAgree(p.groups, r, 0.5);
    // Every non-empty network in exactly one recurring network.
    size_t members = 0;
    for (const auto& r : *rec) members += r.members.size();
    EXPECT_EQ(members, 20u * 20u);

    auto keys = KeyNeurons(p.groups);
    ASSERT_TRUE(keys.ok());
    std::set<int64_t> planted_units;
    for (const Units& t : p.truth) planted_units.insert(t.begin(), t.end());
    int hits = 0;
    for (const KeyNeuron& k : *keys) {
      EXPECT_TRUE(planted_units.count(k.unit)) << "random unit " << k.unit;
      hits += planted_units.count(k.unit);
    }
    // Each planted unit survives a copy with probability 0.9, so it reaches
    // 0.5 of 20 groups unless Binomial(20, 0.9) < 10 (p ~ 7e-6).
    EXPECT_EQ(hits, 3 * kSize);
  }
}

TEST(RecurrencePlantedTest, HeavierPerturbationStillRecurs) {
  // 25% swapped: a copy's Jaccard with the truth is 30/50 = 0.6.
  const Planted p = MakeGroups(30, 20, 3, 0.25, 99);
  auto rec = FindRecurringNetworks(p.groups);
  ASSERT_TRUE(rec.ok());
  for (const Units& truth : p.truth) {
    double iou = 0;
    const RecurringNetwork* r = BestMatch(*rec, truth, &iou);
    EXPECT_GE(r->frequency, 0.9);
    EXPECT_GE(iou, 0.8);
  }
}

TEST(RecurrencePlantedTest, IndependentOfGroupOrder) {
  const Planted p = MakeGroups(20, 20, 3, 0.1, 17);
  auto rec = FindRecurringNetworks(p.groups);
  ASSERT_TRUE(rec.ok());
  std::vector<int> order(20);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 3; ++trial) {
    std::shuffle(order.begin(), order.end(), rng);
    NetworksByGroup permuted;
    for (int g : order) permuted.push_back(p.groups[g]);
    auto again = FindRecurringNetworks(permuted);
    ASSERT_TRUE(again.ok());
    // Same partition of (original group, component) pairs and consensus.
    auto canonical = [&](const std::vector<RecurringNetwork>& rs,
                         const std::vector<int>* map) {
      std::set<std::pair<std::vector<std::pair<int, int>>, Units>> out;
      for (const auto& r : rs) {
        std::vector<std::pair<int, int>> m = r.members;
        if (map != nullptr) {
          for (auto& [g, c] : m) g = (*map)[g];
        }
        std::sort(m.begin(), m.end());
        out.emplace(m, r.units);
      }
      return out;
    };
    EXPECT_EQ(canonical(*rec, nullptr), canonical(*again, &order));
  }
}

TEST(RecurrenceNullTest, RandomNetworksDoNotRecur) {
  const int seeds = 50, groups = 20, k = 20;
  int false_recurring = 0, key_neurons = 0;
  double naive_floor = 0;
  for (int seed = 0; seed < seeds; ++seed) {
    const Planted p = MakeGroups(groups, k, 0, 0, 1000 + seed);
    auto rec = FindRecurringNetworks(p.groups);
    ASSERT_TRUE(rec.ok());
    for (const auto& r : *rec) false_recurring += r.members.size() > 1;
    key_neurons += KeyNeurons(*rec, groups).size();
    auto freq = UnitGroupFrequencies(p.groups);
    ASSERT_TRUE(freq.ok());
    for (const UnitFrequency& f : *freq) naive_floor += f.frequency >= 0.5;
  }
  naive_floor /= seeds;
  std::cout << "null: " << false_recurring << " recurring networks and "
            << key_neurons << " key neurons over " << seeds
            << " seeds; plain count: " << naive_floor
            << " units per seed at frequency >= 0.5\n";
  // Bound: (G K)² / 2 = 80,000 pairs per seed, each reaching Jaccard 0.2
  // (>= 14 shared of 40) with hypergeometric probability 5.9e-18, so the
  // expected count over 50 seeds is ~2e-11: any recurrence is a bug.
  EXPECT_EQ(false_recurring, 0);
  EXPECT_EQ(key_neurons, 0);
  // The plain count's chance floor: a unit is in some group's network with
  // p = 1 - (1 - 40/3072)^20 = 0.231; 3072 P(Binomial(20, p) >= 10) = 23.6.
  EXPECT_GT(naive_floor, 15);
  EXPECT_LT(naive_floor, 33);
}

}  // namespace
}  // namespace fnprobe::ica
