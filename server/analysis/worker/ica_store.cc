#include "server/analysis/worker/ica_store.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/worker/store_database.h"
#include "server/analysis/worker/store_rows.h"

namespace fnprobe::worker {
namespace {

using SQLite::Database;
using SQLite::Statement;

absl::Status CheckNetwork(const IcaNetwork& n, const Layout& layout) {
  const std::string what =
      absl::StrCat("ICA network (run ", n.run_id, ", hook ", n.hook,
                   ", component ", n.component, ")");
  if (n.hook.empty() || n.component < 0 || n.run_id < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": hook or component missing, or run invalid"));
  }
  if (n.z.size() != n.units.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": ", n.z.size(), " z values for ", n.units.size(), " units"));
  }
  if (n.time_course.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": no time course"));
  }
  for (size_t i = 0; i < n.units.size(); ++i) {
    if (n.units[i] < 0 || n.units[i] >= layout.width() ||
        (i > 0 && n.units[i] <= n.units[i - 1])) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": unit ", n.units[i], " out of the layout or out of order"));
    }
  }
  return absl::OkStatus();
}

void DeleteIcaNetworks(Database& db, int64_t experiment_id) {
  const std::string ica = absl::StrCat(
      "(SELECT id FROM networks WHERE experiment_id = ", experiment_id,
      " AND method = 'ica')");
  db.exec(absl::StrCat("DELETE FROM overlaps WHERE network_a_id IN ", ica,
                       " OR network_b_id IN ", ica));
  db.exec(absl::StrCat("DELETE FROM network_units WHERE network_id IN ", ica));
  db.exec(absl::StrCat("DELETE FROM ica_components WHERE network_id IN ", ica));
  db.exec(absl::StrCat("DELETE FROM networks WHERE experiment_id = ",
                       experiment_id, " AND method = 'ica'"));
}

void InsertNetwork(Database& db, int64_t experiment_id, const Layout& layout,
                   double z_threshold, const IcaNetwork& n) {
  Statement insert(db,
                   "INSERT INTO networks (experiment_id, run_id, condition, "
                   "method, component, layout_hash, threshold_method, "
                   "threshold, size) VALUES (?, ?, ?, 'ica', ?, ?, 'zscore', "
                   "?, ?)");
  insert.bind(1, experiment_id);
  if (n.run_id != 0) {
    insert.bind(2, n.run_id);
    insert.bind(3);
  } else {
    insert.bind(2);
    insert.bind(3, kEveryRunCondition);
  }
  insert.bind(4, n.component);
  insert.bind(5, layout.HashHex());
  insert.bind(6, z_threshold);
  insert.bind(7, static_cast<int64_t>(n.units.size()));
  insert.exec();
  const int64_t id = db.getLastInsertRowid();
  Statement unit(db,
                 "INSERT INTO network_units (network_id, unit, t) VALUES "
                 "(?, ?, ?)");
  for (size_t i = 0; i < n.units.size(); ++i) {
    unit.bind(1, id);
    unit.bind(2, n.units[i]);
    unit.bind(3, n.z[i]);
    unit.exec();
    unit.reset();
  }
  Statement component(db,
                      "INSERT INTO ica_components (network_id, hook, "
                      "time_points, time_course, stability, "
                      "explained_variance) VALUES (?, ?, ?, ?, ?, ?)");
  component.bind(1, id);
  component.bind(2, n.hook);
  component.bind(3, static_cast<int64_t>(n.time_course.size()));
  // float32 in host order: fnprobe runs on little-endian machines only
  // (the activation store makes the same assumption).
  component.bind(4, n.time_course.data(),
                 static_cast<int>(n.time_course.size() * sizeof(float)));
  if (n.stability >= 0) {
    component.bind(5, n.stability);
  } else {
    component.bind(5);
  }
  component.bind(6, n.explained_variance);
  component.exec();
}

static_assert(kEveryGroup == -1, "LoadIn spells kEveryGroup in SQL");

