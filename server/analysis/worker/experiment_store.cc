#include "server/analysis/worker/experiment_store.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Exception.h>
#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <fnmatch.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/layout_proto.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/network_overlap.h"
#include "server/analysis/p_values.h"
#include "server/analysis/storage/embedded_migrations.h"
#include "server/analysis/storage/migration_runner.h"
#include "server/analysis/storage/sqlite_status.h"
#include "server/analysis/worker/experiment_phase.h"

// The current time as the schema's ISO-8601 UTC text, inside SQL literals.
#define FNPROBE_SQL_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

namespace fnprobe::worker {
namespace {

using SQLite::Database;
using SQLite::Statement;
using Json = nlohmann::json;

constexpr int kDefaultExperimentPage = 50;
constexpr int kMaxExperimentPage = 1000;
constexpr int kDefaultUnitPage = 100;
constexpr int kMaxUnitPage = 10000;
// The classification method SaveAnalysis stores (held-out mean t).
constexpr char kClassifyMethod[] = "mean_t";

// JSON text of `j`; invalid UTF-8 (names come from other processes) is
// replaced rather than thrown about.
std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// SQLiteCpp reports failures by throwing SQLite::Exception (and a few
// std::exceptions); every public method runs its body through Guard so that
// none escapes, as sqlite_status.h asks of storage classes.
template <typename F>
auto Guard(absl::string_view context, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const std::exception& e) {
    return SqliteExceptionToStatus(e,
                                   absl::StrCat("experiment store: ", context));
  }
}

// --- closed vocabularies of the schema ---

struct PhaseText {
  v1::ExperimentPhase phase;
  const char* text;
};
constexpr PhaseText kPhaseTexts[] = {
    {v1::PHASE_QUEUED, "pending"},      {v1::PHASE_GENERATING, "running"},
    {v1::PHASE_ANALYZING, "analyzing"}, {v1::PHASE_DONE, "done"},
    {v1::PHASE_FAILED, "failed"},       {v1::PHASE_CANCELLED, "cancelled"},
};

struct RunStateText {
  v1::RunState state;
  const char* text;
};
constexpr RunStateText kRunStateTexts[] = {
    {v1::RUN_PENDING, "pending"},     {v1::RUN_RUNNING, "running"},
    {v1::RUN_DONE, "done"},           {v1::RUN_FAILED, "failed"},
    {v1::RUN_CANCELLED, "cancelled"},
};

const char* PhaseToText(v1::ExperimentPhase phase) {
  for (const PhaseText& p : kPhaseTexts) {
    if (p.phase == phase) return p.text;
  }
  return nullptr;
}

v1::ExperimentPhase PhaseFromText(absl::string_view text) {
  for (const PhaseText& p : kPhaseTexts) {
    if (text == p.text) return p.phase;
  }
  return v1::PHASE_UNSPECIFIED;
}

const char* RunStateToText(v1::RunState state) {
  for (const RunStateText& r : kRunStateTexts) {
    if (r.state == state) return r.text;
  }
  return nullptr;
}

v1::RunState RunStateFromText(absl::string_view text) {
  for (const RunStateText& r : kRunStateTexts) {
    if (text == r.text) return r.state;
  }
  return v1::RUN_STATE_UNSPECIFIED;
}

// --- small row helpers ---

std::string TextOrEmpty(const Statement& q, int column) {
  SQLite::Column c = q.getColumn(column);
  return c.isNull() ? std::string() : c.getString();
}

// NULL (what SQLite makes of NaN) reads back as NaN, not 0.
double DoubleOrNan(const Statement& q, int column) {
  SQLite::Column c = q.getColumn(column);
  return c.isNull() ? std::numeric_limits<double>::quiet_NaN() : c.getDouble();
}

absl::string_view BlobView(const Statement& q, int column) {
  SQLite::Column c = q.getColumn(column);
  return absl::string_view(static_cast<const char*>(c.getBlob()),
                           static_cast<size_t>(c.getBytes()));
}

void BindTextOrNull(Statement& q, int index, const std::string& text) {
  if (text.empty()) {
    q.bind(index);
  } else {
    q.bind(index, text);
  }
}

void BindIdOrNull(Statement& q, int index, int64_t id) {
  if (id == 0) {
    q.bind(index);
  } else {
    q.bind(index, id);
  }
}

// Probabilities are CHECKed to [0, 1]; rounding may step just outside.
void BindProbability(Statement& q, int index, double p) {
  if (std::isnan(p)) {
    q.bind(index);
  } else {
    q.bind(index, std::clamp(p, 0.0, 1.0));
  }
}

uint64_t ParseHexHash(const std::string& hex) {
  return std::strtoull(hex.c_str(), nullptr, 16);
}

absl::Status ExperimentNotFound(int64_t id) {
  return absl::NotFoundError(absl::StrCat("experiment ", id, " not found"));
}

absl::Status RunNotFound(int64_t id) {
  return absl::NotFoundError(absl::StrCat("run ", id, " not found"));
}

absl::Status NetworkNotFound(int64_t id) {
  return absl::NotFoundError(absl::StrCat("network ", id, " not found"));
}

// Parses a page token of this store: a non-negative decimal (an id or an
// offset). An empty token is `empty_value`.
absl::StatusOr<int64_t> ParsePageToken(const std::string& token,
                                       int64_t empty_value) {
  if (token.empty()) return empty_value;
  int64_t value = 0;
  if (!absl::SimpleAtoi(token, &value) || value < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_token '", token, "' is not a valid page token"));
  }
  return value;
}

// --- JSON of stored specs and layouts ---

absl::StatusOr<std::string> SpecToJson(const v1::ExperimentSpec& spec) {
  google::protobuf::util::JsonPrintOptions options;
  // Defaults made explicit: the stored spec says what the analysis used.
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status =
      google::protobuf::util::MessageToJsonString(spec, &json, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("spec: cannot write JSON: ", status.ToString()));
  }
  return json;
}

