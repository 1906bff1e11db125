// The planted truth of a planted-response model beside what an experiment
// found on it. `fnprobe-make-model --planted` writes planted.json: per
// condition, the units built to respond to that condition's words. Scoring
// a finished experiment against it shows whether the analysis recovers a
// known answer: per condition, precision (found units that are planted) and
// recall (planted units that were found), and held-out identification
// beside its chance level. `fnprobe demo` prints this after its report.
//
// Thread-safe: plain data and free functions.
#ifndef FNPROBE_CLIENT_PLANTED_TRUTH_H_
#define FNPROBE_CLIENT_PLANTED_TRUTH_H_

#include <cstdint>
#include <map>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/experiment_client.h"
#include "client/experiment_report.h"
#include "common/layout.h"
#include "fnprobe/v1/experiments.pb.h"

namespace fnprobe::client {

// What the demo requires of the analysis on a planted model, per condition
// (precision, recall) and over all held-out runs (accuracy).
inline constexpr double kPlantedMinPrecision = 0.95;
inline constexpr double kPlantedMinRecall = 0.9;
inline constexpr double kPlantedMinAccuracy = 0.9;

// Condition name -> planted unit names ("blocks.0.attn_out[58]").
using PlantedUnits = std::map<std::string, std::vector<std::string>>;

// Condition name -> unit indices of its condition network.
using FoundUnits = std::map<std::string, std::set<int64_t>>;

struct PlantedScore {
  std::string condition;
  int64_t planted = 0;  // planted units among the captured ones
  int64_t found = 0;    // units of the condition network
  int64_t hits = 0;     // found units that are planted

  // hits / found, or 1 when nothing was found and nothing planted was
  // captured; 0 when nothing was found but something was planted.
  double precision() const;
  // hits / planted; 1 when nothing planted was captured.
  double recall() const;
};

// Reads planted.json (format "fnprobe-planted-1"). Errors name the path.
absl::StatusOr<PlantedUnits> ReadPlantedUnits(const std::string& path);

// Scores every condition of `found` against `planted`. Planted units of hook
// points that `layout` does not capture are left out: the experiment could
// not have found them. A condition with no planted entry has 0 planted.
std::vector<PlantedScore> ScorePlanted(const PlantedUnits& planted,
                                       const Layout& layout,
                                       const FoundUnits& found);

// The units of each condition network of the report's experiment; every
// condition of its spec is present, empty when it has no network.
absl::StatusOr<FoundUnits> FetchConditionUnits(ExperimentClient& client,
                                               const ExperimentReport& report);

// Writes the table of scores and the held-out accuracy beside its chance
// level (when `classification` is given).
void PrintPlantedTruth(const std::vector<PlantedScore>& scores,
                       const v1::GetClassificationResponse* classification,
                       std::ostream& out);

// OK when every condition meets kPlantedMinPrecision and kPlantedMinRecall
// and the accuracy meets kPlantedMinAccuracy; otherwise FAILED_PRECONDITION
// naming every shortfall.
absl::Status CheckPlantedTruth(
    const std::vector<PlantedScore>& scores,
    const v1::GetClassificationResponse* classification);

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_PLANTED_TRUTH_H_
