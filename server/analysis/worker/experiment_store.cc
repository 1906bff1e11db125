#include "server/analysis/worker/experiment_store.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/worker/experiment_phase.h"
#include "server/analysis/worker/store_database.h"
#include "server/analysis/worker/store_rows.h"

namespace fnprobe::worker {
namespace {

using SQLite::Database;
using SQLite::Statement;
using Json = nlohmann::json;

constexpr int kDefaultExperimentPage = 50;
constexpr int kMaxExperimentPage = 1000;

int64_t UpsertUser(Database& db, const std::string& name) {
  Statement insert(
      db, "INSERT INTO users (name) VALUES (?) ON CONFLICT (name) DO NOTHING");
  insert.bind(1, name);
  insert.exec();
  Statement q(db, "SELECT id FROM users WHERE name = ?");
  q.bind(1, name);
  q.executeStep();
  return q.getColumn(0).getInt64();
}

// Columns read by ReadExperiment, in its order.
constexpr char kExperimentSelect[] =
    "SELECT e.id, e.name, u.name, e.status, e.error, e.spec_json, "
    "e.created_at, e.started_at, e.finished_at, e.plan_version, "
    "e.activations_deleted, e.model_checksum, (SELECT " FNPROBE_SQL_STORED_BYTES
    " FROM runs r WHERE r.experiment_id = e.id) "
    "FROM experiments e JOIN users u ON u.id = e.user_id";

absl::StatusOr<ExperimentRow> ReadExperiment(const Statement& q) {
  ExperimentRow e;
  e.id = q.getColumn(0).getInt64();
  e.name = q.getColumn(1).getString();
  e.owner = q.getColumn(2).getString();
  e.phase = PhaseFromText(q.getColumn(3).getString());
  e.error = TextOrEmpty(q, 4);
  FNPROBE_ASSIGN_OR_RETURN(e.spec,
                           SpecFromJson(q.getColumn(5).getString(), e.id));
  e.created_at = TextOrEmpty(q, 6);
  e.started_at = TextOrEmpty(q, 7);
  e.finished_at = TextOrEmpty(q, 8);
  e.plan_version = q.getColumn(9).getInt();
  e.activations_deleted = q.getColumn(10).getInt() != 0;
  e.model_checksum = TextOrEmpty(q, 11);
  e.stored_bytes = e.activations_deleted ? 0 : q.getColumn(12).getInt64();
  return e;
}

ExperimentProgressRow ProgressOfRuns(const std::vector<RunRow>& runs) {
  ExperimentProgressRow p;
  p.runs_total = static_cast<int>(runs.size());
  for (const RunRow& run : runs) {
    p.runs_done += run.state == RunState::kDone;
    p.tokens_done += run.tokens_generated;
    p.tokens_total += run.time_points;
  }
  return p;
}

// Progress by aggregate, for callers that do not want the run rows.
ExperimentProgressRow LoadProgress(Database& db, int64_t experiment_id) {
  Statement q(db,
              "SELECT count(*), coalesce(sum(status = 'done'), 0), "
              "coalesce(sum(tokens_generated), 0), "
              "coalesce(sum(num_time_points), 0) "
              "FROM runs WHERE experiment_id = ?");
  q.bind(1, experiment_id);
  q.executeStep();
  ExperimentProgressRow p;
  p.runs_total = q.getColumn(0).getInt();
  p.runs_done = q.getColumn(1).getInt();
  p.tokens_done = q.getColumn(2).getInt64();
  p.tokens_total = q.getColumn(3).getInt64();
  return p;
}

// --- CreateExperiment ---

void InsertEvents(Database& db, int64_t run_id, const RunPlan& plan) {
  Statement insert(db,
                   "INSERT INTO events (run_id, onset, duration, trial_type, "
                   "prompt_index) VALUES (?, ?, ?, ?, ?)");
  for (size_t i = 0; i < plan.events.size(); ++i) {
    const BidsEvent& e = plan.events[i];
    insert.bind(1, run_id);
    insert.bind(2, e.onset);
    insert.bind(3, e.duration);
    insert.bind(4, e.trial_type);
    // PlanRuns makes one event per block.
    if (i < plan.blocks.size()) {
      insert.bind(5, plan.blocks[i].first_prompt);
    } else {
      insert.bind(5);
    }
    insert.exec();
    insert.reset();
  }
}

int64_t InsertRun(Database& db, int64_t experiment_id,
                  const v1::ExperimentSpec& spec, const RunPlan& plan) {
  Statement insert(db,
                   "INSERT INTO runs (experiment_id, condition, repeat_index, "
                   "seed, num_time_points) VALUES (?, ?, ?, ?, ?)");
  insert.bind(1, experiment_id);
  insert.bind(2, plan.condition_name);
  insert.bind(3, plan.repeat);
  // The u64 seed's bits, as SQLite integers are signed.
  insert.bind(4, static_cast<int64_t>(spec.generation().seed()));
  insert.bind(5, plan.time_points);
  insert.exec();
  return db.getLastInsertRowid();
}

absl::Status CheckPlans(const v1::ExperimentSpec& spec,
                        const std::vector<RunPlan>& plans) {
  if (spec.name().empty()) {
    return absl::InvalidArgumentError("spec: name is empty");
  }
  if (plans.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("experiment '", spec.name(), "' has no planned runs"));
  }
  for (const RunPlan& plan : plans) {
    if (plan.condition_name.empty() || plan.repeat < 0 ||
        plan.time_points < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "run ", plan.index, ": condition, repeat or time points invalid"));
    }
    // The blocks cover the prompts in order, as run_prompts stores them.
    int next = 0;
    for (const RunBlock& block : plan.blocks) {
      if (block.first_prompt != next || block.num_prompts <= 0) break;
      next += block.num_prompts;
    }
    if (plan.prompts.empty() || next != static_cast<int>(plan.prompts.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "run ", plan.index, ": blocks do not cover its prompts in order"));
    }
  }
  return absl::OkStatus();
}