absl::StatusOr<v1::ExperimentSpec> SpecFromJson(const std::string& json,
                                                int64_t experiment_id) {
  v1::ExperimentSpec spec;
  google::protobuf::util::JsonParseOptions options;
  // A newer worker may have stored fields this one does not know.
  options.ignore_unknown_fields = true;
  const auto status =
      google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) {
    return absl::DataLossError(
        absl::StrCat("experiment ", experiment_id,
                     ": stored spec does not parse: ", status.ToString()));
  }
  return spec;
}

// {"hooks": [{"name": ..., "width": ...}], "hash": "<u64 decimal>"}; the
// hash is text because JSON numbers lose u64 precision in most readers.
std::string LayoutToJson(const Layout& layout) {
  Json hooks = Json::array();
  for (const HookSpec& hook : layout.hooks()) {
    hooks.push_back({{"name", hook.name}, {"width", hook.width}});
  }
  return Dump(Json{{"hooks", std::move(hooks)},
                   {"hash", std::to_string(layout.hash())}});
}

absl::StatusOr<Layout> LayoutFromJson(const std::string& text, int64_t run_id) {
  const auto bad = [&](absl::string_view why) {
    return absl::DataLossError(
        absl::StrCat("run ", run_id, ": stored layout ", why));
  };
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || !j.contains("hooks") ||
      !j["hooks"].is_array() || !j.contains("hash") || !j["hash"].is_string()) {
    return bad("is not {\"hooks\": [...], \"hash\": \"...\"}");
  }
  std::vector<HookSpec> hooks;
  for (const Json& h : j["hooks"]) {
    if (!h.is_object() || !h.contains("name") || !h["name"].is_string() ||
        !h.contains("width") || !h["width"].is_number_integer()) {
      return bad("has a malformed hook point");
    }
    hooks.push_back({h["name"].get<std::string>(), h["width"].get<int64_t>()});
  }
  absl::StatusOr<Layout> layout = Layout::Create(std::move(hooks));
  if (!layout.ok()) return bad(layout.status().message());
  if (j["hash"].get<std::string>() != std::to_string(layout->hash())) {
    return bad("does not match its hash");
  }
  return layout;
}

// Counts of `units` per hook point of `layout`, in layout order.
std::vector<int64_t> HookCounts(const Layout& layout,
                                const std::vector<int64_t>& units) {
  std::vector<int64_t> counts(layout.size(), 0);
  std::vector<int64_t> offsets;
  offsets.reserve(layout.size());
  for (size_t i = 0; i < layout.size(); ++i)
    offsets.push_back(layout.offset(i));
  for (int64_t unit : units) {
    auto it = std::upper_bound(offsets.begin(), offsets.end(), unit);
    if (it != offsets.begin()) ++counts[it - offsets.begin() - 1];
  }
  return counts;
}

// --- experiments and their ownership ---

