#include "server/analysis/worker/result_queries.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fnmatch.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/network_overlap.h"
#include "server/analysis/p_values.h"
#include "server/analysis/run_planner.h"
#include "server/analysis/worker/store_database.h"
#include "server/analysis/worker/store_rows.h"

namespace fnprobe::worker {
namespace {

using SQLite::Database;
using SQLite::Statement;
using Json = nlohmann::json;

constexpr int kDefaultUnitPage = 100;
constexpr int kMaxUnitPage = 10000;

// --- network summaries ---

// Columns read by ReadSummary, in its order, and the joins they need.
constexpr char kSummaryColumns[] =
    "n.id, n.experiment_id, n.run_id, n.condition, n.excluded_run_id, "
    "n.contrast, n.threshold_method, n.alpha, n.threshold, n.size, "
    "n.layout_hash, r.repeat_index, g.dof, n.hook_counts_json, "
    "CASE WHEN n.method = 'ica' THEN '' ELSE COALESCE(n.inference, 'token') "
    "END, n.method, n.component, ic.hook";
constexpr int kNumSummaryColumns = 18;
constexpr char kSummaryJoins[] =
    " LEFT JOIN runs r ON r.id = n.run_id "
    "LEFT JOIN glm_maps g ON g.id = n.glm_map_id "
    "LEFT JOIN ica_components ic ON ic.network_id = n.id";

void FillHookCounts(const std::string& json, const Layout& layout,
                    NetworkSummary* s) {
  if (json.empty() || s->layout_hash != layout.hash()) return;
  const Json counts = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!counts.is_array() || counts.size() != layout.size()) return;
  for (size_t i = 0; i < layout.size(); ++i) {
    s->size_by_hook.push_back(
        {layout.hooks()[i].name,
         counts[i].is_number_integer() ? counts[i].get<int64_t>() : 0});
  }
}

NetworkSummary ReadSummary(const Statement& q, const Layout* layout) {
  NetworkSummary s;
  s.id = q.getColumn(0).getInt64();
  s.experiment_id = q.getColumn(1).getInt64();
  s.condition = TextOrEmpty(q, 3);
  if (!q.getColumn(2).isNull()) {
    s.kind = NetworkKind::kRun;
    s.run_id = q.getColumn(2).getInt64();
    s.repeat = q.getColumn(11).getInt();
  } else if (!q.getColumn(4).isNull()) {
    s.kind = NetworkKind::kLeaveOneOut;
    s.excluded_run_id = q.getColumn(4).getInt64();
  } else {
    s.kind = NetworkKind::kCondition;
  }
  s.contrast = TextOrEmpty(q, 5);
  s.threshold_method = TextOrEmpty(q, 6);
  s.alpha = q.getColumn(7).getDouble();
  s.threshold = q.getColumn(8).getDouble();
  s.size = q.getColumn(9).getInt64();
  s.layout_hash = ParseHexHash(q.getColumn(10).getString());
  s.dof = q.getColumn(12).getDouble();
  if (layout != nullptr) FillHookCounts(TextOrEmpty(q, 13), *layout, &s);
  s.inference = TextOrEmpty(q, 14);
  s.method = TextOrEmpty(q, 15);
  if (s.method == "ica") {
    s.kind = NetworkKind::kIca;
    s.component = q.getColumn(16).getInt();
    s.hook = TextOrEmpty(q, 17);
  }
  return s;
}

absl::StatusOr<const char*> KindCondition(NetworkKind kind) {
  switch (kind) {
    case NetworkKind::kUnspecified:
    case NetworkKind::kCondition:
      return "n.method = 'glm' AND n.run_id IS NULL AND "
             "n.excluded_run_id IS NULL";
    case NetworkKind::kRun:
      return "n.method = 'glm' AND n.run_id IS NOT NULL";
    case NetworkKind::kLeaveOneOut:
      return "n.method = 'glm' AND n.excluded_run_id IS NOT NULL";
    case NetworkKind::kIca:
      return "n.method = 'ica'";
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("kind ", static_cast<int>(kind), " is unknown"));
  }
}

