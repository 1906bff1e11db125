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
#include "common/layout_proto.h"
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
    "COALESCE(n.inference, 'token')";
constexpr int kNumSummaryColumns = 15;
constexpr char kSummaryJoins[] =
    " LEFT JOIN runs r ON r.id = n.run_id "
    "LEFT JOIN glm_maps g ON g.id = n.glm_map_id";

void FillHookCounts(const std::string& json, const Layout& layout,
                    v1::NetworkSummary* s) {
  if (json.empty() || s->layout_hash() != layout.hash()) return;
  const Json counts = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!counts.is_array() || counts.size() != layout.size()) return;
  for (size_t i = 0; i < layout.size(); ++i) {
    v1::HookCount* c = s->add_size_by_hook();
    c->set_hook(layout.hooks()[i].name);
    c->set_count(counts[i].is_number_integer() ? counts[i].get<int64_t>() : 0);
  }
}

v1::NetworkSummary ReadSummary(const Statement& q, const Layout* layout) {
  v1::NetworkSummary s;
  s.set_id(q.getColumn(0).getInt64());
  s.set_experiment_id(q.getColumn(1).getInt64());
  s.set_condition(TextOrEmpty(q, 3));
  if (!q.getColumn(2).isNull()) {
    s.set_kind(v1::NETWORK_RUN);
    s.set_run_id(q.getColumn(2).getInt64());
    s.set_repeat(q.getColumn(11).getInt());
  } else if (!q.getColumn(4).isNull()) {
    s.set_kind(v1::NETWORK_LEAVE_ONE_OUT);
    s.set_excluded_run_id(q.getColumn(4).getInt64());
  } else {
    s.set_kind(v1::NETWORK_CONDITION);
  }
  s.set_contrast(TextOrEmpty(q, 5));
  s.set_threshold_method(TextOrEmpty(q, 6));
  s.set_alpha(q.getColumn(7).getDouble());
  s.set_threshold(q.getColumn(8).getDouble());
  s.set_size(q.getColumn(9).getInt64());
  s.set_layout_hash(ParseHexHash(q.getColumn(10).getString()));
  s.set_dof(q.getColumn(12).getDouble());
  if (layout != nullptr) FillHookCounts(TextOrEmpty(q, 13), *layout, &s);
  s.set_inference(TextOrEmpty(q, 14));
  return s;
}

absl::StatusOr<const char*> KindCondition(v1::NetworkKind kind) {
  switch (kind) {
    case v1::NETWORK_KIND_UNSPECIFIED:
    case v1::NETWORK_CONDITION:
      return "n.run_id IS NULL AND n.excluded_run_id IS NULL";
    case v1::NETWORK_RUN:
      return "n.run_id IS NOT NULL";
    case v1::NETWORK_LEAVE_ONE_OUT:
      return "n.excluded_run_id IS NOT NULL";
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("kind ", static_cast<int>(kind), " is unknown"));
  }
}

// The GLM networks of one kind (and condition, unless empty), in id order.
absl::StatusOr<std::vector<v1::NetworkSummary>> LoadSummaries(
    Database& db, int64_t experiment_id, v1::NetworkKind kind,
    const std::string& condition, const Layout* layout) {
  FNPROBE_ASSIGN_OR_RETURN(const char* kind_sql, KindCondition(kind));
  Statement q(db, absl::StrCat("SELECT ", kSummaryColumns, " FROM networks n",
                               kSummaryJoins,
                               " WHERE n.experiment_id = ?1 AND "
                               "n.method = 'glm' AND (?2 = '' OR "
                               "n.condition = ?2) AND ",
                               kind_sql, " ORDER BY n.id"));
  q.bind(1, experiment_id);
  q.bind(2, condition);
  std::vector<v1::NetworkSummary> out;
  while (q.executeStep()) out.push_back(ReadSummary(q, layout));
  return out;
}