// The plan's prompts (run_prompts), read back by LoadPlans.
void InsertPrompts(Database& db, int64_t run_id, const RunPlan& plan) {
  Statement insert(db,
                   "INSERT INTO run_prompts (run_id, position, block, task, "
                   "prompt) VALUES (?, ?, ?, ?, ?)");
  for (size_t b = 0; b < plan.blocks.size(); ++b) {
    const RunBlock& block = plan.blocks[b];
    for (int i = 0; i < block.num_prompts; ++i) {
      const int position = block.first_prompt + i;
      insert.bind(1, run_id);
      insert.bind(2, position);
      insert.bind(3, static_cast<int>(b));
      insert.bind(4, block.task ? 1 : 0);
      insert.bindNoCopy(5, plan.prompts[position]);
      insert.exec();
      insert.reset();
    }
  }
}

absl::StatusOr<int64_t> CreateExperimentIn(
    Database& db, const std::string& user, const v1::ExperimentSpec& spec_in,
    const std::vector<RunPlan>& plans, const std::string& model_checksum,
    const std::function<void(SQLite::Database&, int64_t)>& also_store) {
  const v1::ExperimentSpec spec = WithDefaults(spec_in);
  FNPROBE_RETURN_IF_ERROR(CheckPlans(spec, plans));
  FNPROBE_ASSIGN_OR_RETURN(const std::string spec_json, SpecToJson(spec));
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  const int64_t user_id = UpsertUser(db, user.empty() ? kAnonymousUser : user);
  Statement insert(db,
                   "INSERT INTO experiments (user_id, name, spec_json, "
                   "plan_version, model_checksum) VALUES (?, ?, ?, ?, "
                   "NULLIF(?, ''))");
  insert.bind(1, user_id);
  insert.bind(2, spec.name());
  insert.bind(3, spec_json);
  insert.bind(4, kPlanVersion);
  insert.bind(5, model_checksum);
  insert.exec();
  const int64_t id = db.getLastInsertRowid();
  for (const RunPlan& plan : plans) {
    const int64_t run_id = InsertRun(db, id, spec, plan);
    InsertEvents(db, run_id, plan);
    InsertPrompts(db, run_id, plan);
  }
  if (also_store) also_store(db, id);
  tx.commit();
  return id;
}

// --- experiments: reads ---