// OK when experiment `id` exists and belongs to `user` (anyone when empty).
absl::Status CheckOwner(Database& db, int64_t id, const std::string& user) {
  Statement q(db,
              "SELECT u.name FROM experiments e JOIN users u "
              "ON u.id = e.user_id WHERE e.id = ?");
  q.bind(1, id);
  if (!q.executeStep()) return ExperimentNotFound(id);
  if (!user.empty() && q.getColumn(0).getString() != user) {
    return ExperimentNotFound(id);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::ExperimentSpec> LoadSpec(Database& db, int64_t id) {
  Statement q(db, "SELECT spec_json FROM experiments WHERE id = ?");
  q.bind(1, id);
  if (!q.executeStep()) return ExperimentNotFound(id);
  return SpecFromJson(q.getColumn(0).getString(), id);
}

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
    "e.created_at, e.started_at, e.finished_at, e.plan_version "
    "FROM experiments e JOIN users u ON u.id = e.user_id";

absl::StatusOr<v1::Experiment> ReadExperiment(const Statement& q) {
  v1::Experiment e;
  e.set_id(q.getColumn(0).getInt64());
  e.set_name(q.getColumn(1).getString());
  e.set_owner(q.getColumn(2).getString());
  e.set_phase(PhaseFromText(q.getColumn(3).getString()));
  e.set_error(TextOrEmpty(q, 4));
  FNPROBE_ASSIGN_OR_RETURN(*e.mutable_spec(),
                           SpecFromJson(q.getColumn(5).getString(), e.id()));
  e.set_model(e.spec().model());
  e.set_created_at(TextOrEmpty(q, 6));
  e.set_started_at(TextOrEmpty(q, 7));
  e.set_finished_at(TextOrEmpty(q, 8));
  e.set_plan_version(q.getColumn(9).getInt());
  v1::ExperimentProgress* progress = e.mutable_progress();
  progress->set_experiment_id(e.id());
  progress->set_phase(e.phase());
  progress->set_error(e.error());
  return e;
}

// Columns read by ReadRun, in its order.
constexpr char kRunColumns[] =
    "id, condition, repeat_index, status, num_time_points, tokens_generated, "
    "overflow_count, activation_path, activation_checksum, error, attempts";

v1::Run ReadRun(const Statement& q, int index) {
  v1::Run run;
  run.set_id(q.getColumn(0).getInt64());
  run.set_index(index);
  run.set_condition(q.getColumn(1).getString());
  run.set_repeat(q.getColumn(2).getInt());
  run.set_state(RunStateFromText(q.getColumn(3).getString()));
  run.set_time_points(q.getColumn(4).getInt64());
  run.set_tokens_generated(q.getColumn(5).getInt64());
  run.set_overflow_count(q.getColumn(6).getInt64());
  run.set_activation_path(TextOrEmpty(q, 7));
  run.set_activation_checksum(TextOrEmpty(q, 8));
  run.set_error(TextOrEmpty(q, 9));
  run.set_attempts(q.getColumn(10).getInt());
  return run;
}

// The experiment's runs in plan order (row ids follow the plan).
std::vector<v1::Run> LoadRuns(Database& db, int64_t experiment_id) {
  Statement q(db,
              absl::StrCat("SELECT ", kRunColumns,
                           " FROM runs WHERE experiment_id = ? ORDER BY id"));
  q.bind(1, experiment_id);
  std::vector<v1::Run> runs;
  while (q.executeStep()) {
    runs.push_back(ReadRun(q, static_cast<int>(runs.size())));
  }
  return runs;
}

void SetProgressFromRuns(const std::vector<v1::Run>& runs, v1::Experiment* e) {
  v1::ExperimentProgress* p = e->mutable_progress();
  p->set_runs_total(static_cast<int32_t>(runs.size()));
  for (const v1::Run& run : runs) {
    p->set_runs_done(p->runs_done() + (run.state() == v1::RUN_DONE));
    p->set_tokens_done(p->tokens_done() + run.tokens_generated());
    p->set_tokens_total(p->tokens_total() + run.time_points());
  }
}

// Progress by aggregate, for callers that do not want the run rows.
void LoadProgress(Database& db, v1::Experiment* e) {
  Statement q(db,
              "SELECT count(*), coalesce(sum(status = 'done'), 0), "
              "coalesce(sum(tokens_generated), 0), "
              "coalesce(sum(num_time_points), 0) "
              "FROM runs WHERE experiment_id = ?");
  q.bind(1, e->id());
  q.executeStep();
  v1::ExperimentProgress* p = e->mutable_progress();
  p->set_runs_total(q.getColumn(0).getInt());
  p->set_runs_done(q.getColumn(1).getInt());
  p->set_tokens_done(q.getColumn(2).getInt64());
  p->set_tokens_total(q.getColumn(3).getInt64());
}

// The layout of the experiment's first finished run; NOT_FOUND before one.
absl::StatusOr<Layout> LoadLayout(Database& db, int64_t experiment_id) {
  Statement q(
      db,
      "SELECT id, layout_json FROM runs WHERE experiment_id = ? AND "
      "status = 'done' AND layout_json IS NOT NULL ORDER BY id LIMIT 1");
  q.bind(1, experiment_id);
  if (!q.executeStep()) {
    return absl::NotFoundError(
        absl::StrCat("experiment ", experiment_id,
                     " has no finished run yet; its layout is unknown"));
  }
  return LayoutFromJson(q.getColumn(1).getString(), q.getColumn(0).getInt64());
}

// LoadLayout, with "none yet" as nullopt rather than an error.
absl::StatusOr<std::optional<Layout>> LoadOptionalLayout(
    Database& db, int64_t experiment_id) {
  absl::StatusOr<Layout> layout = LoadLayout(db, experiment_id);
  if (layout.ok()) return std::optional<Layout>(*std::move(layout));
  if (absl::IsNotFound(layout.status())) return std::optional<Layout>();
  return layout.status();
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
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> CreateExperimentIn(Database& db,
                                           const std::string& user,
                                           const v1::ExperimentSpec& spec_in,
                                           const std::vector<RunPlan>& plans) {
  const v1::ExperimentSpec spec = WithDefaults(spec_in);
  FNPROBE_RETURN_IF_ERROR(CheckPlans(spec, plans));
  FNPROBE_ASSIGN_OR_RETURN(const std::string spec_json, SpecToJson(spec));
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  const int64_t user_id = UpsertUser(db, user.empty() ? kAnonymousUser : user);
  Statement insert(db,
                   "INSERT INTO experiments (user_id, name, spec_json, "
                   "plan_version) VALUES (?, ?, ?, ?)");
  insert.bind(1, user_id);
  insert.bind(2, spec.name());
  insert.bind(3, spec_json);
  insert.bind(4, kPlanVersion);
  insert.exec();
  const int64_t id = db.getLastInsertRowid();
  for (const RunPlan& plan : plans) {
    InsertEvents(db, InsertRun(db, id, spec, plan), plan);
  }
  tx.commit();
  return id;
}

// --- experiments: reads ---

absl::StatusOr<v1::Experiment> GetExperimentIn(Database& db, int64_t id,
                                               const std::string& user,
                                               bool include_runs) {
  FNPROBE_RETURN_IF_ERROR(CheckOwner(db, id, user));
  Statement q(db, absl::StrCat(kExperimentSelect, " WHERE e.id = ?"));
  q.bind(1, id);
  if (!q.executeStep()) return ExperimentNotFound(id);
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e, ReadExperiment(q));
  if (include_runs) {
    std::vector<v1::Run> runs = LoadRuns(db, id);
    SetProgressFromRuns(runs, &e);
    for (v1::Run& run : runs) *e.add_runs() = std::move(run);
  } else {
    LoadProgress(db, &e);
  }
  FNPROBE_ASSIGN_OR_RETURN(std::optional<Layout> layout,
                           LoadOptionalLayout(db, id));
  if (layout.has_value()) LayoutToProto(*layout, e.mutable_layout());
  return e;
}

void ClearPrompts(v1::ExperimentSpec* spec) {
  spec->mutable_baseline()->clear_prompts();
  for (v1::PromptPool& pool : *spec->mutable_conditions()) {
    pool.clear_prompts();
  }
}

absl::StatusOr<v1::ListExperimentsResponse> ListExperimentsIn(
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
  v1::ListExperimentsResponse response;
  while (q.executeStep()) {
    if (response.experiments_size() == page_size) {
      response.set_next_page_token(
          std::to_string(response.experiments(page_size - 1).id()));
      break;
    }
    FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e, ReadExperiment(q));
    ClearPrompts(e.mutable_spec());
    LoadProgress(db, &e);
    *response.add_experiments() = std::move(e);
  }
  return response;
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

// The stored phase of experiment `id`; NOT_FOUND if there is none.
absl::StatusOr<v1::ExperimentPhase> ReadPhase(Database& db, int64_t id) {
  Statement q(db, "SELECT status FROM experiments WHERE id = ?");
  q.bind(1, id);
  if (!q.executeStep()) return ExperimentNotFound(id);
  const std::string text = q.getColumn(0).getString();
  const v1::ExperimentPhase phase = PhaseFromText(text);
  if (phase == v1::PHASE_UNSPECIFIED) {
    return absl::DataLossError(
        absl::StrCat("experiment ", id, ": unknown status '", text, "'"));
  }
  return phase;
}

// Moves experiment `id` to `phase` if the state machine allows it from the
// stored phase. REQUIRES: a transaction is open, so that the check and the
// write see the same row.
absl::Status TransitionIn(Database& db, int64_t id, v1::ExperimentPhase phase,
                          const std::string& error) {
  const char* text = PhaseToText(phase);
  if (text == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("experiment ", id, ": cannot set phase ",
                     v1::ExperimentPhase_Name(phase)));
  }
  if (phase == v1::PHASE_FAILED && error.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("experiment ", id, ": PHASE_FAILED needs an error"));
  }
  FNPROBE_ASSIGN_OR_RETURN(const v1::ExperimentPhase from, ReadPhase(db, id));
  FNPROBE_RETURN_IF_ERROR(CheckPhaseTransition(id, from, phase));
  Statement update(
      db,
      "UPDATE experiments SET status = ?1, error = NULLIF(?2, ''), "
      "updated_at = " FNPROBE_SQL_NOW
      ", started_at = CASE WHEN ?3 THEN coalesce(started_at, " FNPROBE_SQL_NOW
      ") ELSE started_at END, finished_at = CASE WHEN ?4 THEN " FNPROBE_SQL_NOW
      " ELSE NULL END WHERE id = ?5");
  update.bind(1, text);
  update.bind(2, error);
  update.bind(3, phase == v1::PHASE_GENERATING ? 1 : 0);
  update.bind(4, IsTerminalPhase(phase) ? 1 : 0);
  update.bind(5, id);
  if (update.exec() == 0) return ExperimentNotFound(id);
  return absl::OkStatus();
}