absl::StatusOr<v1::ListNetworksResponse> ListNetworksIn(
    Database& db, const v1::ListNetworksRequest& request,
    const std::string& user) {
  const int64_t id = request.experiment_id();
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  FNPROBE_ASSIGN_OR_RETURN(std::optional<Layout> layout,
                           LoadOptionalLayout(db, id));
  FNPROBE_ASSIGN_OR_RETURN(
      std::vector<v1::NetworkSummary> networks,
      LoadSummaries(db, id, request.kind(), request.condition(),
                    layout ? &*layout : nullptr));
  v1::ListNetworksResponse response;
  for (v1::NetworkSummary& s : networks) {
    *response.add_networks() = std::move(s);
  }
  return response;
}

// A network with its experiment's layout, ownership checked (a foreign
// network is NOT_FOUND, as a missing one).
struct LoadedNetwork {
  v1::NetworkSummary summary;
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
    const v1::GetNetworkRequest& request, const Layout& layout) {
  std::vector<std::pair<int64_t, int64_t>> ranges;
  const std::string layer_prefix =
      absl::StrCat("blocks.", request.layer(), ".");
  for (size_t i = 0; i < layout.size(); ++i) {
    const std::string& name = layout.hooks()[i].name;
    if (!request.hook().empty() &&
        fnmatch(request.hook().c_str(), name.c_str(), 0) != 0) {
      continue;
    }
    if (request.has_layer() && !absl::StartsWith(name, layer_prefix)) continue;
    ranges.emplace_back(layout.offset(i),
                        layout.offset(i) + layout.hooks()[i].width);
  }
  if (ranges.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "hook '", request.hook(), "'",
        request.has_layer() ? absl::StrCat(" in layer ", request.layer()) : "",
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

void FillUnit(const UnitRow& row, const Layout* layout, v1::NetworkUnit* u) {
  u->set_unit(row.unit);
  if (layout != nullptr) {
    absl::StatusOr<std::string> name = layout->UnitName(row.unit);
    if (name.ok()) u->set_name(*std::move(name));
  }
  u->set_beta(row.beta);
  u->set_t(row.t);
  u->set_p(row.p);
  u->set_q(row.q);
}

absl::StatusOr<v1::GetNetworkResponse> GetNetworkIn(
    Database& db, const v1::GetNetworkRequest& request,
    const std::string& user) {
  if (request.page_size() < 0 || request.page_size() > kMaxUnitPage) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size ", request.page_size(), " is not in [0, ",
                     kMaxUnitPage, "]"));
  }
  const int64_t page =
      request.page_size() == 0 ? kDefaultUnitPage : request.page_size();
  FNPROBE_ASSIGN_OR_RETURN(const int64_t offset,
                           ParsePageToken(request.page_token(), 0));
  FNPROBE_ASSIGN_OR_RETURN(LoadedNetwork network,
                           LoadNetwork(db, request.network_id(), user));
  const Layout* layout = network.layout ? &*network.layout : nullptr;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  const bool filtered = !request.hook().empty() || request.has_layer();
  if (filtered && layout != nullptr) {
    FNPROBE_ASSIGN_OR_RETURN(ranges, UnitRanges(request, *layout));
  }
  std::vector<UnitRow> rows =
      LoadUnits(db, request.network_id(), filtered ? &ranges : nullptr);
  v1::GetNetworkResponse response;
  response.set_total_units(static_cast<int64_t>(rows.size()));
  const int64_t begin = std::min<int64_t>(offset, rows.size());
  const int64_t end = std::min<int64_t>(begin + page, rows.size());
  // Only the rows up to this page's end need to be in order.
  std::partial_sort(rows.begin(), rows.begin() + end, rows.end(), ByAbsT);
  for (int64_t i = begin; i < end; ++i) {
    FillUnit(rows[i], layout, response.add_units());
  }
  if (end < static_cast<int64_t>(rows.size())) {
    response.set_next_page_token(std::to_string(end));
  }
  *response.mutable_network() = std::move(network.summary);
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
      v1::Overlap o;
      o.set_network_a_id(q.getColumn(0).getInt64());
      o.set_network_b_id(q.getColumn(1).getInt64());
      o.set_intersection(q.getColumn(2).getInt64());
      o.set_dice(q.getColumn(3).getDouble());
      o.set_jaccard(q.getColumn(4).getDouble());
      stored_[{o.network_a_id(), o.network_b_id()}] = o;
    }
  }

  // The overlap of two networks (a.id() < b.id()).
  v1::Overlap Get(const v1::NetworkSummary& a, const v1::NetworkSummary& b) {
    auto it = stored_.find({a.id(), b.id()});
    if (it != stored_.end()) return it->second;
    v1::Overlap o;
    o.set_network_a_id(a.id());
    o.set_network_b_id(b.id());
    const analysis::OverlapEntry e =
        analysis::UnitOverlap(Units(a.id()), Units(b.id()));
    o.set_intersection(e.intersection);
    o.set_dice(e.dice);
    o.set_jaccard(e.jaccard);
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
  std::map<std::pair<int64_t, int64_t>, v1::Overlap> stored_;
  // Node-based: Get holds references to two entries while adding the
  // second.
  std::unordered_map<int64_t, std::vector<int64_t>> units_;
};

