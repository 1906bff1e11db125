#include "server/analysis/worker/result_store.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"
#include "server/analysis/worker/store_database.h"
#include "server/analysis/worker/store_rows.h"

namespace fnprobe::worker {
namespace {

using SQLite::Database;
using SQLite::Statement;
using Json = nlohmann::json;

// --- analysis inputs ---

// Reads run `input->run_id`'s map into *input. A query of its own: joined
// to the runs and sorted, the multi-megabyte blobs would be copied through
// SQLite's sorter.
absl::Status LoadRunMap(Statement& q, analysis::RunInput* input) {
  q.reset();
  q.bind(1, input->run_id);
  if (!q.executeStep() || q.getColumn(0).isNull()) {
    return absl::DataLossError(
        absl::StrCat("run ", input->run_id, " is done but has no stored map"));
  }
  absl::StatusOr<analysis::StatMap> map =
      analysis::DecodeStatMap(BlobView(q, 0));
  if (!map.ok()) {
    return Annotate(map.status(), absl::StrCat("run ", input->run_id));
  }
  input->map = *std::move(map);
  input->permutation_threshold = q.getColumn(1).getDouble();
  return absl::OkStatus();
}

// Reads run `input->run_id`'s prompt values, if it has any, into
// input->prompts.values (labels and texts come from the plan).
absl::Status LoadPromptValues(Statement& q, analysis::RunInput* input) {
  q.reset();
  q.bind(1, input->run_id);
  if (!q.executeStep()) return absl::OkStatus();
  absl::StatusOr<arma::mat> values =
      analysis::DecodePromptValues(BlobView(q, 0));
  if (!values.ok()) {
    return Annotate(values.status(), absl::StrCat("run ", input->run_id));
  }
  input->prompts.values = *std::move(values);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<analysis::RunInput>> LoadRunInputsIn(
    Database& db, int64_t experiment_id) {
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, experiment_id, ""));
  Statement runs(db,
                 "SELECT id, condition, repeat_index, status FROM runs "
                 "WHERE experiment_id = ? ORDER BY id");
  runs.bind(1, experiment_id);
  Statement map(db,
                "SELECT stats_blob, permutation_threshold FROM glm_maps "
                "WHERE run_id = ? ORDER BY id LIMIT 1");
  Statement prompts(db,
                    "SELECT values_blob FROM prompt_values WHERE run_id = ?");
  std::vector<analysis::RunInput> inputs;
  for (int index = 0; runs.executeStep(); ++index) {
    if (runs.getColumn(3).getString() != "done") continue;
    analysis::RunInput input;
    input.run_id = runs.getColumn(0).getInt64();
    input.index = index;
    input.condition = runs.getColumn(1).getString();
    input.repeat = runs.getColumn(2).getInt();
    FNPROBE_RETURN_IF_ERROR(LoadRunMap(map, &input));
    FNPROBE_RETURN_IF_ERROR(LoadPromptValues(prompts, &input));
    inputs.push_back(std::move(input));
  }
  return inputs;
}

absl::Status ReplaceRunMapIn(Database& db, int64_t run_id,
                             const analysis::StatMap& map,
                             double permutation_threshold,
                             const arma::mat& prompt_values) {
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  Statement q(db, "SELECT status, num_units FROM runs WHERE id = ?");
  q.bind(1, run_id);
  if (!q.executeStep()) return RunNotFound(run_id);
  if (q.getColumn(0).getString() != "done") {
    return absl::FailedPreconditionError(
        absl::StrCat("run ", run_id, " is ", q.getColumn(0).getString(),
                     "; only a done run has a map to replace"));
  }
  FNPROBE_RETURN_IF_ERROR(
      CheckMap(map, q.getColumn(1).getInt64(), absl::StrCat("run ", run_id)));
  if (!prompt_values.is_empty() &&
      static_cast<int64_t>(prompt_values.n_cols) != q.getColumn(1).getInt64()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "run ", run_id, ": prompt values over ", prompt_values.n_cols,
        " units, the run ", q.getColumn(1).getInt64()));
  }
  PutPromptValues(db, run_id, prompt_values);
  const std::string blob = analysis::EncodeStatMap(map);
  Statement update(db,
                   "UPDATE glm_maps SET contrast = ?, dof = ?, "
                   "noise_model = ?, stats_blob = ?, stats_path = NULL, "
                   "stats_checksum = NULL, permutation_threshold = ?, "
                   "created_at = " FNPROBE_SQL_NOW " WHERE run_id = ?");
  update.bind(1, map.contrast);
  BindDof(update, 2, map.dof);
  update.bind(3, map.noise_model);
  update.bindNoCopy(4, blob.data(), static_cast<int>(blob.size()));
  update.bind(5, permutation_threshold);
  update.bind(6, run_id);
  if (update.exec() == 0) {
    return absl::DataLossError(
        absl::StrCat("run ", run_id, " is done but has no stored map"));
  }
  tx.commit();
  return absl::OkStatus();
}