// The networks of one kind (and condition, unless empty), in id order.
absl::StatusOr<std::vector<NetworkSummary>> LoadSummaries(
    Database& db, int64_t experiment_id, NetworkKind kind,
    const std::string& condition, const Layout* layout) {
  FNPROBE_ASSIGN_OR_RETURN(const char* kind_sql, KindCondition(kind));
  Statement q(db, absl::StrCat("SELECT ", kSummaryColumns, " FROM networks n",
                               kSummaryJoins,
                               " WHERE n.experiment_id = ?1 AND "
                               "(?2 = '' OR n.condition = ?2) AND ",
                               kind_sql, " ORDER BY n.id"));
  q.bind(1, experiment_id);
  q.bind(2, condition);
  std::vector<NetworkSummary> out;
  while (q.executeStep()) out.push_back(ReadSummary(q, layout));
  return out;
}

absl::StatusOr<std::vector<NetworkSummary>> ListNetworksIn(
    Database& db, const NetworkListQuery& query, const std::string& user) {
  const int64_t id = query.experiment_id;
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  FNPROBE_ASSIGN_OR_RETURN(std::optional<Layout> layout,
                           LoadOptionalLayout(db, id));
  return LoadSummaries(db, id, query.kind, query.condition,
                       layout ? &*layout : nullptr);
}

// A network with its experiment's layout, ownership checked (a foreign
// network is NOT_FOUND, as a missing one).
struct LoadedNetwork {
  NetworkSummary summary;
  std::optional<Layout> layout;
};

absl::StatusOr<LoadedNetwork> LoadNetwork(Database& db, int64_t network_id,
                                          const std::string& user) {
  Statement owner(db, "SELECT experiment_id FROM networks WHERE id = ?");
  owner.bind(1, network_id);
  if (!owner.executeStep()) return NetworkNotFound(network_id);
  const int64_t experiment_id = owner.getColumn(0).getInt64();
  if (!CheckOwner(db, experiment_id, user).ok()) {
    return NetworkNotFound(network_id);
  }
  LoadedNetwork out;
  FNPROBE_ASSIGN_OR_RETURN(out.layout, LoadOptionalLayout(db, experiment_id));
  Statement q(db, absl::StrCat("SELECT ", kSummaryColumns, " FROM networks n",
                               kSummaryJoins, " WHERE n.id = ?"));
  q.bind(1, network_id);
  q.executeStep();
  out.summary = ReadSummary(q, out.layout ? &*out.layout : nullptr);
  return out;
}

// --- GetNetwork ---

struct UnitRow {
  int64_t unit;
  double beta, t, p, q;
};

// The unit ranges [begin, end) of the hook points that pass the request's
// hook and layer filters; every unit when there is no filter.
absl::StatusOr<std::vector<std::pair<int64_t, int64_t>>> UnitRanges(
    const NetworkQuery& query, const Layout& layout) {
  std::vector<std::pair<int64_t, int64_t>> ranges;
  const std::string layer_prefix =
      absl::StrCat("blocks.", query.layer.value_or(0), ".");
  for (size_t i = 0; i < layout.size(); ++i) {
    const std::string& name = layout.hooks()[i].name;
    if (!query.hook.empty() &&
        fnmatch(query.hook.c_str(), name.c_str(), 0) != 0) {
      continue;
    }
    if (query.layer.has_value() && !absl::StartsWith(name, layer_prefix)) {
      continue;
    }
    ranges.emplace_back(layout.offset(i),
                        layout.offset(i) + layout.hooks()[i].width);
  }
  if (ranges.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hook '", query.hook, "'",
        query.layer.has_value() ? absl::StrCat(" in layer ", *query.layer) : "",
        " matches no hook point of the layout"));
  }
  return ranges;
}

bool InRanges(int64_t unit,
              const std::vector<std::pair<int64_t, int64_t>>& ranges) {
  for (const auto& [begin, end] : ranges) {
    if (unit >= begin && unit < end) return true;
  }
  return false;
}