absl::StatusOr<v1::CompareNetworksResponse> CompareNetworksIn(
    Database& db, const v1::CompareNetworksRequest& request,
    const std::string& user) {
  const int64_t id = request.experiment_id();
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  FNPROBE_ASSIGN_OR_RETURN(std::optional<Layout> layout,
                           LoadOptionalLayout(db, id));
  FNPROBE_ASSIGN_OR_RETURN(
      std::vector<v1::NetworkSummary> networks,
      LoadSummaries(db, id, request.kind(), "", layout ? &*layout : nullptr));
  const size_t n = networks.size();
  v1::CompareNetworksResponse response;
  response.mutable_dice()->Resize(static_cast<int>(n * n), 0.0);
  response.mutable_jaccard()->Resize(static_cast<int>(n * n), 0.0);
  OverlapTable overlaps(db, id);
  for (size_t i = 0; i < n; ++i) {
    const double self = networks[i].size() > 0 ? 1.0 : 0.0;
    response.set_dice(static_cast<int>(i * n + i), self);
    response.set_jaccard(static_cast<int>(i * n + i), self);
    for (size_t j = i + 1; j < n; ++j) {
      const v1::Overlap o = overlaps.Get(networks[i], networks[j]);
      for (size_t cell : {i * n + j, j * n + i}) {
        response.set_dice(static_cast<int>(cell), o.dice());
        response.set_jaccard(static_cast<int>(cell), o.jaccard());
      }
      *response.add_overlaps() = o;
    }
  }
  for (v1::NetworkSummary& s : networks) {
    *response.add_networks() = std::move(s);
  }
  return response;
}

absl::StatusOr<v1::GetRepeatabilityResponse> GetRepeatabilityIn(
    Database& db, const v1::GetRepeatabilityRequest& request,
    const std::string& user) {
  const int64_t id = request.experiment_id();
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  FNPROBE_ASSIGN_OR_RETURN(const v1::ExperimentSpec spec, LoadSpec(db, id));
  FNPROBE_ASSIGN_OR_RETURN(std::vector<v1::NetworkSummary> runs,
                           LoadSummaries(db, id, v1::NETWORK_RUN, "", nullptr));
  OverlapTable overlaps(db, id);
  v1::GetRepeatabilityResponse response;
  double sum = 0;
  int pairs = 0;
  for (const v1::PromptPool& pool : spec.conditions()) {
    v1::ConditionRepeatability* c = response.add_conditions();
    c->set_condition(pool.name());
    std::vector<const v1::NetworkSummary*> mine;
    for (const v1::NetworkSummary& s : runs) {
      if (s.condition() == pool.name()) mine.push_back(&s);
    }
    for (size_t i = 0; i < mine.size(); ++i) {
      for (size_t j = i + 1; j < mine.size(); ++j) {
        v1::RepeatPair* p = c->add_pairs();
        p->set_run_a_id(mine[i]->run_id());
        p->set_run_b_id(mine[j]->run_id());
        p->set_repeat_a(mine[i]->repeat());
        p->set_repeat_b(mine[j]->repeat());
        p->set_dice(overlaps.Get(*mine[i], *mine[j]).dice());
        c->set_mean_dice(c->mean_dice() + p->dice());
      }
    }
    sum += c->mean_dice();
    pairs += c->pairs_size();
    if (c->pairs_size() > 0) c->set_mean_dice(c->mean_dice() / c->pairs_size());
  }
  response.set_mean_dice(pairs > 0 ? sum / pairs : 0.0);
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
                            v1::HeldOutPrediction* p) {
  const Json j = Json::parse(scores_json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("scores") || !j["scores"].is_array()) {
    return absl::DataLossError(absl::StrCat("classification of run ", run_id,
                                            ": scores_json is malformed"));
  }
  if (j.contains("predicted_by_correlation") &&
      j["predicted_by_correlation"].is_string()) {
    p->set_predicted_condition_by_correlation(
        j["predicted_by_correlation"].get<std::string>());
  }
  for (const Json& s : j["scores"]) {
    if (!s.is_object()) continue;
    v1::ConditionScore* score = p->add_scores();
    if (s.contains("condition") && s["condition"].is_string()) {
      score->set_condition(s["condition"].get<std::string>());
    }
    score->set_mean_t(JsonNumber(s, "mean_t"));
    score->set_correlation(JsonNumber(s, "correlation"));
    if (s.contains("network_id") && s["network_id"].is_number_integer()) {
      score->set_network_id(s["network_id"].get<int64_t>());
    }
  }
  return absl::OkStatus();
}

