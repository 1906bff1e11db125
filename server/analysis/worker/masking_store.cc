#include "server/analysis/worker/masking_store.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_util.h"
#include "server/analysis/worker/store_database.h"
#include "server/analysis/worker/store_rows.h"

namespace fnprobe::worker {

using SQLite::Database;
using SQLite::Statement;

void MaskingStore::InsertPlan(Database& db, int64_t id,
                              const MaskingPlan& plan) {
  Statement insert(db,
                   "INSERT INTO masking_plans (experiment_id, plan_json) "
                   "VALUES (?, ?)");
  insert.bind(1, id);
  insert.bind(2, MaskingPlanToJson(plan));
  insert.exec();
}

absl::StatusOr<MaskingPlan> MaskingStore::LoadPlan(int64_t experiment_id,
                                                   const std::string& user) {
  return db_->Run(
      "LoadMaskingPlan", [&](Database& db) -> absl::StatusOr<MaskingPlan> {
        FNPROBE_RETURN_IF_ERROR(CheckOwner(db, experiment_id, user));
        Statement q(db,
                    "SELECT plan_json FROM masking_plans WHERE "
                    "experiment_id = ?");
        q.bind(1, experiment_id);
        if (!q.executeStep()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "experiment ", experiment_id, " is not a masking experiment"));
        }
        return MaskingPlanFromJson(q.getColumn(0).getString());
      });
}

absl::Status MaskingStore::MarkRunScored(int64_t run_id, const ScoredRun& run) {
  if (run.path.empty() || run.checksum.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("run ", run_id, ": a scored run needs its file"));
  }
  return db_->Run("MarkMaskingRunScored", [&](Database& db) -> absl::Status {
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    Statement q(db, "SELECT status FROM runs WHERE id = ?");
    q.bind(1, run_id);
    if (!q.executeStep()) return RunNotFound(run_id);
    const std::string status = q.getColumn(0).getString();
    if (status == "done") {
      return absl::AlreadyExistsError(
          absl::StrCat("run ", run_id, " is already done"));
    }
    if (status != "running") {
      return absl::FailedPreconditionError(absl::StrCat(
          "run ", run_id, " is ", status, "; only a running run can finish"));
    }
    Statement insert(db,
                     "INSERT INTO masking_scores (run_id, member, text, "
                     "tokens, nll_sum, top1) VALUES (?, ?, ?, ?, ?, ?)");
    for (const MaskingScore& s : run.scores) {
      insert.bind(1, run_id);
      insert.bind(2, s.member);
      insert.bind(3, s.text);
      insert.bind(4, s.tokens);
      insert.bind(5, s.nll_sum);
      insert.bind(6, s.top1);
      insert.exec();
      insert.reset();
    }
    Statement update(
        db,
        "UPDATE runs SET status = 'done', activation_path = ?, "
        "activation_checksum = ?, activation_rows = ?, tokens_generated = ?, "
        "activation_bytes = ?, error = NULL, finished_at = " FNPROBE_SQL_NOW
        " WHERE id = ?");
    update.bind(1, run.path);
    update.bind(2, run.checksum);
    update.bind(3, static_cast<int64_t>(run.scores.size()));
    // Progress counts scored texts x members (the run's planned time
    // points, MaskingRunPlans); the tokens are in masking_scores.
    update.bind(4, static_cast<int64_t>(run.scores.size()));
    update.bind(5, run.bytes);
    update.bind(6, run_id);
    update.exec();
    tx.commit();
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<MaskingScore>> MaskingStore::LoadScores(
    int64_t experiment_id, const std::string& user) {
  return db_->Run(
      "LoadMaskingScores",
      [&](Database& db) -> absl::StatusOr<std::vector<MaskingScore>> {
        FNPROBE_RETURN_IF_ERROR(CheckOwner(db, experiment_id, user));
        // A run's index is its place among the experiment's runs, which
        // were inserted in plan order.
        Statement q(db,
                    "SELECT r.idx, s.member, s.text, s.tokens, s.nll_sum, "
                    "s.top1 FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY id) "
                    "- 1 AS idx FROM runs WHERE experiment_id = ?) r JOIN "
                    "masking_scores s ON s.run_id = r.id ORDER BY r.idx, "
                    "s.member, s.text");
        q.bind(1, experiment_id);
        std::vector<MaskingScore> out;
        while (q.executeStep()) {
          MaskingScore s;
          s.run = q.getColumn(0).getInt();
          s.member = q.getColumn(1).getInt();
          s.text = q.getColumn(2).getInt();
          s.tokens = q.getColumn(3).getInt64();
          s.nll_sum = q.getColumn(4).getDouble();
          s.top1 = q.getColumn(5).getInt64();
          out.push_back(s);
        }
        return out;
      });
}

std::string ScoresCsv(const std::vector<MaskingScore>& scores) {
  std::string out = "member,text,tokens,nll_sum,top1\n";
  for (const MaskingScore& s : scores) {
    absl::StrAppendFormat(&out, "%d,%d,%d,%.17g,%d\n", s.member, s.text,
                          s.tokens, s.nll_sum, s.top1);
  }
  return out;
}

}  // namespace fnprobe::worker