std::vector<UnitRow> LoadUnits(
    Database& db, int64_t network_id,
    const std::vector<std::pair<int64_t, int64_t>>* ranges) {
  Statement q(db,
              "SELECT unit, beta, t, p, q FROM network_units "
              "WHERE network_id = ?");
  q.bind(1, network_id);
  std::vector<UnitRow> rows;
  while (q.executeStep()) {
    const int64_t unit = q.getColumn(0).getInt64();
    if (ranges != nullptr && !InRanges(unit, *ranges)) continue;
    rows.push_back({unit, DoubleOrNan(q, 1), DoubleOrNan(q, 2),
                    DoubleOrNan(q, 3), DoubleOrNan(q, 4)});
  }
  return rows;
}

// Largest |t| first (NaN last), then ascending unit: a total order, so pages
// never overlap.
bool ByAbsT(const UnitRow& a, const UnitRow& b) {
  const double ka = std::isnan(a.t) ? -1.0 : std::fabs(a.t);
  const double kb = std::isnan(b.t) ? -1.0 : std::fabs(b.t);
  if (ka != kb) return ka > kb;
  return a.unit < b.unit;
}

NetworkUnit MakeUnit(const UnitRow& row, const Layout* layout) {
  NetworkUnit u;
  u.unit = row.unit;
  if (layout != nullptr) {
    absl::StatusOr<std::string> name = layout->UnitName(row.unit);
    if (name.ok()) u.name = *std::move(name);
  }
  u.beta = row.beta;
  u.t = row.t;
  u.p = row.p;
  u.q = row.q;
  return u;
}

absl::StatusOr<NetworkPage> GetNetworkIn(Database& db,
                                         const NetworkQuery& query,
                                         const std::string& user) {
  if (query.page_size < 0 || query.page_size > kMaxUnitPage) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_size ", query.page_size, " is not in [0, ", kMaxUnitPage, "]"));
  }
  const int64_t page =
      query.page_size == 0 ? kDefaultUnitPage : query.page_size;
  FNPROBE_ASSIGN_OR_RETURN(const int64_t offset,
                           ParsePageToken(query.page_token, 0));
  FNPROBE_ASSIGN_OR_RETURN(LoadedNetwork network,
                           LoadNetwork(db, query.network_id, user));
  const Layout* layout = network.layout ? &*network.layout : nullptr;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  const bool filtered = !query.hook.empty() || query.layer.has_value();
  if (filtered && layout != nullptr) {
    FNPROBE_ASSIGN_OR_RETURN(ranges, UnitRanges(query, *layout));
  }
  std::vector<UnitRow> rows =
      LoadUnits(db, query.network_id, filtered ? &ranges : nullptr);
  NetworkPage response;
  response.total_units = static_cast<int64_t>(rows.size());
  const int64_t begin = std::min<int64_t>(offset, rows.size());
  const int64_t end = std::min<int64_t>(begin + page, rows.size());
  // Only the rows up to this page's end need to be in order.
  std::partial_sort(rows.begin(), rows.begin() + end, rows.end(), ByAbsT);
  for (int64_t i = begin; i < end; ++i) {
    response.units.push_back(MakeUnit(rows[i], layout));
  }
  if (end < static_cast<int64_t>(rows.size())) {
    response.next_page_token = std::to_string(end);
  }
  response.network = std::move(network.summary);
  return response;
}

// --- overlaps between stored networks ---

// Overlaps of a set of networks: the stored rows, and for pairs without one
// (e.g. leave-one-out networks), intersections computed from their units.
class OverlapTable {
 public:
  OverlapTable(Database& db, int64_t experiment_id) : db_(db) {
    Statement q(db,
                "SELECT o.network_a_id, o.network_b_id, o.intersection, "
                "o.dice, o.jaccard FROM overlaps o JOIN networks n "
                "ON n.id = o.network_a_id WHERE n.experiment_id = ?");
    q.bind(1, experiment_id);
    while (q.executeStep()) {
      Overlap o;
      o.network_a_id = q.getColumn(0).getInt64();
      o.network_b_id = q.getColumn(1).getInt64();
      o.intersection = q.getColumn(2).getInt64();
      o.dice = q.getColumn(3).getDouble();
      o.jaccard = q.getColumn(4).getDouble();
      stored_[{o.network_a_id, o.network_b_id}] = o;
    }
  }