absl::Status SetPhaseIn(Database& db, int64_t id, v1::ExperimentPhase phase,
                        const std::string& error) {
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  FNPROBE_RETURN_IF_ERROR(TransitionIn(db, id, phase, error));
  tx.commit();
  return absl::OkStatus();
}

// Rewrites the events of every run of `spec`'s experiment from a new plan.
absl::Status ReplaceEvents(Database& db, int64_t id,
                           const v1::ExperimentSpec& spec) {
  const std::vector<RunPlan> plans = PlanRuns(spec);
  const std::vector<v1::Run> runs = LoadRuns(db, id);
  if (plans.size() != runs.size()) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", id, ": the spec plans ", plans.size(),
                     " runs but ", runs.size(), " are stored"));
  }
  Statement erase(db, "DELETE FROM events WHERE run_id = ?");
  for (size_t i = 0; i < runs.size(); ++i) {
    if (plans[i].condition_name != runs[i].condition() ||
        plans[i].repeat != runs[i].repeat()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "experiment ", id, ": run ", i, " no longer matches the spec"));
    }
    erase.bind(1, runs[i].id());
    erase.exec();
    erase.reset();
    InsertEvents(db, runs[i].id(), plans[i]);
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

absl::StatusOr<std::vector<v1::Run>> ListRunsIn(Database& db,
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

absl::Status CheckMap(const analysis::StatMap& map, int64_t units,
                      absl::string_view what) {
  if (map.contrast.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": empty contrast"));
  }
  if (map.noise_model != "OLS" && map.noise_model != "AR1") {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": noise model '", map.noise_model, "' is not OLS or AR1"));
  }
  if (static_cast<int64_t>(map.t.n_elem) != units ||
      map.effect.n_elem != map.t.n_elem || map.p.n_elem != map.t.n_elem ||
      map.variance.n_elem != map.t.n_elem) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": map has ", map.t.n_elem, " units, the layout ",
                     units, " (or its arrays differ in size)"));
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
  return CheckMap(run.map, run.layout.width(), what);
}