absl::StatusOr<ExperimentRow> GetExperimentIn(Database& db, int64_t id,
                                              const std::string& user,
                                              bool include_runs) {
  Statement q(db, absl::StrCat(kExperimentSelect, " WHERE e.id = ?"));
  q.bind(1, id);
  if (!q.executeStep()) return ExperimentNotFound(id);
  // CheckOwner's rule on the row read anyway (column 2 is the owner), before
  // anything of a foreign experiment is parsed: NOT_FOUND, as if missing.
  if (!user.empty() && q.getColumn(2).getString() != user) {
    return ExperimentNotFound(id);
  }
  FNPROBE_ASSIGN_OR_RETURN(ExperimentRow e, ReadExperiment(q));
  if (include_runs) {
    e.runs = LoadRuns(db, id);
    e.progress = ProgressOfRuns(e.runs);
  } else {
    e.progress = LoadProgress(db, id);
  }
  FNPROBE_ASSIGN_OR_RETURN(e.layout, LoadOptionalLayout(db, id));
  return e;
}

void ClearPrompts(v1::ExperimentSpec* spec) {
  spec->mutable_baseline()->clear_prompts();
  for (v1::PromptPool& pool : *spec->mutable_conditions()) {
    pool.clear_prompts();
  }
  for (v1::PromptPool& pool : *spec->mutable_texts()->mutable_pools()) {
    pool.clear_prompts();
  }
}

absl::StatusOr<ExperimentPage> ListExperimentsIn(
    Database& db, const std::string& user, int page_size,
    const std::string& page_token) {
  if (page_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size ", page_size, " is negative"));
  }
  if (page_size == 0) page_size = kDefaultExperimentPage;
  page_size = std::min(page_size, kMaxExperimentPage);
  FNPROBE_ASSIGN_OR_RETURN(
      const int64_t before,
      ParsePageToken(page_token, std::numeric_limits<int64_t>::max()));
  Statement q(db, absl::StrCat(kExperimentSelect,
                               " WHERE (?1 = '' OR u.name = ?1) AND e.id < ?2 "
                               "ORDER BY e.id DESC LIMIT ?3"));
  q.bind(1, user);
  q.bind(2, before);
  q.bind(3, page_size + 1);  // One more tells whether a next page exists.
  ExperimentPage page;
  while (q.executeStep()) {
    if (static_cast<int>(page.experiments.size()) == page_size) {
      page.next_page_token = std::to_string(page.experiments.back().id);
      break;
    }
    FNPROBE_ASSIGN_OR_RETURN(ExperimentRow e, ReadExperiment(q));
    ClearPrompts(&e.spec);
    e.progress = LoadProgress(db, e.id);
    page.experiments.push_back(std::move(e));
  }
  return page;
}

std::vector<int64_t> UnfinishedExperimentsIn(Database& db) {
  Statement q(db,
              "SELECT id FROM experiments WHERE status IN "
              "('pending', 'running', 'analyzing') ORDER BY id");
  std::vector<int64_t> ids;
  while (q.executeStep()) ids.push_back(q.getColumn(0).getInt64());
  return ids;
}

// --- experiments: writes ---

absl::Status SetPhaseIn(Database& db, int64_t id, ExperimentPhase phase,
                        const std::string& error) {
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  FNPROBE_RETURN_IF_ERROR(TransitionIn(db, id, phase, error));
  tx.commit();
  return absl::OkStatus();
}

// Rewrites the events of every run of experiment `id` from its stored
// blocks, timed by `spec`, its (new) stored spec. The runs are read once,
// with the plans.
absl::Status ReplaceEvents(Database& db, int64_t id,
                           const v1::ExperimentSpec& spec) {
  std::vector<RunRow> runs;
  FNPROBE_ASSIGN_OR_RETURN(const std::vector<RunPlan> plans,
                           LoadPlans(db, id, spec, &runs));
  Statement erase(db, "DELETE FROM events WHERE run_id = ?");
  for (size_t i = 0; i < runs.size(); ++i) {
    erase.bind(1, runs[i].id);
    erase.exec();
    erase.reset();
    InsertEvents(db, runs[i].id, plans[i]);
  }
  return absl::OkStatus();
}