  // The overlap of two networks (a.id < b.id).
  Overlap Get(const NetworkSummary& a, const NetworkSummary& b) {
    auto it = stored_.find({a.id, b.id});
    if (it != stored_.end()) return it->second;
    Overlap o;
    o.network_a_id = a.id;
    o.network_b_id = b.id;
    const analysis::OverlapEntry e =
        analysis::UnitOverlap(Units(a.id), Units(b.id));
    o.intersection = e.intersection;
    o.dice = e.dice;
    o.jaccard = e.jaccard;
    return o;
  }

 private:
  const std::vector<int64_t>& Units(int64_t network_id) {
    auto [it, inserted] = units_.try_emplace(network_id);
    if (inserted) {
      Statement q(db_,
                  "SELECT unit FROM network_units WHERE network_id = ? "
                  "ORDER BY unit");
      q.bind(1, network_id);
      while (q.executeStep()) it->second.push_back(q.getColumn(0).getInt64());
    }
    return it->second;
  }

  Database& db_;
  std::map<std::pair<int64_t, int64_t>, Overlap> stored_;
  // Node-based: Get holds references to two entries while adding the
  // second.
  std::unordered_map<int64_t, std::vector<int64_t>> units_;
};

absl::StatusOr<NetworkComparison> CompareNetworksIn(Database& db, int64_t id,
                                                    NetworkKind kind,
                                                    const std::string& user) {
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  FNPROBE_ASSIGN_OR_RETURN(std::optional<Layout> layout,
                           LoadOptionalLayout(db, id));
  NetworkComparison response;
  FNPROBE_ASSIGN_OR_RETURN(
      response.networks,
      LoadSummaries(db, id, kind, "", layout ? &*layout : nullptr));
  const std::vector<NetworkSummary>& networks = response.networks;
  const size_t n = networks.size();
  response.dice.assign(n * n, 0.0);
  response.jaccard.assign(n * n, 0.0);
  OverlapTable overlaps(db, id);
  for (size_t i = 0; i < n; ++i) {
    const double self = networks[i].size > 0 ? 1.0 : 0.0;
    response.dice[i * n + i] = self;
    response.jaccard[i * n + i] = self;
    for (size_t j = i + 1; j < n; ++j) {
      const Overlap o = overlaps.Get(networks[i], networks[j]);
      for (size_t cell : {i * n + j, j * n + i}) {
        response.dice[cell] = o.dice;
        response.jaccard[cell] = o.jaccard;
      }
      response.overlaps.push_back(o);
    }
  }
  return response;
}

absl::StatusOr<Repeatability> GetRepeatabilityIn(Database& db, int64_t id,
                                                 const std::string& user) {
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  FNPROBE_ASSIGN_OR_RETURN(const v1::ExperimentSpec spec, LoadSpec(db, id));
  FNPROBE_ASSIGN_OR_RETURN(
      std::vector<NetworkSummary> runs,
      LoadSummaries(db, id, NetworkKind::kRun, "", nullptr));
  OverlapTable overlaps(db, id);
  Repeatability response;
  double sum = 0;
  size_t pairs = 0;
  for (const v1::PromptPool& pool : spec.conditions()) {
    ConditionRepeatability& c = response.conditions.emplace_back();
    c.condition = pool.name();
    std::vector<const NetworkSummary*> mine;
    for (const NetworkSummary& s : runs) {
      if (s.condition == pool.name()) mine.push_back(&s);
    }
    for (size_t i = 0; i < mine.size(); ++i) {
      for (size_t j = i + 1; j < mine.size(); ++j) {
        RepeatPair& p = c.pairs.emplace_back();
        p.run_a_id = mine[i]->run_id;
        p.run_b_id = mine[j]->run_id;
        p.repeat_a = mine[i]->repeat;
        p.repeat_b = mine[j]->repeat;
        p.dice = overlaps.Get(*mine[i], *mine[j]).dice;
        c.mean_dice += p.dice;
      }
    }
    sum += c.mean_dice;
    pairs += c.pairs.size();
    if (!c.pairs.empty()) c.mean_dice /= static_cast<double>(c.pairs.size());
  }
  response.mean_dice = pairs > 0 ? sum / static_cast<double>(pairs) : 0.0;
  return response;
}

// --- GetClassification ---