// Inserts or replaces a run's level-one prompt values (none: removes them).
void PutPromptValues(Database& db, int64_t run_id, const arma::mat& values) {
  if (values.is_empty()) {
    Statement remove(db, "DELETE FROM prompt_values WHERE run_id = ?");
    remove.bind(1, run_id);
    remove.exec();
    return;
  }
  const std::string blob = analysis::EncodePromptValues(values);
  Statement insert(db,
                   "INSERT OR REPLACE INTO prompt_values (run_id, "
                   "num_prompts, num_units, values_blob) VALUES (?, ?, ?, ?)");
  insert.bind(1, run_id);
  insert.bind(2, static_cast<int64_t>(values.n_rows));
  insert.bind(3, static_cast<int64_t>(values.n_cols));
  insert.bindNoCopy(4, blob.data(), static_cast<int>(blob.size()));
  insert.exec();
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

// Binds dof (NULL unless positive, as CHECKed).
void BindDof(Statement& q, int index, double dof) {
  if (dof > 0) {
    q.bind(index, dof);
  } else {
    q.bind(index);
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
      "overflow_count = ?, error = NULL, finished_at = " FNPROBE_SQL_NOW
      " WHERE id = ?");
  update.bind(1, run.layout.HashHex());
  update.bind(2, LayoutToJson(run.layout));
  update.bind(3, run.layout.width());
  update.bind(4, std::string(DTypeName(run.capture_dtype)));
  update.bind(5, run.file.path);
  update.bind(6, run.file.checksum);
  update.bind(7, run.file.rows);
  update.bind(8, run.time_points);
  update.bind(9, run.file.overflow_count);
  update.bind(10, run_id);
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
  InsertRunMap(db, experiment_id, run_id, condition, run.layout, run.map,
               run.permutation_threshold);
  PutPromptValues(db, run_id, run.prompt_values);
  tx.commit();
  return absl::OkStatus();
}

absl::Status MarkRunFinishedIn(Database& db, int64_t run_id, v1::RunState state,
                               const std::string& error) {
  if (state != v1::RUN_FAILED && state != v1::RUN_CANCELLED) {
    return absl::InvalidArgumentError(
        absl::StrCat("run ", run_id,
                     ": MarkRunFinished takes RUN_FAILED or "
                     "RUN_CANCELLED, not ",
                     v1::RunState_Name(state)));
  }
  if (state == v1::RUN_FAILED && error.empty()) {
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

// RUN_PENDING (or a retried RUN_RUNNING) -> RUN_RUNNING, and the experiment
// to PHASE_GENERATING, together: a run of a finished experiment never starts.
absl::Status StartRunIn(Database& db, int64_t experiment_id, int64_t run_id) {
  SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
  Statement q(db, "SELECT experiment_id FROM runs WHERE id = ?");
  q.bind(1, run_id);
  if (!q.executeStep() || q.getColumn(0).getInt64() != experiment_id) {
    return RunNotFound(run_id);
  }
  FNPROBE_RETURN_IF_ERROR(
      TransitionIn(db, experiment_id, v1::PHASE_GENERATING, ""));
  FNPROBE_RETURN_IF_ERROR(MarkRunStartedIn(db, run_id));
  tx.commit();
  return absl::OkStatus();
}

// The experiment to PHASE_FAILED or PHASE_CANCELLED with, in the same
// transaction, `failed_run_id` (if not 0) RUN_FAILED and every other pending
// or running run RUN_CANCELLED: no run outlives its experiment's end.
absl::Status EndExperimentIn(Database& db, int64_t id,
                             v1::ExperimentPhase phase,
                             const std::string& error, int64_t failed_run_id) {
  if (phase != v1::PHASE_FAILED && phase != v1::PHASE_CANCELLED) {
    return absl::InvalidArgumentError(
        absl::StrCat("experiment ", id,
                     ": EndExperiment takes PHASE_FAILED or "
                     "PHASE_CANCELLED, not ",
                     v1::ExperimentPhase_Name(phase)));
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
  FNPROBE_ASSIGN_OR_RETURN(const v1::ExperimentPhase phase,
                           ReadPhase(db, experiment_id));
  if (phase != v1::PHASE_ANALYZING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "experiment ", experiment_id, " is ", v1::ExperimentPhase_Name(phase),
        "; its analysis is not stored"));
  }
  Statement q(db,
              "SELECT count(*) FROM runs WHERE experiment_id = ? AND "
              "status != 'done'");
  q.bind(1, experiment_id);
  q.executeStep();
  if (const int64_t missing = q.getColumn(0).getInt64(); missing > 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", experiment_id, " has ", missing,
                     " run(s) not done; it cannot be done"));
  }
  FNPROBE_RETURN_IF_ERROR(WriteAnalysisIn(db, experiment_id, result, layout));
  FNPROBE_RETURN_IF_ERROR(TransitionIn(db, experiment_id, v1::PHASE_DONE, ""));
  tx.commit();
  return absl::OkStatus();
}

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
  FNPROBE_ASSIGN_OR_RETURN(const v1::ExperimentSpec spec, LoadSpec(db, id));
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
  // Prompts are not stored per run: the plan is a pure function of the spec
  // and the planner's version. An experiment planned by an earlier planner
  // gets no prompts rather than another plan's.
  Statement version(db, "SELECT plan_version FROM experiments WHERE id = ?");
  version.bind(1, id);
  if (!version.executeStep() || version.getColumn(0).getInt() != kPlanVersion) {
    return response;
  }
  if (!ValidateSpec(spec).ok()) {
    return absl::DataLossError(
        absl::StrCat("experiment ", id, ": stored spec no longer validates"));
  }
  const std::vector<RunPlan> plans = PlanRuns(spec);
  if (index < static_cast<int>(plans.size())) {
    for (const std::string& prompt : plans[index].prompts) {
      response.add_prompts(prompt);
    }
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

// --- ExperimentStore ---

ExperimentStore::ExperimentStore(std::unique_ptr<SQLite::Database> db)
    : db_(std::move(db)) {}

ExperimentStore::~ExperimentStore() = default;

absl::StatusOr<std::unique_ptr<ExperimentStore>> ExperimentStore::Open(
    const std::string& path) {
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<SQLite::Database> db,
                           OpenDatabase(path));
  MigrationRunner runner(db.get());
  absl::StatusOr<int> version = runner.Apply(EmbeddedMigrations());
  if (!version.ok()) return Annotate(version.status(), path);
  return std::unique_ptr<ExperimentStore>(new ExperimentStore(std::move(db)));
}