absl::Status SetAnalysisSpecIn(Database& db, int64_t id,
                               const v1::AnalysisSpec& analysis) {
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  FNPROBE_ASSIGN_OR_RETURN(v1::ExperimentSpec spec, LoadSpec(db, id));
  *spec.mutable_analysis() = analysis;
  spec = WithDefaults(std::move(spec));
  FNPROBE_RETURN_IF_ERROR(ValidateSpec(spec));
  FNPROBE_ASSIGN_OR_RETURN(const std::string json, SpecToJson(spec));
  Statement update(db,
                   "UPDATE experiments SET spec_json = ?, "
                   "updated_at = " FNPROBE_SQL_NOW " WHERE id = ?");
  update.bind(1, json);
  update.bind(2, id);
  update.exec();
  FNPROBE_RETURN_IF_ERROR(ReplaceEvents(db, id, spec));
  tx.commit();
  return absl::OkStatus();
}

// --- runs ---

// Why a run's state change matched no row: NOT_FOUND, or the state it is in.
absl::Status RunTransitionError(Database& db, int64_t run_id,
                                absl::string_view wanted) {
  Statement q(db, "SELECT status FROM runs WHERE id = ?");
  q.bind(1, run_id);
  if (!q.executeStep()) return RunNotFound(run_id);
  return absl::FailedPreconditionError(absl::StrCat(
      "run ", run_id, " is ", q.getColumn(0).getString(), "; ", wanted));
}

absl::StatusOr<std::vector<RunRow>> ListRunsIn(Database& db,
                                               int64_t experiment_id) {
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, experiment_id, ""));
  return LoadRuns(db, experiment_id);
}

absl::Status MarkRunStartedIn(Database& db, int64_t run_id) {
  Statement update(
      db,
      "UPDATE runs SET status = 'running', attempts = attempts + 1, "
      "tokens_generated = 0, error = NULL, finished_at = NULL, "
      "started_at = " FNPROBE_SQL_NOW
      " WHERE id = ? AND status IN ('pending', 'running')");
  update.bind(1, run_id);
  if (update.exec() == 0) {
    return RunTransitionError(db, run_id, "only a pending run can start");
  }
  return absl::OkStatus();
}

absl::Status SetRunTokensIn(Database& db, int64_t run_id, int64_t tokens) {
  if (tokens < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("run ", run_id, ": tokens_generated ", tokens, " < 0"));
  }
  Statement update(db,
                   "UPDATE runs SET tokens_generated = ? "
                   "WHERE id = ? AND status = 'running'");
  update.bind(1, tokens);
  update.bind(2, run_id);
  if (update.exec() == 0) {
    return RunTransitionError(db, run_id, "only a running run makes progress");
  }
  return absl::OkStatus();
}

absl::Status CheckFinishedRun(int64_t run_id, const FinishedRun& run) {
  const std::string what = absl::StrCat("run ", run_id);
  if (run.file.path.empty() || run.file.checksum.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": activation file path or checksum missing"));
  }
  if (run.layout.empty() || run.layout.width() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": empty layout"));
  }
  if (run.capture_dtype != DType::kF32 && run.capture_dtype != DType::kF16 &&
      run.capture_dtype != DType::kBF16) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": capture dtype ",
                                                   DTypeName(run.capture_dtype),
                                                   " is not F32, F16 or BF16"));
  }
  if (run.time_points < 0 || run.file.rows < 0 || run.file.overflow_count < 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": negative counts"));
  }
  for (const GeneratedToken& t : run.tokens) {
    if (t.prompt_index < 0 || t.step < 0 || t.token_id < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": token (prompt ", t.prompt_index, ", step ",
                       t.step, ", id ", t.token_id, ") has a negative field"));
    }
  }
  if (!run.prompt_values.is_empty() &&
      static_cast<int64_t>(run.prompt_values.n_cols) != run.layout.width()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": prompt values over ", run.prompt_values.n_cols,
                     " units, the layout ", run.layout.width()));
  }
  if (run.map.contrast.empty() && run.map.t.is_empty()) {
    return absl::OkStatus();  // a text group's run: no map
  }
  return CheckMap(run.map, run.layout.width(), what);
}

void InsertGenerations(Database& db, int64_t run_id,
                       const std::vector<GeneratedToken>& tokens) {
  Statement insert(db,
                   "INSERT INTO generations (run_id, prompt_index, step, "
                   "token_id, text) VALUES (?, ?, ?, ?, ?)");
  for (const GeneratedToken& t : tokens) {
    insert.bind(1, run_id);
    insert.bind(2, t.prompt_index);
    insert.bind(3, t.step);
    insert.bind(4, t.token_id);
    insert.bindNoCopy(5, t.text);
    insert.exec();
    insert.reset();
  }
}