double JsonNumber(const Json& j, const char* key) {
  if (!j.contains(key) || !j[key].is_number()) {
    return std::numeric_limits<double>::quiet_NaN();
  }
  return j[key].get<double>();
}

absl::Status FillPrediction(const std::string& scores_json, int64_t run_id,
                            HeldOutPrediction* p) {
  const Json j = Json::parse(scores_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("scores") || !j["scores"].is_array()) {
    return absl::DataLossError(absl::StrCat("classification of run ", run_id,
                                            ": scores_json is malformed"));
  }
  if (j.contains("predicted_by_correlation") &&
      j["predicted_by_correlation"].is_string()) {
    p->predicted_condition_by_correlation =
        j["predicted_by_correlation"].get<std::string>();
  }
  for (const Json& s : j["scores"]) {
    if (!s.is_object()) continue;
    ConditionScore& score = p->scores.emplace_back();
    if (s.contains("condition") && s["condition"].is_string()) {
      score.condition = s["condition"].get<std::string>();
    }
    score.mean_t = JsonNumber(s, "mean_t");
    score.correlation = JsonNumber(s, "correlation");
    if (s.contains("network_id") && s["network_id"].is_number_integer()) {
      score.network_id = s["network_id"].get<int64_t>();
    }
  }
  return absl::OkStatus();
}

void Tally(const v1::ExperimentSpec& spec, Classification* r) {
  absl::flat_hash_map<std::string, int> index;
  const int c = spec.conditions_size();
  for (int i = 0; i < c; ++i) {
    index[spec.conditions(i).name()] = i;
    r->conditions.push_back(spec.conditions(i).name());
  }
  r->confusion.assign(static_cast<size_t>(c * c), 0);
  int correct = 0, correct_by_correlation = 0;
  for (const HeldOutPrediction& p : r->predictions) {
    correct += p.predicted_condition == p.true_condition;
    correct_by_correlation +=
        p.predicted_condition_by_correlation == p.true_condition;
    auto t = index.find(p.true_condition);
    auto q = index.find(p.predicted_condition);
    if (t == index.end() || q == index.end()) continue;
    ++r->confusion[static_cast<size_t>(t->second * c + q->second)];
  }
  const int predictions = static_cast<int>(r->predictions.size());
  const double n = predictions;
  r->accuracy = n > 0 ? correct / n : 0.0;
  r->accuracy_by_correlation = n > 0 ? correct_by_correlation / n : 0.0;
  r->chance = c > 0 ? 1.0 / c : 0.0;
  r->correct = correct;
  r->p_value =
      c > 0 ? analysis::BinomialUpperTail(correct, predictions, 1.0 / c) : 1.0;
}

absl::StatusOr<Classification> GetClassificationIn(Database& db, int64_t id,
                                                   const std::string& user) {
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  FNPROBE_ASSIGN_OR_RETURN(const v1::ExperimentSpec spec, LoadSpec(db, id));
  Statement q(db,
              "SELECT c.held_out_run_id, r.repeat_index, c.true_condition, "
              "c.predicted_condition, c.scores_json FROM classifications c "
              "JOIN runs r ON r.id = c.held_out_run_id "
              "WHERE c.experiment_id = ? AND c.method = ? ORDER BY r.id");
  q.bind(1, id);
  q.bind(2, kClassifyMethod);
  Classification response;
  while (q.executeStep()) {
    HeldOutPrediction& p = response.predictions.emplace_back();
    p.run_id = q.getColumn(0).getInt64();
    p.repeat = q.getColumn(1).getInt();
    p.true_condition = q.getColumn(2).getString();
    p.predicted_condition = q.getColumn(3).getString();
    FNPROBE_RETURN_IF_ERROR(
        FillPrediction(q.getColumn(4).getString(), p.run_id, &p));
  }
  if (response.predictions.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "experiment ", id,
        " has no classification (analysis.classify is off, or the analysis "
        "has not finished)"));
  }
  Tally(spec, &response);
  return response;
}

// --- GetRunEvents ---

