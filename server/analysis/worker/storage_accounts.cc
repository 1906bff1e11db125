#include "server/analysis/worker/storage_accounts.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/analysis/worker/experiment_phase.h"
#include "server/analysis/worker/experiment_store.h"
#include "server/analysis/worker/store_database.h"
#include "server/analysis/worker/store_rows.h"

namespace fnprobe::worker {
namespace {

using SQLite::Database;
using SQLite::Statement;

absl::StatusOr<UserUsage> UsageIn(Database& db, const std::string& user) {
  Statement q(db,
              "SELECT count(*), coalesce(sum(b), 0) FROM (SELECT "
              "CASE WHEN e.activations_deleted THEN 0 ELSE "
              "(SELECT " FNPROBE_SQL_STORED_BYTES
              " FROM runs r WHERE r.experiment_id = e.id) END AS b "
              "FROM experiments e JOIN users u ON u.id = e.user_id "
              "WHERE u.name = ?)");
  q.bind(1, user.empty() ? std::string(kAnonymousUser) : user);
  q.executeStep();
  UserUsage usage;
  usage.experiments = q.getColumn(0).getInt64();
  usage.bytes = q.getColumn(1).getInt64();
  return usage;
}

absl::StatusOr<DeletedActivations> DeleteIn(Database& db, int64_t id,
                                            const std::string& user,
                                            bool activations_only) {
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  FNPROBE_ASSIGN_OR_RETURN(const ExperimentPhase phase, ReadPhase(db, id));
  if (!IsTerminalPhase(phase)) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", id, " is ", PhaseName(phase),
                     "; cancel it before deleting it"));
  }
  Statement deleted(db,
                    "SELECT activations_deleted FROM experiments WHERE id = ?");
  deleted.bind(1, id);
  deleted.executeStep();
  const bool already = deleted.getColumn(0).getInt() != 0;
  if (activations_only && already) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", id, "'s activations are already deleted"));
  }
  DeletedActivations out;
  if (!already) {
    Statement files(db, "SELECT r.activation_path, " FNPROBE_SQL_STORED_BYTES
                        " FROM runs r WHERE r.experiment_id = ? AND "
                        "r.activation_path IS NOT NULL GROUP BY r.id");
    files.bind(1, id);
    while (files.executeStep()) {
      out.paths.push_back(files.getColumn(0).getString());
      out.bytes += files.getColumn(1).getInt64();
    }
  }
  if (activations_only) {
    Statement mark(db,
                   "UPDATE experiments SET activations_deleted = 1, "
                   "updated_at = " FNPROBE_SQL_NOW " WHERE id = ?");
    mark.bind(1, id);
    mark.exec();
  } else {
    // Children first, as SaveAnalysis deletes them: range deletes on their
    // keys beat per-row cascades; the cascades take what is left.
    const std::string networks = absl::StrCat(
        "(SELECT id FROM networks WHERE experiment_id = ", id, ")");
    db.exec(
        absl::StrCat("DELETE FROM classifications WHERE experiment_id = ", id));
    db.exec(absl::StrCat("DELETE FROM overlaps WHERE network_a_id IN ",
                         networks, " OR network_b_id IN ", networks));
    db.exec(absl::StrCat("DELETE FROM network_units WHERE network_id IN ",
                         networks));
    db.exec(absl::StrCat("DELETE FROM networks WHERE experiment_id = ", id));
    db.exec(absl::StrCat("DELETE FROM glm_maps WHERE experiment_id = ", id));
    Statement erase(db, "DELETE FROM experiments WHERE id = ?");
    erase.bind(1, id);
    erase.exec();
  }
  tx.commit();
  return out;
}

}  // namespace

int64_t ActivationBytes(const v1::ExperimentSpec& spec, int64_t time_points,
                        int64_t width) {
  const int64_t bytes_per_value =
      spec.capture().dtype() == v1::CaptureDType::F32 ? 4 : 2;
  return time_points * width * bytes_per_value;
}

absl::StatusOr<UserUsage> StorageAccounts::Usage(const std::string& user) {
  return db_->Run("Usage", [&](Database& db) { return UsageIn(db, user); });
}

absl::StatusOr<DeletedActivations> StorageAccounts::DeleteExperiment(
    int64_t id, const std::string& user, bool activations_only) {
  return db_->Run("DeleteExperiment", [&](Database& db) {
    return DeleteIn(db, id, user, activations_only);
  });
}

absl::StatusOr<absl::flat_hash_set<std::string>>
StorageAccounts::ReferencedActivations() {
  return db_->Run(
      "ReferencedActivations",
      [&](Database& db) -> absl::StatusOr<absl::flat_hash_set<std::string>> {
        Statement q(db,
                    "SELECT r.activation_path FROM runs r JOIN experiments e "
                    "ON e.id = r.experiment_id WHERE r.activation_path IS NOT "
                    "NULL AND e.activations_deleted = 0");
        absl::flat_hash_set<std::string> paths;
        while (q.executeStep()) paths.insert(q.getColumn(0).getString());
        return paths;
      });
}

}  // namespace fnprobe::worker