void Tally(const v1::ExperimentSpec& spec, v1::GetClassificationResponse* r) {
  absl::flat_hash_map<std::string, int> index;
  const int c = spec.conditions_size();
  for (int i = 0; i < c; ++i) {
    index[spec.conditions(i).name()] = i;
    r->add_conditions(spec.conditions(i).name());
  }
  r->mutable_confusion()->Resize(c * c, 0);
  int correct = 0, correct_by_correlation = 0;
  for (const v1::HeldOutPrediction& p : r->predictions()) {
    correct += p.predicted_condition() == p.true_condition();
    correct_by_correlation +=
        p.predicted_condition_by_correlation() == p.true_condition();
    auto t = index.find(p.true_condition());
    auto q = index.find(p.predicted_condition());
    if (t == index.end() || q == index.end()) continue;
    const int cell = t->second * c + q->second;
    r->set_confusion(cell, r->confusion(cell) + 1);
  }
  const double n = r->predictions_size();
  r->set_accuracy(n > 0 ? correct / n : 0.0);
  r->set_accuracy_by_correlation(n > 0 ? correct_by_correlation / n : 0.0);
  r->set_chance(c > 0 ? 1.0 / c : 0.0);
  r->set_correct(correct);
  r->set_p_value(c > 0 ? analysis::BinomialUpperTail(
                             correct, r->predictions_size(), 1.0 / c)
                       : 1.0);
}

absl::StatusOr<v1::GetClassificationResponse> GetClassificationIn(
    Database& db, const v1::GetClassificationRequest& request,
    const std::string& user) {
  const int64_t id = request.experiment_id();
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  FNPROBE_ASSIGN_OR_RETURN(const v1::ExperimentSpec spec, LoadSpec(db, id));
  Statement q(db,
              "SELECT c.held_out_run_id, r.repeat_index, c.true_condition, "
              "c.predicted_condition, c.scores_json FROM classifications c "
              "JOIN runs r ON r.id = c.held_out_run_id "
              "WHERE c.experiment_id = ? AND c.method = ? ORDER BY r.id");
  q.bind(1, id);
  q.bind(2, kClassifyMethod);
  v1::GetClassificationResponse response;
  while (q.executeStep()) {
    v1::HeldOutPrediction* p = response.add_predictions();
    p->set_run_id(q.getColumn(0).getInt64());
    p->set_repeat(q.getColumn(1).getInt());
    p->set_true_condition(q.getColumn(2).getString());
    p->set_predicted_condition(q.getColumn(3).getString());
    FNPROBE_RETURN_IF_ERROR(
        FillPrediction(q.getColumn(4).getString(), p->run_id(), p));
  }
  if (response.predictions_size() == 0) {
    return absl::NotFoundError(absl::StrCat(
        "experiment ", id,
        " has no classification (analysis.classify is off, or the analysis "
        "has not finished)"));
  }
  Tally(spec, &response);
  return response;
}