// The stored events of response->run, as rows and as EventsTsv text.
void AddEvents(Database& db, RunEvents* response) {
  Statement q(db,
              "SELECT onset, duration, trial_type FROM events "
              "WHERE run_id = ? ORDER BY onset, id");
  q.bind(1, response->run.id);
  RunPlan stored;
  while (q.executeStep()) {
    stored.events.push_back({q.getColumn(0).getDouble(),
                             q.getColumn(1).getDouble(),
                             q.getColumn(2).getString()});
    response->events.push_back({stored.events.back().onset,
                                stored.events.back().duration,
                                stored.events.back().trial_type});
  }
  response->events_tsv = EventsTsv(stored);
}

// Each prompt's generated text, its tokens' texts in step order, as the
// run stored them (none before it is done).
void AddGeneratedTexts(Database& db, RunEvents* response) {
  Statement q(db,
              "SELECT prompt_index, text FROM generations WHERE run_id = ? "
              "ORDER BY prompt_index, step");
  q.bind(1, response->run.id);
  std::vector<std::string> texts;
  while (q.executeStep()) {
    const int64_t prompt = q.getColumn(0).getInt64();
    // The prompts of one run are few; an index past this is not a prompt.
    if (prompt < 0 || prompt >= (int64_t{1} << 20)) continue;
    if (texts.size() <= static_cast<size_t>(prompt)) {
      texts.resize(static_cast<size_t>(prompt) + 1);
    }
    texts[static_cast<size_t>(prompt)] += q.getColumn(1).getString();
  }
  response->generated_texts = std::move(texts);
}

absl::StatusOr<RunEvents> GetRunEventsIn(Database& db, int64_t id, int index,
                                         const std::string& user) {
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  // The prompts as planned at submission, with the runs (read once). An
  // experiment planned by an earlier planner whose plan was not stored gets
  // no prompts rather than another plan's.
  std::vector<RunRow> runs;
  absl::StatusOr<std::vector<RunPlan>> plans = LoadPlans(db, id, &runs);
  if (index < 0 || index >= static_cast<int>(runs.size())) {
    return absl::OutOfRangeError(
        absl::StrCat("run index ", index, " is out of range: experiment ", id,
                     " has ", runs.size(), " runs"));
  }
  RunEvents response;
  response.run = std::move(runs[index]);
  AddEvents(db, &response);
  AddGeneratedTexts(db, &response);
  if (absl::IsFailedPrecondition(plans.status())) return response;
  if (!plans.ok()) return plans.status();
  response.prompts = (*plans)[index].prompts;
  return response;
}

// --- FindUnit ---

absl::StatusOr<int64_t> RequestedUnit(const UnitQuery& query,
                                      const Layout& layout) {
  if (!query.unit_name.empty()) return layout.ParseUnit(query.unit_name);
  if (query.unit < 0 || query.unit >= layout.width()) {
    return absl::InvalidArgumentError(absl::StrCat("unit ", query.unit,
                                                   " is outside the layout's ",
                                                   layout.width(), " units"));
  }
  return query.unit;
}

absl::StatusOr<UnitNetworks> FindUnitIn(Database& db, const UnitQuery& query,
                                        const std::string& user) {
  const int64_t id = query.experiment_id;
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  FNPROBE_ASSIGN_OR_RETURN(const Layout layout, LoadLayout(db, id));
  FNPROBE_ASSIGN_OR_RETURN(const int64_t unit, RequestedUnit(query, layout));
  UnitNetworks response;
  response.unit = unit;
  FNPROBE_ASSIGN_OR_RETURN(response.name, layout.UnitName(unit));
  // network_units_by_unit: one index range for the unit.
  Statement q(db, absl::StrCat("SELECT ", kSummaryColumns,
                               ", nu.beta, nu.t, nu.p, nu.q "
                               "FROM network_units nu JOIN networks n "
                               "ON n.id = nu.network_id",
                               kSummaryJoins,
                               " WHERE nu.unit = ? AND n.experiment_id = ? "
                               "ORDER BY n.id"));
  q.bind(1, unit);
  q.bind(2, id);
  const int k = kNumSummaryColumns;
  while (q.executeStep()) {
    UnitMembership& m = response.networks.emplace_back();
    m.network = ReadSummary(q, &layout);
    m.unit = MakeUnit({unit, DoubleOrNan(q, k), DoubleOrNan(q, k + 1),
                       DoubleOrNan(q, k + 2), DoubleOrNan(q, k + 3)},
                      &layout);
  }
  return response;
}