void InsertRunMap(Database& db, int64_t experiment_id, int64_t run_id,
                  const std::string& condition, const Layout& layout,
                  const analysis::StatMap& map, double permutation_threshold) {
  const std::string blob = analysis::EncodeStatMap(map);
  Statement insert(
      db,
      "INSERT INTO glm_maps (experiment_id, run_id, condition, contrast, "
      "stat, layout_hash, num_units, dof, noise_model, stats_blob, "
      "permutation_threshold) VALUES (?, ?, ?, ?, 't', ?, ?, ?, ?, ?, ?)");
  insert.bind(1, experiment_id);
  insert.bind(2, run_id);
  insert.bind(3, condition);
  insert.bind(4, map.contrast);
  insert.bind(5, layout.HashHex());
  insert.bind(6, layout.width());
  BindDof(insert, 7, map.dof);
  insert.bind(8, map.noise_model);
  insert.bindNoCopy(9, blob.data(), static_cast<int>(blob.size()));
  insert.bind(10, permutation_threshold);
  insert.exec();
}

absl::Status CheckSameLayout(Database& db, int64_t experiment_id,
                             int64_t run_id, const Layout& layout) {
  Statement q(db,
              "SELECT id FROM runs WHERE experiment_id = ? AND "
              "status = 'done' AND layout_hash <> ? LIMIT 1");
  q.bind(1, experiment_id);
  q.bind(2, layout.HashHex());
  if (q.executeStep()) {
    return absl::FailedPreconditionError(
        absl::StrCat("run ", run_id, ": layout ", layout.HashHex(),
                     " differs from run ", q.getColumn(0).getInt64(), "'s"));
  }
  return absl::OkStatus();
}

void UpdateRunDone(Database& db, int64_t run_id, const FinishedRun& run) {
  Statement update(
      db,
      "UPDATE runs SET status = 'done', layout_hash = ?, layout_json = ?, "
      "num_units = ?, capture_dtype = ?, activation_path = ?, "
      "activation_checksum = ?, activation_rows = ?, tokens_generated = ?, "
      "overflow_count = ?, activation_bytes = ?, num_time_points = ?, "
      "error = NULL, finished_at = " FNPROBE_SQL_NOW " WHERE id = ?");
  update.bind(1, run.layout.HashHex());
  update.bind(2, LayoutToJson(run.layout));
  update.bind(3, run.layout.width());
  update.bind(4, std::string(DTypeName(run.capture_dtype)));
  update.bind(5, run.file.path);
  update.bind(6, run.file.checksum);
  update.bind(7, run.file.rows);
  update.bind(8, run.time_points);
  update.bind(9, run.file.overflow_count);
  update.bind(10, static_cast<int64_t>(run.file.bytes));
  // A text group's run plans texts x maxTokens and stores what its texts
  // tokenized to; for a block-design run the two are equal.
  update.bind(11, run.time_points);
  update.bind(12, run_id);
  update.exec();
}

absl::Status MarkRunDoneIn(Database& db, int64_t run_id,
                           const FinishedRun& run) {
  FNPROBE_RETURN_IF_ERROR(CheckFinishedRun(run_id, run));
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  Statement q(db,
              "SELECT experiment_id, condition, status FROM runs WHERE id = ?");
  q.bind(1, run_id);
  if (!q.executeStep()) return RunNotFound(run_id);
  const int64_t experiment_id = q.getColumn(0).getInt64();
  const std::string condition = q.getColumn(1).getString();
  const std::string status = q.getColumn(2).getString();
  if (status == "done") {
    return absl::AlreadyExistsError(
        absl::StrCat("run ", run_id, " is already done"));
  }
  if (status != "running") {
    return absl::FailedPreconditionError(absl::StrCat(
        "run ", run_id, " is ", status, "; only a running run can finish"));
  }
  FNPROBE_RETURN_IF_ERROR(
      CheckSameLayout(db, experiment_id, run_id, run.layout));
  UpdateRunDone(db, run_id, run);
  InsertGenerations(db, run_id, run.tokens);
  if (!run.map.contrast.empty()) {
    InsertRunMap(db, experiment_id, run_id, condition, run.layout, run.map,
                 run.permutation_threshold);
  }
  PutPromptValues(db, run_id, run.prompt_values);
  tx.commit();
  return absl::OkStatus();
}