// --- SaveAnalysis ---

// A run of the experiment, as SaveAnalysis refers to it.
struct RunRef {
  bool done = false;
  int64_t map_id = 0;  // its glm_maps row; 0 when none
};

absl::flat_hash_map<int64_t, RunRef> LoadRunRefs(Database& db,
                                                 int64_t experiment_id) {
  Statement q(db,
              "SELECT r.id, r.status, g.id FROM runs r LEFT JOIN glm_maps g "
              "ON g.run_id = r.id WHERE r.experiment_id = ?");
  q.bind(1, experiment_id);
  absl::flat_hash_map<int64_t, RunRef> refs;
  while (q.executeStep()) {
    RunRef& ref = refs[q.getColumn(0).getInt64()];
    ref.done = q.getColumn(1).getString() == "done";
    if (!q.getColumn(2).isNull()) ref.map_id = q.getColumn(2).getInt64();
  }
  return refs;
}

// Which condition (and, for leave-one-out, which excluded run) a condition
// map belongs to; AnalysisResult says so only through its networks.
struct MapIdentity {
  std::string condition;
  int64_t excluded_run_id = 0;
  bool known = false;
};

absl::StatusOr<std::vector<MapIdentity>> IdentifyConditionMaps(
    const analysis::AnalysisResult& result, const v1::ExperimentSpec& spec) {
  std::vector<MapIdentity> ids(result.condition_maps.size());
  for (size_t i = 0; i < result.networks.size(); ++i) {
    const analysis::Network& n = result.networks[i];
    if (n.kind == analysis::NetworkKind::kRun) continue;
    MapIdentity id{
        n.condition,
        n.kind == analysis::NetworkKind::kLeaveOneOut ? n.excluded_run_id : 0,
        true};
    MapIdentity& slot = ids[n.map_index];  // Range checked before.
    if (slot.known && (slot.condition != id.condition ||
                       slot.excluded_run_id != id.excluded_run_id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "analysis: networks disagree about condition map ", n.map_index));
    }
    slot = id;
  }
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].known) continue;
    if (static_cast<int>(i) >= spec.conditions_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "analysis: condition map ", i, " belongs to no network"));
    }
    ids[i] = {spec.conditions(static_cast<int>(i)).name(), 0, true};
  }
  return ids;
}