absl::StatusOr<int64_t> ExperimentStore::CreateExperiment(
    const std::string& user, const v1::ExperimentSpec& spec,
    const std::vector<RunPlan>& plans) {
  absl::MutexLock lock(&mu_);
  return Guard("CreateExperiment",
               [&] { return CreateExperimentIn(*db_, user, spec, plans); });
}

absl::StatusOr<v1::Experiment> ExperimentStore::GetExperiment(
    int64_t id, const std::string& user, bool include_runs) {
  absl::MutexLock lock(&mu_);
  return Guard("GetExperiment",
               [&] { return GetExperimentIn(*db_, id, user, include_runs); });
}

absl::StatusOr<v1::ListExperimentsResponse> ExperimentStore::ListExperiments(
    const std::string& user, int page_size, const std::string& page_token) {
  absl::MutexLock lock(&mu_);
  return Guard("ListExperiments", [&] {
    return ListExperimentsIn(*db_, user, page_size, page_token);
  });
}

absl::StatusOr<std::vector<int64_t>> ExperimentStore::UnfinishedExperiments() {
  absl::MutexLock lock(&mu_);
  return Guard("UnfinishedExperiments",
               [&]() -> absl::StatusOr<std::vector<int64_t>> {
                 return UnfinishedExperimentsIn(*db_);
               });
}

