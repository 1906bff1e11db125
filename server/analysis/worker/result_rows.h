// The worker's own types for what ResultQueries reads back: plain structs,
// no protobuf. ExperimentService converts them to and from fnprobe.v1
// messages (proto_conversion.h); nothing else in the worker depends on the
// wire format through them.
//
// The query structs carry the request's fields as the client sent them
// (e.g. a NetworkKind outside the enum, a page token still unparsed), so
// that ResultQueries validates them, in the same order and with the same
// messages, as before the split.
//
// Thread-safety: plain values; no synchronisation of their own.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_RESULT_ROWS_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_RESULT_ROWS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/layout.h"
#include "server/analysis/stat_map.h"
#include "server/analysis/worker/experiment_rows.h"

namespace fnprobe::worker {

// The numbering is fnprobe.v1.NetworkKind's, so a value the client sent
// outside the enum survives the conversion and is refused by the query.
enum class NetworkKind : int {
  kUnspecified = 0,  // Read as kCondition.
  kCondition = 1,    // A condition over all its repeats.
  kRun = 2,          // One run.
  kLeaveOneOut = 3,  // A condition without one held-out run.
  kIca = 4,          // An ICA component's network (one run, one hook).
};

struct HookCount {
  std::string hook;
  int64_t count = 0;
};

// One stored network (GLM, or an ICA component's), without its units.
struct NetworkSummary {
  int64_t id = 0;
  int64_t experiment_id = 0;
  NetworkKind kind = NetworkKind::kCondition;
  std::string condition;
  int64_t run_id = 0;           // kRun.
  int repeat = 0;               // kRun.
  int64_t excluded_run_id = 0;  // kLeaveOneOut.
  std::string contrast;
  std::string threshold_method;
  double alpha = 0;
  double threshold = 0;
  int64_t size = 0;
  // Units per hook point, in layout order; empty when the layout is not
  // known or not the network's.
  std::vector<HookCount> size_by_hook;
  uint64_t layout_hash = 0;
  double dof = 0;
  std::string inference;  // "prompt" or "token"; empty for kIca.
  std::string method;     // "glm" or "ica".
  int component = 0;      // kIca: the component within its decomposition.
  std::string hook;       // kIca: the hook point decomposed.
};

struct NetworkUnit {
  int64_t unit = 0;
  std::string name;  // Empty when the layout is not known.
  double beta = 0;
  double t = 0;
  double p = 0;
  double q = 0;
};

// ListNetworks: networks of one kind, optionally of one condition.
struct NetworkListQuery {
  int64_t experiment_id = 0;
  std::string condition;  // Empty: every condition.
  NetworkKind kind = NetworkKind::kUnspecified;
};

// GetNetwork: one page of a network's units.
struct NetworkQuery {
  int64_t network_id = 0;
  std::string hook;  // A hook point name or glob; empty: all.
  std::optional<int> layer;
  int page_size = 0;  // 0: the default page.
  std::string page_token;
};

struct NetworkPage {
  NetworkSummary network;
  std::vector<NetworkUnit> units;  // By |t|, largest first.
  int64_t total_units = 0;         // Matching the filters.
  std::string next_page_token;     // Empty on the last page.
};

struct Overlap {
  int64_t network_a_id = 0;
  int64_t network_b_id = 0;
  int64_t intersection = 0;
  double dice = 0;
  double jaccard = 0;
};

struct NetworkComparison {
  std::vector<NetworkSummary> networks;
  // n x n row-major over `networks`.
  std::vector<double> dice;
  std::vector<double> jaccard;
  std::vector<Overlap> overlaps;  // Each unordered pair once.
};

struct RepeatPair {
  int64_t run_a_id = 0;
  int64_t run_b_id = 0;
  int repeat_a = 0;
  int repeat_b = 0;
  double dice = 0;
};

struct ConditionRepeatability {
  std::string condition;
  std::vector<RepeatPair> pairs;
  double mean_dice = 0;
};

struct Repeatability {
  std::vector<ConditionRepeatability> conditions;
  double mean_dice = 0;  // Over all pairs.
};

struct ConditionScore {
  std::string condition;
  double mean_t = 0;
  double correlation = 0;
  int64_t network_id = 0;
};

struct HeldOutPrediction {
  int64_t run_id = 0;
  int repeat = 0;
  std::string true_condition;
  std::string predicted_condition;  // By mean_t.
  std::string predicted_condition_by_correlation;
  std::vector<ConditionScore> scores;
};

struct Classification {
  double accuracy = 0;
  double accuracy_by_correlation = 0;
  double chance = 0;
  std::vector<std::string> conditions;
  // conditions x conditions row-major: row true, column predicted.
  std::vector<int> confusion;
  std::vector<HeldOutPrediction> predictions;
  int correct = 0;
  double p_value = 1;
};

struct EventRow {
  double onset = 0;
  double duration = 0;
  std::string trial_type;
};

// GetRunEvents.
struct RunEvents {
  RunRow run;
  std::vector<EventRow> events;
  std::string events_tsv;
  std::vector<std::string> prompts;
  std::vector<std::string> generated_texts;
};

// FindUnit: a unit by name, or by index when the name is empty.
struct UnitQuery {
  int64_t experiment_id = 0;
  std::string unit_name;
  int64_t unit = 0;
};

struct UnitMembership {
  NetworkSummary network;
  NetworkUnit unit;
};

struct UnitNetworks {
  int64_t unit = 0;
  std::string name;
  std::vector<UnitMembership> networks;
};

// GetStatMap: exactly one of condition and run_id.
struct StatMapQuery {
  int64_t experiment_id = 0;
  std::string condition;
  int64_t run_id = 0;
};

struct StoredStatMap {
  std::string condition;
  int64_t run_id = 0;  // 0 for a condition's map.
  analysis::StatMap map;
  std::optional<Layout> layout;  // Unknown before any run started.
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_RESULT_ROWS_H_