absl::Status CheckNetwork(const analysis::Network& n, size_t i,
                          const analysis::AnalysisResult& result,
                          const Layout& layout,
                          const absl::flat_hash_map<int64_t, RunRef>& runs) {
  const std::string what = absl::StrCat("analysis: network ", i);
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", why));
  };
  if (n.kind == analysis::NetworkKind::kRun) {
    auto it = runs.find(n.run_id);
    if (it == runs.end() || !it->second.done || it->second.map_id == 0) {
      return bad(absl::StrCat("run ", n.run_id,
                              " is not a done run of the experiment"));
    }
  } else {
    if (n.map_index < 0 ||
        n.map_index >= static_cast<int>(result.condition_maps.size())) {
      return bad(absl::StrCat("map_index ", n.map_index, " out of range"));
    }
    if (n.condition.empty()) return bad("empty condition");
  }
  if (n.kind == analysis::NetworkKind::kLeaveOneOut &&
      !runs.contains(n.excluded_run_id)) {
    return bad(absl::StrCat("excluded run ", n.excluded_run_id,
                            " is not a run of the experiment"));
  }
  const size_t size = n.units.size();
  for (const std::vector<double>* v : {&n.beta, &n.t, &n.p, &n.q}) {
    if (!v->empty() && v->size() != size) return bad("statistics sizes differ");
  }
  for (size_t k = 0; k < size; ++k) {
    if (n.units[k] < 0 || n.units[k] >= layout.width() ||
        (k > 0 && n.units[k] <= n.units[k - 1])) {
      return bad("units must ascend within the layout");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckResult(const analysis::AnalysisResult& result,
                         const Layout& layout,
                         const absl::flat_hash_map<int64_t, RunRef>& runs) {
  if (layout.width() <= 0) {
    return absl::InvalidArgumentError("analysis: empty layout");
  }
  for (size_t i = 0; i < result.condition_maps.size(); ++i) {
    FNPROBE_RETURN_IF_ERROR(
        CheckMap(result.condition_maps[i], layout.width(),
                 absl::StrCat("analysis: condition map ", i)));
  }
  for (size_t i = 0; i < result.networks.size(); ++i) {
    FNPROBE_RETURN_IF_ERROR(
        CheckNetwork(result.networks[i], i, result, layout, runs));
  }
  const int n = static_cast<int>(result.networks.size());
  for (const analysis::OverlapEntry& o : result.overlaps) {
    if (o.a < 0 || o.b < 0 || o.a >= n || o.b >= n || o.a == o.b) {
      return absl::InvalidArgumentError(absl::StrCat(
          "analysis: overlap (", o.a, ", ", o.b, ") out of range"));
    }
  }
  for (const analysis::HeldOutResult& h : result.held_out) {
    if (!runs.contains(h.run_id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "analysis: held-out run ", h.run_id, " is not of the experiment"));
    }
    for (const analysis::HeldOutScore& s : h.scores) {
      if (s.network < 0 || s.network >= n) {
        return absl::InvalidArgumentError(absl::StrCat(
            "analysis: held-out score network ", s.network, " out of range"));
      }
    }
  }
  return absl::OkStatus();
}

// Deletes what a previous SaveAnalysis stored. Children first, explicitly:
// range deletes on their primary keys beat per-row cascades.
void DeleteAnalysis(Database& db, int64_t experiment_id) {
  const std::string glm_networks = absl::StrCat(
      "(SELECT id FROM networks WHERE experiment_id = ", experiment_id,
      " AND method = 'glm')");
  db.exec(absl::StrCat("DELETE FROM classifications WHERE experiment_id = ",
                       experiment_id));
  db.exec(absl::StrCat("DELETE FROM overlaps WHERE network_a_id IN ",
                       glm_networks, " OR network_b_id IN ", glm_networks));
  db.exec(absl::StrCat("DELETE FROM network_units WHERE network_id IN ",
                       glm_networks));
  db.exec(absl::StrCat("DELETE FROM networks WHERE experiment_id = ",
                       experiment_id, " AND method = 'glm'"));
  db.exec(absl::StrCat("DELETE FROM glm_maps WHERE experiment_id = ",
                       experiment_id, " AND run_id IS NULL"));
}

std::vector<int64_t> InsertConditionMaps(
    Database& db, int64_t experiment_id,
    const std::vector<analysis::StatMap>& maps,
    const std::vector<MapIdentity>& ids, const Layout& layout) {
  Statement insert(
      db,
      "INSERT INTO glm_maps (experiment_id, condition, excluded_run_id, "
      "contrast, stat, layout_hash, num_units, dof, noise_model, stats_blob) "
      "VALUES (?, ?, ?, ?, 't', ?, ?, ?, ?, ?)");
  std::vector<int64_t> map_ids;
  for (size_t i = 0; i < maps.size(); ++i) {
    const std::string blob = analysis::EncodeStatMap(maps[i]);
    insert.bind(1, experiment_id);
    insert.bind(2, ids[i].condition);
    BindIdOrNull(insert, 3, ids[i].excluded_run_id);
    insert.bind(4, maps[i].contrast);
    insert.bind(5, layout.HashHex());
    insert.bind(6, layout.width());
    BindDof(insert, 7, maps[i].dof);
    insert.bind(8, maps[i].noise_model);
    insert.bindNoCopy(9, blob.data(), static_cast<int>(blob.size()));
    insert.exec();
    insert.reset();
    map_ids.push_back(db.getLastInsertRowid());
  }
  return map_ids;
}

std::string ThresholdMethodText(const std::string& method) {
  std::string text = method.empty() ? "none" : method;
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return text;
}

void BindNetwork(Statement& insert, int64_t experiment_id,
                 const analysis::Network& n, int64_t map_id,
                 const Layout& layout) {
  const bool run = n.kind == analysis::NetworkKind::kRun;
  const bool loo = n.kind == analysis::NetworkKind::kLeaveOneOut;
  insert.bind(1, experiment_id);
  BindIdOrNull(insert, 2, run ? n.run_id : 0);
  BindTextOrNull(insert, 3, n.condition);
  BindIdOrNull(insert, 4, loo ? n.excluded_run_id : 0);
  BindIdOrNull(insert, 5, map_id);
  BindTextOrNull(insert, 6, n.contrast);
  insert.bind(7, layout.HashHex());
  insert.bind(8, ThresholdMethodText(n.threshold_method));
  if (n.alpha > 0 && n.alpha < 1) {
    insert.bind(9, n.alpha);
  } else {
    insert.bind(9);
  }
  insert.bind(10, n.threshold);
  insert.bind(11, static_cast<int64_t>(n.units.size()));
  insert.bind(12, Dump(Json(HookCounts(layout, n.units))));
  insert.bind(13, n.inference);
}

std::vector<int64_t> InsertNetworks(
    Database& db, int64_t experiment_id, const analysis::AnalysisResult& result,
    const std::vector<int64_t>& condition_map_ids,
    const absl::flat_hash_map<int64_t, RunRef>& runs, const Layout& layout) {
  Statement insert(
      db,
      "INSERT INTO networks (experiment_id, run_id, condition, "
      "excluded_run_id, glm_map_id, method, contrast, layout_hash, "
      "threshold_method, alpha, threshold, size, hook_counts_json, "
      "inference) VALUES (?, ?, ?, ?, ?, 'glm', ?, ?, ?, ?, ?, ?, ?, ?)");
  std::vector<int64_t> ids;
  ids.reserve(result.networks.size());
  for (const analysis::Network& n : result.networks) {
    const int64_t map_id = n.kind == analysis::NetworkKind::kRun
                               ? runs.at(n.run_id).map_id
                               : condition_map_ids[n.map_index];
    BindNetwork(insert, experiment_id, n, map_id, layout);
    insert.exec();
    insert.reset();
    ids.push_back(db.getLastInsertRowid());
  }
  return ids;
}

double StatAt(const std::vector<double>& v, size_t k) {
  return v.empty() ? std::numeric_limits<double>::quiet_NaN() : v[k];
}

// One prepared statement for every unit of every network: the bulk of
// SaveAnalysis's rows.
void InsertNetworkUnits(Database& db, const analysis::AnalysisResult& result,
                        const std::vector<int64_t>& network_ids) {
  Statement insert(db,
                   "INSERT INTO network_units (network_id, unit, beta, t, p, "
                   "q) VALUES (?, ?, ?, ?, ?, ?)");
  for (size_t i = 0; i < result.networks.size(); ++i) {
    const analysis::Network& n = result.networks[i];
    for (size_t k = 0; k < n.units.size(); ++k) {
      insert.bind(1, network_ids[i]);
      insert.bind(2, n.units[k]);
      insert.bind(3, StatAt(n.beta, k));
      insert.bind(4, StatAt(n.t, k));
      BindProbability(insert, 5, StatAt(n.p, k));
      BindProbability(insert, 6, StatAt(n.q, k));
      insert.exec();
      insert.reset();
    }
  }
}

void InsertOverlaps(Database& db, const analysis::AnalysisResult& result,
                    const std::vector<int64_t>& network_ids) {
  Statement insert(db,
                   "INSERT OR REPLACE INTO overlaps (network_a_id, "
                   "network_b_id, intersection, dice, jaccard) "
                   "VALUES (?, ?, ?, ?, ?)");
  for (const analysis::OverlapEntry& o : result.overlaps) {
    const int64_t a = network_ids[o.a], b = network_ids[o.b];
    insert.bind(1, std::min(a, b));
    insert.bind(2, std::max(a, b));
    insert.bind(3, o.intersection);
    insert.bind(4, std::clamp(o.dice, 0.0, 1.0));
    insert.bind(5, std::clamp(o.jaccard, 0.0, 1.0));
    insert.exec();
    insert.reset();
  }
}

// scores_json: {"scores": [{"condition", "mean_t", "correlation",
// "network_id"}...], "predicted_by_correlation": "..."}. NaN becomes null.
std::string ScoresJson(const analysis::HeldOutResult& h,
                       const std::vector<int64_t>& network_ids) {
  Json scores = Json::array();
  for (const analysis::HeldOutScore& s : h.scores) {
    scores.push_back({{"condition", s.condition},
                      {"mean_t", s.mean_t},
                      {"correlation", s.correlation},
                      {"network_id", network_ids[s.network]}});
  }
  return Dump(Json{{"scores", std::move(scores)},
                   {"predicted_by_correlation", h.predicted_by_correlation}});
}

void InsertClassifications(Database& db, int64_t experiment_id,
                           const analysis::AnalysisResult& result,
                           const std::vector<int64_t>& network_ids) {
  Statement insert(db,
                   "INSERT INTO classifications (experiment_id, "
                   "held_out_run_id, method, true_condition, "
                   "predicted_condition, scores_json) "
                   "VALUES (?, ?, ?, ?, ?, ?)");
  for (const analysis::HeldOutResult& h : result.held_out) {
    insert.bind(1, experiment_id);
    insert.bind(2, h.run_id);
    insert.bind(3, kClassifyMethod);
    insert.bind(4, h.true_condition);
    insert.bind(5, h.predicted);
    insert.bind(6, ScoresJson(h, network_ids));
    insert.exec();
    insert.reset();
  }
}

// SaveAnalysis's writes. REQUIRES: a transaction is open.
absl::Status WriteAnalysisIn(Database& db, int64_t experiment_id,
                             const analysis::AnalysisResult& result,
                             const Layout& layout) {
  FNPROBE_ASSIGN_OR_RETURN(const v1::ExperimentSpec spec,
                           LoadSpec(db, experiment_id));
  FNPROBE_ASSIGN_OR_RETURN(const std::optional<Layout> runs_layout,
                           LoadOptionalLayout(db, experiment_id));
  if (runs_layout.has_value() && runs_layout->hash() != layout.hash()) {
    return absl::InvalidArgumentError(
        absl::StrCat("analysis: layout ", layout.HashHex(),
                     " is not the runs' layout ", runs_layout->HashHex()));
  }
  const absl::flat_hash_map<int64_t, RunRef> runs =
      LoadRunRefs(db, experiment_id);
  FNPROBE_RETURN_IF_ERROR(CheckResult(result, layout, runs));
  FNPROBE_ASSIGN_OR_RETURN(const std::vector<MapIdentity> map_ids,
                           IdentifyConditionMaps(result, spec));
  DeleteAnalysis(db, experiment_id);
  const std::vector<int64_t> condition_map_ids = InsertConditionMaps(
      db, experiment_id, result.condition_maps, map_ids, layout);
  const std::vector<int64_t> network_ids = InsertNetworks(
      db, experiment_id, result, condition_map_ids, runs, layout);
  InsertNetworkUnits(db, result, network_ids);
  InsertOverlaps(db, result, network_ids);
  InsertClassifications(db, experiment_id, result, network_ids);
  return absl::OkStatus();
}

absl::Status SaveAnalysisIn(Database& db, int64_t experiment_id,
                            const analysis::AnalysisResult& result,
                            const Layout& layout) {
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  FNPROBE_RETURN_IF_ERROR(WriteAnalysisIn(db, experiment_id, result, layout));
  tx.commit();
  return absl::OkStatus();
}

// The analysis and PHASE_ANALYZING -> PHASE_DONE in one transaction, so that
// a cancellation either comes first (and nothing is stored) or finds the
// experiment done. An experiment is done only with every run done.
absl::Status FinishAnalysisIn(Database& db, int64_t experiment_id,
                              const analysis::AnalysisResult& result,
                              const Layout& layout) {
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  FNPROBE_RETURN_IF_ERROR(CheckAnalysisCanFinish(db, experiment_id));
  FNPROBE_RETURN_IF_ERROR(WriteAnalysisIn(db, experiment_id, result, layout));
  FNPROBE_RETURN_IF_ERROR(
      TransitionIn(db, experiment_id, ExperimentPhase::kDone, ""));
  tx.commit();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<analysis::RunInput>> ResultStore::LoadRunInputs(
    int64_t experiment_id) {
  return db_->Run("LoadRunInputs", [&](Database& db) {
    return LoadRunInputsIn(db, experiment_id);
  });
}

absl::Status ResultStore::ReplaceRunMap(int64_t run_id,
                                        const analysis::StatMap& map,
                                        double permutation_threshold,
                                        const arma::mat& prompt_values) {
  return db_->Run("ReplaceRunMap", [&](Database& db) {
    return ReplaceRunMapIn(db, run_id, map, permutation_threshold,
                           prompt_values);
  });
}

absl::Status ResultStore::SaveAnalysis(int64_t experiment_id,
                                       const analysis::AnalysisResult& result,
                                       const Layout& layout) {
  return db_->Run("SaveAnalysis", [&](Database& db) {
    return SaveAnalysisIn(db, experiment_id, result, layout);
  });
}

absl::Status ResultStore::FinishAnalysis(int64_t experiment_id,
                                         const analysis::AnalysisResult& result,
                                         const Layout& layout) {
  return db_->Run("FinishAnalysis", [&](Database& db) {
    return FinishAnalysisIn(db, experiment_id, result, layout);
  });
}

}  // namespace fnprobe::worker