// --- GetStatMap ---

absl::StatusOr<StoredStatMap> GetStatMapIn(Database& db,
                                           const StatMapQuery& query,
                                           const std::string& user) {
  const int64_t id = query.experiment_id;
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  const bool by_run = query.run_id != 0;
  if (by_run == !query.condition.empty()) {
    return absl::InvalidArgumentError(
        "GetStatMap needs exactly one of condition and run_id");
  }
  Statement q(db, by_run ? "SELECT run_id, condition, stats_blob FROM glm_maps "
                           "WHERE experiment_id = ? AND run_id = ?"
                         : "SELECT run_id, condition, stats_blob FROM glm_maps "
                           "WHERE experiment_id = ? AND run_id IS NULL AND "
                           "excluded_run_id IS NULL AND condition = ? "
                           "ORDER BY id LIMIT 1");
  q.bind(1, id);
  if (by_run) {
    q.bind(2, query.run_id);
  } else {
    q.bind(2, query.condition);
  }
  if (!q.executeStep()) {
    return absl::NotFoundError(absl::StrCat(
        "experiment ", id, " has no map for ",
        by_run ? absl::StrCat("run ", query.run_id)
               : absl::StrCat("condition '", query.condition, "'")));
  }
  absl::StatusOr<analysis::StatMap> map =
      analysis::DecodeStatMap(BlobView(q, 2));
  if (!map.ok()) return Annotate(map.status(), absl::StrCat("experiment ", id));
  StoredStatMap out;
  out.map = *std::move(map);
  out.run_id = q.getColumn(0).isNull() ? 0 : q.getColumn(0).getInt64();
  out.condition = TextOrEmpty(q, 1);
  FNPROBE_ASSIGN_OR_RETURN(out.layout, LoadOptionalLayout(db, id));
  return out;
}

}  // namespace

absl::StatusOr<std::vector<NetworkSummary>> ResultQueries::ListNetworks(
    const NetworkListQuery& query, const std::string& user) {
  return db_->Run("ListNetworks", [&](Database& db) {
    return ListNetworksIn(db, query, user);
  });
}

absl::StatusOr<NetworkPage> ResultQueries::GetNetwork(const NetworkQuery& query,
                                                      const std::string& user) {
  return db_->Run("GetNetwork",
                  [&](Database& db) { return GetNetworkIn(db, query, user); });
}

absl::StatusOr<NetworkComparison> ResultQueries::CompareNetworks(
    int64_t experiment_id, NetworkKind kind, const std::string& user) {
  return db_->Run("CompareNetworks", [&](Database& db) {
    return CompareNetworksIn(db, experiment_id, kind, user);
  });
}

absl::StatusOr<Repeatability> ResultQueries::GetRepeatability(
    int64_t experiment_id, const std::string& user) {
  return db_->Run("GetRepeatability", [&](Database& db) {
    return GetRepeatabilityIn(db, experiment_id, user);
  });
}

absl::StatusOr<Classification> ResultQueries::GetClassification(
    int64_t experiment_id, const std::string& user) {
  return db_->Run("GetClassification", [&](Database& db) {
    return GetClassificationIn(db, experiment_id, user);
  });
}

absl::StatusOr<RunEvents> ResultQueries::GetRunEvents(int64_t experiment_id,
                                                      int run_index,
                                                      const std::string& user) {
  return db_->Run("GetRunEvents", [&](Database& db) {
    return GetRunEventsIn(db, experiment_id, run_index, user);
  });
}

absl::StatusOr<UnitNetworks> ResultQueries::FindUnit(const UnitQuery& query,
                                                     const std::string& user) {
  return db_->Run("FindUnit",
                  [&](Database& db) { return FindUnitIn(db, query, user); });
}

absl::StatusOr<StoredStatMap> ResultQueries::GetStatMap(
    const StatMapQuery& query, const std::string& user) {
  return db_->Run("GetStatMap",
                  [&](Database& db) { return GetStatMapIn(db, query, user); });
}

}  // namespace fnprobe::worker