absl::Status ExperimentStore::SetPhase(int64_t id, v1::ExperimentPhase phase,
                                       const std::string& error) {
  absl::MutexLock lock(&mu_);
  return Guard("SetPhase", [&] { return SetPhaseIn(*db_, id, phase, error); });
}

absl::Status ExperimentStore::StartRun(int64_t experiment_id, int64_t run_id) {
  absl::MutexLock lock(&mu_);
  return Guard("StartRun",
               [&] { return StartRunIn(*db_, experiment_id, run_id); });
}

absl::Status ExperimentStore::EndExperiment(int64_t id,
                                            v1::ExperimentPhase phase,
                                            const std::string& error,
                                            int64_t failed_run_id) {
  absl::MutexLock lock(&mu_);
  return Guard("EndExperiment", [&] {
    return EndExperimentIn(*db_, id, phase, error, failed_run_id);
  });
}

absl::Status ExperimentStore::SetAnalysisSpec(
    int64_t id, const v1::AnalysisSpec& analysis) {
  absl::MutexLock lock(&mu_);
  return Guard("SetAnalysisSpec",
               [&] { return SetAnalysisSpecIn(*db_, id, analysis); });
}

absl::StatusOr<std::vector<v1::Run>> ExperimentStore::ListRuns(
    int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  return Guard("ListRuns", [&] { return ListRunsIn(*db_, experiment_id); });
}

absl::StatusOr<int> ExperimentStore::ResetInterruptedRuns() {
  absl::MutexLock lock(&mu_);
  return Guard("ResetInterruptedRuns", [&]() -> absl::StatusOr<int> {
    return db_->exec(
        "UPDATE runs SET status = 'pending', tokens_generated = 0, "
        "started_at = NULL WHERE status = 'running'");
  });
}

absl::Status ExperimentStore::MarkRunStarted(int64_t run_id) {
  absl::MutexLock lock(&mu_);
  return Guard("MarkRunStarted",
               [&] { return MarkRunStartedIn(*db_, run_id); });
}

absl::Status ExperimentStore::SetRunTokens(int64_t run_id,
                                           int64_t tokens_generated) {
  absl::MutexLock lock(&mu_);
  return Guard("SetRunTokens",
               [&] { return SetRunTokensIn(*db_, run_id, tokens_generated); });
}

absl::Status ExperimentStore::MarkRunDone(int64_t run_id,
                                          const FinishedRun& run) {
  absl::MutexLock lock(&mu_);
  return Guard("MarkRunDone", [&] { return MarkRunDoneIn(*db_, run_id, run); });
}