// --- GetRunEvents ---

// The stored events of response->run(), as rows and as EventsTsv text.
void AddEvents(Database& db, v1::GetRunEventsResponse* response) {
  Statement q(db,
              "SELECT onset, duration, trial_type FROM events "
              "WHERE run_id = ? ORDER BY onset, id");
  q.bind(1, response->run().id());
  RunPlan stored;
  while (q.executeStep()) {
    stored.events.push_back({q.getColumn(0).getDouble(),
                             q.getColumn(1).getDouble(),
                             q.getColumn(2).getString()});
    v1::BidsEventRow* row = response->add_events();
    row->set_onset(stored.events.back().onset);
    row->set_duration(stored.events.back().duration);
    row->set_trial_type(stored.events.back().trial_type);
  }
  response->set_events_tsv(EventsTsv(stored));
}

// Each prompt's generated text, its tokens' texts in step order, as the
// run stored them (none before it is done).
void AddGeneratedTexts(Database& db, v1::GetRunEventsResponse* response) {
  Statement q(db,
              "SELECT prompt_index, text FROM generations WHERE run_id = ? "
              "ORDER BY prompt_index, step");
  q.bind(1, response->run().id());
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
  for (std::string& text : texts) {
    response->add_generated_texts(std::move(text));
  }
}

absl::StatusOr<v1::GetRunEventsResponse> GetRunEventsIn(
    Database& db, const v1::GetRunEventsRequest& request,
    const std::string& user) {
  const int64_t id = request.experiment_id();
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  std::vector<v1::Run> runs = LoadRuns(db, id);
  const int index = request.run_index();
  if (index < 0 || index >= static_cast<int>(runs.size())) {
    return absl::OutOfRangeError(
        absl::StrCat("run index ", index, " is out of range: experiment ", id,
                     " has ", runs.size(), " runs"));
  }
  v1::GetRunEventsResponse response;
  *response.mutable_run() = std::move(runs[index]);
  AddEvents(db, &response);
  AddGeneratedTexts(db, &response);
  // The prompts as planned at submission. An experiment planned by an
  // earlier planner whose plan was not stored gets no prompts rather than
  // another plan's.
  absl::StatusOr<std::vector<RunPlan>> plans = LoadPlans(db, id);
  if (absl::IsFailedPrecondition(plans.status())) return response;
  if (!plans.ok()) return plans.status();
  for (const std::string& prompt : (*plans)[index].prompts) {
    response.add_prompts(prompt);
  }
  return response;
}

// --- FindUnit ---

absl::StatusOr<int64_t> RequestedUnit(const v1::FindUnitRequest& request,
                                      const Layout& layout) {
  if (!request.unit_name().empty()) {
    return layout.ParseUnit(request.unit_name());
  }
  if (request.unit() < 0 || request.unit() >= layout.width()) {
    return absl::InvalidArgumentError(absl::StrCat("unit ", request.unit(),
                                                   " is outside the layout's ",
                                                   layout.width(), " units"));
  }
  return request.unit();
}

absl::StatusOr<v1::FindUnitResponse> FindUnitIn(
    Database& db, const v1::FindUnitRequest& request, const std::string& user) {
  const int64_t id = request.experiment_id();
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  FNPROBE_ASSIGN_OR_RETURN(const Layout layout, LoadLayout(db, id));
  FNPROBE_ASSIGN_OR_RETURN(const int64_t unit, RequestedUnit(request, layout));
  v1::FindUnitResponse response;
  response.set_unit(unit);
  FNPROBE_ASSIGN_OR_RETURN(*response.mutable_name(), layout.UnitName(unit));
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
    v1::UnitMembership* m = response.add_networks();
    *m->mutable_network() = ReadSummary(q, &layout);
    FillUnit({unit, DoubleOrNan(q, k), DoubleOrNan(q, k + 1),
              DoubleOrNan(q, k + 2), DoubleOrNan(q, k + 3)},
             &layout, m->mutable_unit());
  }
  return response;
}