absl::StatusOr<std::vector<IcaNetwork>> LoadIn(Database& db,
                                               int64_t experiment_id,
                                               const std::string& hook,
                                               bool with_time_courses) {
  Statement q(db,
              // A network of every run: run 0, group kEveryGroup.
              "SELECT n.id, COALESCE(n.run_id, 0), "
              "COALESCE(r.repeat_index, -1), c.hook, n.component, "
              "c.stability, c.explained_variance, c.time_points, "
              "CASE WHEN ?3 THEN c.time_course END "
              "FROM networks n JOIN ica_components c ON c.network_id = n.id "
              "LEFT JOIN runs r ON r.id = n.run_id "
              "WHERE n.experiment_id = ?1 AND n.method = 'ica' AND "
              "(?2 = '' OR c.hook = ?2) "
              "ORDER BY c.hook, n.run_id, n.component");
  q.bind(1, experiment_id);
  q.bind(2, hook);
  q.bind(3, with_time_courses ? 1 : 0);
  std::vector<IcaNetwork> out;
  while (q.executeStep()) {
    IcaNetwork n;
    n.network_id = q.getColumn(0).getInt64();
    n.run_id = q.getColumn(1).getInt64();
    n.group = q.getColumn(2).getInt();
    n.hook = q.getColumn(3).getString();
    n.component = q.getColumn(4).getInt();
    n.stability = q.getColumn(5).isNull() ? -1 : q.getColumn(5).getDouble();
    n.explained_variance = q.getColumn(6).getDouble();
    if (with_time_courses) {
      const absl::string_view blob = BlobView(q, 8);
      const int64_t count = q.getColumn(7).getInt64();
      if (static_cast<int64_t>(blob.size()) != count * 4) {
        return absl::DataLossError(
            absl::StrCat("ICA network ", n.network_id, ": time course of ",
                         blob.size(), " bytes for ", count, " time points"));
      }
      n.time_course.resize(static_cast<size_t>(count));
      std::memcpy(n.time_course.data(), blob.data(), blob.size());
    }
    out.push_back(std::move(n));
  }
  Statement units(db,
                  "SELECT unit, t FROM network_units WHERE network_id = ? "
                  "ORDER BY unit");
  for (IcaNetwork& n : out) {
    units.bind(1, n.network_id);
    while (units.executeStep()) {
      n.units.push_back(units.getColumn(0).getInt64());
      n.z.push_back(units.getColumn(1).getDouble());
    }
    units.reset();
  }
  return out;
}

}  // namespace

absl::Status IcaStore::ReplaceIcaNetworks(
    int64_t experiment_id, const Layout& layout, double z_threshold,
    const std::vector<IcaNetwork>& networks) {
  for (const IcaNetwork& n : networks) {
    FNPROBE_RETURN_IF_ERROR(CheckNetwork(n, layout));
  }
  return db_->Run("ReplaceIcaNetworks", [&](Database& db) -> absl::Status {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    DeleteIcaNetworks(db, experiment_id);
    for (const IcaNetwork& n : networks) {
      InsertNetwork(db, experiment_id, layout, z_threshold, n);
    }
    tx.commit();
    return absl::OkStatus();
  });
}

absl::Status IcaStore::SetIcaSpec(int64_t experiment_id,
                                  const v1::IcaSpec& ica) {
  return db_->Run("SetIcaSpec", [&](Database& db) -> absl::Status {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    FNPROBE_ASSIGN_OR_RETURN(v1::ExperimentSpec spec,
                             LoadSpec(db, experiment_id));
    *spec.mutable_ica() = ica;
    FNPROBE_RETURN_IF_ERROR(ValidateSpec(spec));
    spec = WithDefaults(std::move(spec));
    FNPROBE_ASSIGN_OR_RETURN(const std::string json, SpecToJson(spec));
    Statement update(db,
                     "UPDATE experiments SET spec_json = ?, "
                     "updated_at = " FNPROBE_SQL_NOW " WHERE id = ?");
    update.bind(1, json);
    update.bind(2, experiment_id);
    update.exec();
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::pair<std::string, std::vector<int64_t>>>>
IcaStore::LoadGlmConditionNetworks(int64_t experiment_id) {
  using Networks = std::vector<std::pair<std::string, std::vector<int64_t>>>;
  return db_->Run("LoadGlmConditionNetworks",
                  [&](Database& db) -> absl::StatusOr<Networks> {
                    Statement q(db,
                                "SELECT n.condition, nu.unit FROM networks n "
                                "LEFT JOIN network_units nu ON "
                                "nu.network_id = n.id WHERE "
                                "n.experiment_id = ? AND n.method = 'glm' AND "
                                "n.run_id IS NULL AND n.excluded_run_id IS "
                                "NULL ORDER BY n.id, nu.unit");
                    q.bind(1, experiment_id);
                    Networks out;
                    while (q.executeStep()) {
                      const std::string condition = q.getColumn(0).getString();
                      if (out.empty() || out.back().first != condition) {
                        out.push_back({condition, {}});
                      }
                      if (!q.getColumn(1).isNull()) {
                        out.back().second.push_back(q.getColumn(1).getInt64());
                      }
                    }
                    return out;
                  });
}

absl::Status IcaStore::FinishIcaAnalysis(int64_t experiment_id) {
  return db_->Run("FinishIcaAnalysis", [&](Database& db) -> absl::Status {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    FNPROBE_RETURN_IF_ERROR(CheckAnalysisCanFinish(db, experiment_id));
    FNPROBE_RETURN_IF_ERROR(
        TransitionIn(db, experiment_id, ExperimentPhase::kDone, ""));
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<IcaNetwork>> IcaStore::LoadIcaNetworks(
    int64_t experiment_id, const std::string& hook, bool with_time_courses) {
  return db_->Run("LoadIcaNetworks", [&](Database& db) {
    return LoadIn(db, experiment_id, hook, with_time_courses);
  });
}

}  // namespace fnprobe::worker