absl::Status MarkRunFinishedIn(Database& db, int64_t run_id, RunState state,
                               const std::string& error) {
  if (state != RunState::kFailed && state != RunState::kCancelled) {
    return absl::InvalidArgumentError(
        absl::StrCat("run ", run_id,
                     ": MarkRunFinished takes RUN_FAILED or "
                     "RUN_CANCELLED, not ",
                     RunStateName(state)));
  }
  if (state == RunState::kFailed && error.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("run ", run_id, ": RUN_FAILED needs an error"));
  }
  Statement update(db,
                   "UPDATE runs SET status = ?, error = NULLIF(?, ''), "
                   "finished_at = " FNPROBE_SQL_NOW
                   " WHERE id = ? AND status IN ('pending', 'running')");
  update.bind(1, RunStateToText(state));
  update.bind(2, error);
  update.bind(3, run_id);
  if (update.exec() == 0) {
    return RunTransitionError(db, run_id,
                              "only a pending or running run can end so");
  }
  return absl::OkStatus();
}

absl::Status CancelPendingRunsIn(Database& db, int64_t experiment_id) {
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, experiment_id, ""));
  Statement update(db,
                   "UPDATE runs SET status = 'cancelled', "
                   "finished_at = " FNPROBE_SQL_NOW
                   " WHERE experiment_id = ? AND "
                   "status IN ('pending', 'running')");
  update.bind(1, experiment_id);
  update.exec();
  return absl::OkStatus();
}

// --- experiment transitions that involve runs ---

// A pending (or retried running) run -> running, and the experiment to
// kGenerating, together: a run of a finished experiment never starts.
absl::Status StartRunIn(Database& db, int64_t experiment_id, int64_t run_id) {
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  Statement q(db, "SELECT experiment_id FROM runs WHERE id = ?");
  q.bind(1, run_id);
  if (!q.executeStep() || q.getColumn(0).getInt64() != experiment_id) {
    return RunNotFound(run_id);
  }
  FNPROBE_RETURN_IF_ERROR(
      TransitionIn(db, experiment_id, ExperimentPhase::kGenerating, ""));
  FNPROBE_RETURN_IF_ERROR(MarkRunStartedIn(db, run_id));
  tx.commit();
  return absl::OkStatus();
}

