// A linear merge of two sorted unit lists: no sets, no allocation.
#include "server/analysis/network_overlap.h"

#include <cstddef>

namespace fnprobe::analysis {
namespace {

int64_t CountCommon(const std::vector<int64_t>& a,
                    const std::vector<int64_t>& b) {
  int64_t common = 0;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j]) {
      ++i;
    } else if (b[j] < a[i]) {
      ++j;
    } else {
      ++common, ++i, ++j;
    }
  }
  return common;
}

}  // namespace

OverlapEntry UnitOverlap(const std::vector<int64_t>& a,
                         const std::vector<int64_t>& b) {
  OverlapEntry out;
  out.intersection = CountCommon(a, b);
  const double total = static_cast<double>(a.size() + b.size());
  if (total == 0) return out;
  const double common = static_cast<double>(out.intersection);
  out.dice = 2.0 * common / total;
  out.jaccard = common / (total - common);
  return out;
}

std::vector<OverlapEntry> PairwiseOverlaps(const std::vector<Network>& networks,
                                           const std::vector<int>& members) {
  std::vector<OverlapEntry> out;
  const size_t n = members.size();
  out.reserve(n < 2 ? 0 : n * (n - 1) / 2);
  for (size_t i = 0; i < members.size(); ++i) {
    for (size_t j = i + 1; j < members.size(); ++j) {
      OverlapEntry e =
          UnitOverlap(networks[members[i]].units, networks[members[j]].units);
      e.a = members[i];
      e.b = members[j];
      out.push_back(e);
    }
  }
  return out;
}

}  // namespace fnprobe::analysis
