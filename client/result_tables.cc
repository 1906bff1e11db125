#include "client/result_tables.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/number_format.h"
#include "client/proto_names.h"

namespace fnprobe::client {
namespace {

// Layer groups in the order they first appear.
std::vector<std::string> LayerGroups(const v1::ListNetworksResponse& list) {
  std::vector<std::string> groups;
  for (const auto& n : list.networks()) {
    for (const auto& h : n.size_by_hook()) {
      std::string g = LayerGroup(h.hook());
      if (std::find(groups.begin(), groups.end(), g) == groups.end()) {
        groups.push_back(g);
      }
    }
  }
  return groups;
}

std::map<std::string, int64_t> CountsByGroup(const v1::NetworkSummary& n) {
  std::map<std::string, int64_t> counts;
  for (const auto& h : n.size_by_hook())
    counts[LayerGroup(h.hook())] += h.count();
  return counts;
}

int CorrectPredictions(const v1::GetClassificationResponse& c) {
  int correct = 0;
  for (const auto& p : c.predictions()) {
    correct += p.true_condition() == p.predicted_condition();
  }
  return correct;
}

}  // namespace

TablePrinter NetworkSizeTable(const v1::ListNetworksResponse& networks,
                              int64_t layout_width) {
  const std::vector<std::string> groups = LayerGroups(networks);
  std::vector<std::string> headers = {"network", "units"};
  if (layout_width > 0) headers.push_back("share");
  headers.insert(headers.end(), groups.begin(), groups.end());
  TablePrinter table(headers);
  for (const auto& n : networks.networks()) {
    std::vector<std::string> row = {NetworkLabel(n), FormatCount(n.size())};
    if (layout_width > 0) {
      row.push_back(
          FormatPercent(static_cast<double>(n.size()) / layout_width));
    }
    std::map<std::string, int64_t> counts = CountsByGroup(n);
    for (const std::string& g : groups) row.push_back(FormatCount(counts[g]));
    table.AddRow(std::move(row));
  }
  return table;
}

TablePrinter OverlapTable(const v1::CompareNetworksResponse& compare,
                          bool jaccard) {
  const int n = compare.networks_size();
  const auto& values = jaccard ? compare.jaccard() : compare.dice();
  std::vector<std::string> headers = {jaccard ? "Jaccard" : "Dice", "units"};
  for (const auto& net : compare.networks())
    headers.push_back(NetworkLabel(net));
  TablePrinter table(headers);
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> row = {NetworkLabel(compare.networks(i)),
                                    FormatCount(compare.networks(i).size())};
    for (int j = 0; j < n; ++j) {
      const int k = i * n + j;
      row.push_back(k < values.size() ? FormatFixed(values[k], 2) : "-");
    }
    table.AddRow(std::move(row));
  }
  return table;
}

std::string MostOverlapLine(const v1::CompareNetworksResponse& compare) {
  const v1::Overlap* best = nullptr;
  for (const auto& o : compare.overlaps()) {
    if (best == nullptr || o.dice() > best->dice()) best = &o;
  }
  if (best == nullptr) return "";
  std::map<int64_t, std::string> labels;
  for (const auto& n : compare.networks()) labels[n.id()] = NetworkLabel(n);
  return absl::StrCat("most overlap: ", labels[best->network_a_id()], " / ",
                      labels[best->network_b_id()], " (Dice ",
                      FormatFixed(best->dice(), 2), ", ",
                      FormatCount(best->intersection()), " shared units)");
}

TablePrinter RepeatabilityTable(const v1::GetRepeatabilityResponse& r) {
  TablePrinter table({"condition", "pairs", "mean Dice", "min", "max"});
  for (const auto& c : r.conditions()) {
    double lo = 1, hi = 0;
    for (const auto& p : c.pairs()) {
      lo = std::min(lo, p.dice());
      hi = std::max(hi, p.dice());
    }
    const bool any = c.pairs_size() > 0;
    table.AddRow({c.condition(), absl::StrCat(c.pairs_size()),
                  FormatFixed(c.mean_dice(), 2), any ? FormatFixed(lo, 2) : "-",
                  any ? FormatFixed(hi, 2) : "-"});
  }
  return table;
}

void PrintAccuracy(const v1::GetClassificationResponse& c,
                   const std::string& indent, std::ostream& out) {
  out << indent << "accuracy (mean t)        " << FormatPercent(c.accuracy())
      << "  (" << CorrectPredictions(c) << "/" << c.predictions_size()
      << " held-out runs)\n";
  out << indent << "accuracy (correlation)   "
      << FormatPercent(c.accuracy_by_correlation()) << "\n";
  out << indent << "chance                   " << FormatPercent(c.chance())
      << "\n";
  out << indent << "p (binomial, vs chance)  " << FormatP(c.p_value()) << "\n";
}

TablePrinter ConfusionTable(const v1::GetClassificationResponse& c) {
  const int n = c.conditions_size();
  std::vector<std::string> headers = {"true \\ predicted"};
  headers.insert(headers.end(), c.conditions().begin(), c.conditions().end());
  TablePrinter table(headers);
  for (int i = 0; i < n; ++i) {
    std::vector<std::string> row = {c.conditions(i)};
    for (int j = 0; j < n; ++j) {
      const int k = i * n + j;
      row.push_back(k < c.confusion_size() ? absl::StrCat(c.confusion(k))
                                           : "-");
    }
    table.AddRow(std::move(row));
  }
  return table;
}

}  // namespace fnprobe::client