// --- GetStatMap ---

// The map's values; the caller names its condition, run and layout.
v1::StatMap StatMapToProto(const analysis::StatMap& map) {
  v1::StatMap out;
  out.set_contrast(map.contrast);
  out.set_dof(map.dof);
  out.mutable_t()->Add(map.t.begin(), map.t.end());
  out.mutable_beta()->Add(map.effect.begin(), map.effect.end());
  out.mutable_p()->Add(map.p.begin(), map.p.end());
  return out;
}

absl::StatusOr<v1::StatMap> GetStatMapIn(Database& db,
                                         const v1::GetStatMapRequest& request,
                                         const std::string& user) {
  const int64_t id = request.experiment_id();
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  const bool by_run = request.run_id() != 0;
  if (by_run == !request.condition().empty()) {
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
    q.bind(2, request.run_id());
  } else {
    q.bind(2, request.condition());
  }
  if (!q.executeStep()) {
    return absl::NotFoundError(absl::StrCat(
        "experiment ", id, " has no map for ",
        by_run ? absl::StrCat("run ", request.run_id())
               : absl::StrCat("condition '", request.condition(), "'")));
  }
  absl::StatusOr<analysis::StatMap> map =
      analysis::DecodeStatMap(BlobView(q, 2));
  if (!map.ok()) return Annotate(map.status(), absl::StrCat("experiment ", id));
  v1::StatMap out = StatMapToProto(*map);
  out.set_run_id(q.getColumn(0).isNull() ? 0 : q.getColumn(0).getInt64());
  out.set_condition(TextOrEmpty(q, 1));
  FNPROBE_ASSIGN_OR_RETURN(std::optional<Layout> layout,
                           LoadOptionalLayout(db, id));
  if (layout.has_value()) LayoutToProto(*layout, out.mutable_layout());
  return out;
}

}  // namespace

absl::StatusOr<v1::ListNetworksResponse> ResultQueries::ListNetworks(
    const v1::ListNetworksRequest& request, const std::string& user) {
  return db_->Run("ListNetworks", [&](Database& db) {
    return ListNetworksIn(db, request, user);
  });
}

absl::StatusOr<v1::GetNetworkResponse> ResultQueries::GetNetwork(
    const v1::GetNetworkRequest& request, const std::string& user) {
  return db_->Run("GetNetwork", [&](Database& db) {
    return GetNetworkIn(db, request, user);
  });
}

absl::StatusOr<v1::CompareNetworksResponse> ResultQueries::CompareNetworks(
    const v1::CompareNetworksRequest& request, const std::string& user) {
  return db_->Run("CompareNetworks", [&](Database& db) {
    return CompareNetworksIn(db, request, user);
  });
}

absl::StatusOr<v1::GetRepeatabilityResponse> ResultQueries::GetRepeatability(
    const v1::GetRepeatabilityRequest& request, const std::string& user) {
  return db_->Run("GetRepeatability", [&](Database& db) {
    return GetRepeatabilityIn(db, request, user);
  });
}

absl::StatusOr<v1::GetClassificationResponse> ResultQueries::GetClassification(
    const v1::GetClassificationRequest& request, const std::string& user) {
  return db_->Run("GetClassification", [&](Database& db) {
    return GetClassificationIn(db, request, user);
  });
}

absl::StatusOr<v1::GetRunEventsResponse> ResultQueries::GetRunEvents(
    const v1::GetRunEventsRequest& request, const std::string& user) {
  return db_->Run("GetRunEvents", [&](Database& db) {
    return GetRunEventsIn(db, request, user);
  });
}

absl::StatusOr<v1::FindUnitResponse> ResultQueries::FindUnit(
    const v1::FindUnitRequest& request, const std::string& user) {
  return db_->Run("FindUnit",
                  [&](Database& db) { return FindUnitIn(db, request, user); });
}

absl::StatusOr<v1::StatMap> ResultQueries::GetStatMap(
    const v1::GetStatMapRequest& request, const std::string& user) {
  return db_->Run("GetStatMap", [&](Database& db) {
    return GetStatMapIn(db, request, user);
  });
}

}  // namespace fnprobe::worker
