#include "client/planted_truth.h"

#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/number_format.h"
#include "client/table_printer.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"

namespace fnprobe::client {

double PlantedScore::precision() const {
  if (found == 0) return planted == 0 ? 1.0 : 0.0;
  return static_cast<double>(hits) / found;
}

double PlantedScore::recall() const {
  if (planted == 0) return 1.0;
  return static_cast<double>(hits) / planted;
}

absl::StatusOr<PlantedUnits> ReadPlantedUnits(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream text;
  text << in.rdbuf();
  const nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("conditions") ||
      !j["conditions"].is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": not a planted.json (no \"conditions\" array)"));
  }
  PlantedUnits planted;
  for (const nlohmann::json& c : j["conditions"]) {
    if (!c.is_object() || !c.contains("name") || !c["name"].is_string() ||
        !c.contains("units") || !c["units"].is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": every condition needs a \"name\" and \"units\""));
    }
    std::vector<std::string>& units = planted[c["name"].get<std::string>()];
    for (const nlohmann::json& u : c["units"]) {
      if (!u.is_string()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": unit names must be strings"));
      }
      units.push_back(u.get<std::string>());
    }
  }
  return planted;
}

std::vector<PlantedScore> ScorePlanted(const PlantedUnits& planted,
                                       const Layout& layout,
                                       const FoundUnits& found) {
  std::vector<PlantedScore> scores;
  for (const auto& [condition, units] : found) {
    PlantedScore s;
    s.condition = condition;
    std::set<int64_t> truth;
    if (auto it = planted.find(condition); it != planted.end()) {
      for (const std::string& name : it->second) {
        absl::StatusOr<int64_t> unit = layout.ParseUnit(name);
        if (unit.ok()) truth.insert(*unit);  // else: hook not captured
      }
    }
    s.planted = static_cast<int64_t>(truth.size());
    s.found = static_cast<int64_t>(units.size());
    for (int64_t u : units) s.hits += truth.count(u);
    scores.push_back(std::move(s));
  }
  return scores;
}

absl::StatusOr<FoundUnits> FetchConditionUnits(ExperimentClient& client,
                                               const ExperimentReport& report) {
  FoundUnits found;
  // A condition without a network still counts: it found nothing.
  for (const v1::PromptPool& c : report.experiment.spec().conditions()) {
    found[c.name()];
  }
  for (const v1::NetworkSummary& n : report.networks.networks()) {
    if (n.kind() != v1::NETWORK_CONDITION) continue;
    v1::GetNetworkRequest request;
    request.set_network_id(n.id());
    FNPROBE_ASSIGN_OR_RETURN(v1::GetNetworkResponse units,
                             client.GetNetworkUnits(request));
    std::set<int64_t>& set = found[n.condition()];
    for (const v1::NetworkUnit& u : units.units()) set.insert(u.unit());
  }
  return found;
}

void PrintPlantedTruth(const std::vector<PlantedScore>& scores,
                       const v1::GetClassificationResponse* classification,
                       std::ostream& out) {
  TablePrinter table(
      {"condition", "planted", "found", "true", "precision", "recall"});
  for (const PlantedScore& s : scores) {
    table.AddRow({s.condition, absl::StrCat(s.planted), absl::StrCat(s.found),
                  absl::StrCat(s.hits), FormatFixed(s.precision(), 2),
                  FormatFixed(s.recall(), 2)});
  }
  table.Print(out);
  if (classification != nullptr) {
    out << "held-out identification: " << classification->correct() << " of "
        << classification->predictions_size() << " runs right, accuracy "
        << FormatPercent(classification->accuracy()) << " (chance "
        << FormatPercent(classification->chance()) << ", binomial p "
        << FormatP(classification->p_value()) << ")\n";
  }
}

absl::Status CheckPlantedTruth(
    const std::vector<PlantedScore>& scores,
    const v1::GetClassificationResponse* classification) {
  std::vector<std::string> shortfalls;
  for (const PlantedScore& s : scores) {
    if (s.precision() < kPlantedMinPrecision) {
      shortfalls.push_back(absl::StrCat(s.condition, " precision ",
                                        FormatFixed(s.precision(), 2), " < ",
                                        kPlantedMinPrecision));
    }
    if (s.recall() < kPlantedMinRecall) {
      shortfalls.push_back(absl::StrCat(s.condition, " recall ",
                                        FormatFixed(s.recall(), 2), " < ",
                                        kPlantedMinRecall));
    }
  }
  if (classification == nullptr) {
    shortfalls.push_back("no held-out identification");
  } else if (classification->accuracy() < kPlantedMinAccuracy) {
    shortfalls.push_back(absl::StrCat(
        "held-out accuracy ", FormatPercent(classification->accuracy()), " < ",
        FormatPercent(kPlantedMinAccuracy)));
  }
  if (shortfalls.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("the planted truth was not recovered: ",
                   absl::StrJoin(shortfalls, "; ")));
}

}  // namespace fnprobe::client