absl::Status ExperimentStore::MarkRunFinished(int64_t run_id,
                                              v1::RunState state,
                                              const std::string& error) {
  absl::MutexLock lock(&mu_);
  return Guard("MarkRunFinished",
               [&] { return MarkRunFinishedIn(*db_, run_id, state, error); });
}

absl::Status ExperimentStore::CancelPendingRuns(int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  return Guard("CancelPendingRuns",
               [&] { return CancelPendingRunsIn(*db_, experiment_id); });
}

absl::StatusOr<std::vector<analysis::RunInput>> ExperimentStore::LoadRunInputs(
    int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  return Guard("LoadRunInputs",
               [&] { return LoadRunInputsIn(*db_, experiment_id); });
}

absl::Status ExperimentStore::ReplaceRunMap(int64_t run_id,
                                            const analysis::StatMap& map,
                                            double permutation_threshold,
                                            const arma::mat& prompt_values) {
  absl::MutexLock lock(&mu_);
  return Guard("ReplaceRunMap", [&] {
    return ReplaceRunMapIn(*db_, run_id, map, permutation_threshold,
                           prompt_values);
  });
}

absl::Status ExperimentStore::SaveAnalysis(
    int64_t experiment_id, const analysis::AnalysisResult& result,
    const Layout& layout) {
  absl::MutexLock lock(&mu_);
  return Guard("SaveAnalysis", [&] {
    return SaveAnalysisIn(*db_, experiment_id, result, layout);
  });
}

absl::Status ExperimentStore::FinishAnalysis(
    int64_t experiment_id, const analysis::AnalysisResult& result,
    const Layout& layout) {
  absl::MutexLock lock(&mu_);
  return Guard("FinishAnalysis", [&] {
    return FinishAnalysisIn(*db_, experiment_id, result, layout);
  });
}

absl::StatusOr<Layout> ExperimentStore::ExperimentLayout(
    int64_t experiment_id) {
  absl::MutexLock lock(&mu_);
  return Guard("ExperimentLayout", [&]() -> absl::StatusOr<Layout> {
    FNPROBE_RETURN_IF_ERROR(CheckOwner(*db_, experiment_id, ""));
    return LoadLayout(*db_, experiment_id);
  });
}

absl::StatusOr<v1::ListNetworksResponse> ExperimentStore::ListNetworks(
    const v1::ListNetworksRequest& request, const std::string& user) {
  absl::MutexLock lock(&mu_);
  return Guard("ListNetworks",
               [&] { return ListNetworksIn(*db_, request, user); });
}

absl::StatusOr<v1::GetNetworkResponse> ExperimentStore::GetNetwork(
    const v1::GetNetworkRequest& request, const std::string& user) {
  absl::MutexLock lock(&mu_);
  return Guard("GetNetwork", [&] { return GetNetworkIn(*db_, request, user); });
}

absl::StatusOr<v1::CompareNetworksResponse> ExperimentStore::CompareNetworks(
    const v1::CompareNetworksRequest& request, const std::string& user) {
  absl::MutexLock lock(&mu_);
  return Guard("CompareNetworks",
               [&] { return CompareNetworksIn(*db_, request, user); });
}

absl::StatusOr<v1::GetRepeatabilityResponse> ExperimentStore::GetRepeatability(
    const v1::GetRepeatabilityRequest& request, const std::string& user) {
  absl::MutexLock lock(&mu_);
  return Guard("GetRepeatability",
               [&] { return GetRepeatabilityIn(*db_, request, user); });
}

absl::StatusOr<v1::GetClassificationResponse>
ExperimentStore::GetClassification(const v1::GetClassificationRequest& request,
                                   const std::string& user) {
  absl::MutexLock lock(&mu_);
  return Guard("GetClassification",
               [&] { return GetClassificationIn(*db_, request, user); });
}

absl::StatusOr<v1::GetRunEventsResponse> ExperimentStore::GetRunEvents(
    const v1::GetRunEventsRequest& request, const std::string& user) {
  absl::MutexLock lock(&mu_);
  return Guard("GetRunEvents",
               [&] { return GetRunEventsIn(*db_, request, user); });
}

absl::StatusOr<v1::FindUnitResponse> ExperimentStore::FindUnit(
    const v1::FindUnitRequest& request, const std::string& user) {
  absl::MutexLock lock(&mu_);
  return Guard("FindUnit", [&] { return FindUnitIn(*db_, request, user); });
}

absl::StatusOr<v1::StatMap> ExperimentStore::GetStatMap(
    const v1::GetStatMapRequest& request, const std::string& user) {
  absl::MutexLock lock(&mu_);
  return Guard("GetStatMap", [&] { return GetStatMapIn(*db_, request, user); });
}

}  // namespace fnprobe::worker