// The experiment to kFailed or kCancelled with, in the same transaction,
// `failed_run_id` (if not 0) failed and every other pending or running run
// cancelled: no run outlives its experiment's end.
absl::Status EndExperimentIn(Database& db, int64_t id, ExperimentPhase phase,
                             const std::string& error, int64_t failed_run_id) {
  if (phase != ExperimentPhase::kFailed &&
      phase != ExperimentPhase::kCancelled) {
    return absl::InvalidArgumentError(
        absl::StrCat("experiment ", id,
                     ": EndExperiment takes PHASE_FAILED or "
                     "PHASE_CANCELLED, not ",
                     PhaseName(phase)));
  }
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  FNPROBE_RETURN_IF_ERROR(TransitionIn(db, id, phase, error));
  if (failed_run_id != 0) {
    Statement update(db,
                     "UPDATE runs SET status = 'failed', error = ?, "
                     "finished_at = " FNPROBE_SQL_NOW
                     " WHERE id = ? AND experiment_id = ? AND "
                     "status IN ('pending', 'running')");
    update.bind(1, error);
    update.bind(2, failed_run_id);
    update.bind(3, id);
    update.exec();
  }
  FNPROBE_RETURN_IF_ERROR(CancelPendingRunsIn(db, id));
  tx.commit();
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<int64_t> ExperimentStore::CreateExperiment(
    const std::string& user, const v1::ExperimentSpec& spec,
    const std::vector<RunPlan>& plans, const std::string& model_checksum,
    const std::function<void(SQLite::Database&, int64_t)>& also_store) {
  return db_->Run("CreateExperiment", [&](Database& db) {
    return CreateExperimentIn(db, user, spec, plans, model_checksum,
                              also_store);
  });
}

absl::StatusOr<ExperimentRow> ExperimentStore::GetExperiment(
    int64_t id, const std::string& user, bool include_runs) {
  return db_->Run("GetExperiment", [&](Database& db) {
    return GetExperimentIn(db, id, user, include_runs);
  });
}

absl::StatusOr<ExperimentPage> ExperimentStore::ListExperiments(
    const std::string& user, int page_size, const std::string& page_token) {
  return db_->Run("ListExperiments", [&](Database& db) {
    return ListExperimentsIn(db, user, page_size, page_token);
  });
}

absl::StatusOr<std::vector<int64_t>> ExperimentStore::UnfinishedExperiments() {
  return db_->Run("UnfinishedExperiments",
                  [&](Database& db) -> absl::StatusOr<std::vector<int64_t>> {
                    return UnfinishedExperimentsIn(db);
                  });
}

absl::Status ExperimentStore::SetPhase(int64_t id, ExperimentPhase phase,
                                       const std::string& error) {
  return db_->Run("SetPhase", [&](Database& db) {
    return SetPhaseIn(db, id, phase, error);
  });
}

absl::Status ExperimentStore::StartRun(int64_t experiment_id, int64_t run_id) {
  return db_->Run("StartRun", [&](Database& db) {
    return StartRunIn(db, experiment_id, run_id);
  });
}

absl::Status ExperimentStore::EndExperiment(int64_t id, ExperimentPhase phase,
                                            const std::string& error,
                                            int64_t failed_run_id) {
  return db_->Run("EndExperiment", [&](Database& db) {
    return EndExperimentIn(db, id, phase, error, failed_run_id);
  });
}

absl::Status ExperimentStore::SetAnalysisSpec(
    int64_t id, const v1::AnalysisSpec& analysis) {
  return db_->Run("SetAnalysisSpec", [&](Database& db) {
    return SetAnalysisSpecIn(db, id, analysis);
  });
}

absl::StatusOr<std::vector<RunPlan>> ExperimentStore::LoadPlans(
    int64_t experiment_id) {
  return db_->Run("LoadPlans",
                  [&](Database& db) -> absl::StatusOr<std::vector<RunPlan>> {
                    FNPROBE_RETURN_IF_ERROR(CheckOwner(db, experiment_id, ""));
                    return worker::LoadPlans(db, experiment_id);
                  });
}

absl::StatusOr<std::vector<RunRow>> ExperimentStore::ListRuns(
    int64_t experiment_id) {
  return db_->Run("ListRuns",
                  [&](Database& db) { return ListRunsIn(db, experiment_id); });
}

absl::StatusOr<int> ExperimentStore::ResetInterruptedRuns() {
  return db_->Run(
      "ResetInterruptedRuns", [&](Database& db) -> absl::StatusOr<int> {
        return db.exec(
            "UPDATE runs SET status = 'pending', tokens_generated = 0, "
            "started_at = NULL WHERE status = 'running'");
      });
}

absl::Status ExperimentStore::MarkRunStarted(int64_t run_id) {
  return db_->Run("MarkRunStarted",
                  [&](Database& db) { return MarkRunStartedIn(db, run_id); });
}

absl::Status ExperimentStore::SetRunTokens(int64_t run_id,
                                           int64_t tokens_generated) {
  return db_->Run("SetRunTokens", [&](Database& db) {
    return SetRunTokensIn(db, run_id, tokens_generated);
  });
}

absl::Status ExperimentStore::MarkRunDone(int64_t run_id,
                                          const FinishedRun& run) {
  return db_->Run("MarkRunDone",
                  [&](Database& db) { return MarkRunDoneIn(db, run_id, run); });
}

absl::Status ExperimentStore::MarkRunFinished(int64_t run_id, RunState state,
                                              const std::string& error) {
  return db_->Run("MarkRunFinished", [&](Database& db) {
    return MarkRunFinishedIn(db, run_id, state, error);
  });
}

absl::Status ExperimentStore::CancelPendingRuns(int64_t experiment_id) {
  return db_->Run("CancelPendingRuns", [&](Database& db) {
    return CancelPendingRunsIn(db, experiment_id);
  });
}

absl::StatusOr<Layout> ExperimentStore::ExperimentLayout(
    int64_t experiment_id) {
  return db_->Run("ExperimentLayout",
                  [&](Database& db) -> absl::StatusOr<Layout> {
                    FNPROBE_RETURN_IF_ERROR(CheckOwner(db, experiment_id, ""));
                    return LoadLayout(db, experiment_id);
                  });
}

}  // namespace fnprobe::worker
