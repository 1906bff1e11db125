#include "server/analysis/worker/store_rows.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/worker/experiment_phase.h"

namespace fnprobe::worker {

using SQLite::Database;
using SQLite::Statement;
using Json = nlohmann::json;

// JSON text of `j`; invalid UTF-8 (names come from other processes) is
// replaced rather than thrown about.
std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// --- closed vocabularies of the schema ---

struct PhaseText {
  ExperimentPhase phase;
  const char* text;
};
constexpr PhaseText kPhaseTexts[] = {
    {ExperimentPhase::kQueued, "pending"},
    {ExperimentPhase::kGenerating, "running"},
    {ExperimentPhase::kAnalyzing, "analyzing"},
    {ExperimentPhase::kDone, "done"},
    {ExperimentPhase::kFailed, "failed"},
    {ExperimentPhase::kCancelled, "cancelled"},
};

struct RunStateText {
  RunState state;
  const char* text;
};
constexpr RunStateText kRunStateTexts[] = {
    {RunState::kPending, "pending"},     {RunState::kRunning, "running"},
    {RunState::kDone, "done"},           {RunState::kFailed, "failed"},
    {RunState::kCancelled, "cancelled"},
};

const char* PhaseToText(ExperimentPhase phase) {
  for (const PhaseText& p : kPhaseTexts) {
    if (p.phase == phase) return p.text;
  }
  return nullptr;
}

ExperimentPhase PhaseFromText(absl::string_view text) {
  for (const PhaseText& p : kPhaseTexts) {
    if (text == p.text) return p.phase;
  }
  return ExperimentPhase::kUnspecified;
}

const char* RunStateToText(RunState state) {
  for (const RunStateText& r : kRunStateTexts) {
    if (r.state == state) return r.text;
  }
  return nullptr;
}

RunState RunStateFromText(absl::string_view text) {
  for (const RunStateText& r : kRunStateTexts) {
    if (text == r.text) return r.state;
  }
  return RunState::kUnspecified;
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

// Columns read by ReadRun, in its order.
constexpr char kRunColumns[] =
    "id, condition, repeat_index, status, num_time_points, tokens_generated, "
    "overflow_count, activation_path, activation_checksum, error, attempts";

RunRow ReadRun(const Statement& q, int index) {
  RunRow run;
  run.id = q.getColumn(0).getInt64();
  run.index = index;
  run.condition = q.getColumn(1).getString();
  run.repeat = q.getColumn(2).getInt();
  run.state = RunStateFromText(q.getColumn(3).getString());
  run.time_points = q.getColumn(4).getInt64();
  run.tokens_generated = q.getColumn(5).getInt64();
  run.overflow_count = q.getColumn(6).getInt64();
  run.activation_path = TextOrEmpty(q, 7);
  run.activation_checksum = TextOrEmpty(q, 8);
  run.error = TextOrEmpty(q, 9);
  run.attempts = q.getColumn(10).getInt();
  return run;
}

// The experiment's runs in plan order (row ids follow the plan).
std::vector<RunRow> LoadRuns(Database& db, int64_t experiment_id) {
  Statement q(db,
              absl::StrCat("SELECT ", kRunColumns,
                           " FROM runs WHERE experiment_id = ? ORDER BY id"));
  q.bind(1, experiment_id);
  std::vector<RunRow> runs;
  while (q.executeStep()) {
    runs.push_back(ReadRun(q, static_cast<int>(runs.size())));
  }
  return runs;
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

namespace {

// The plan of an experiment stored before plans were, when today's planner
// plans it as it was planned.
absl::StatusOr<std::vector<RunPlan>> ReplanLegacy(
    Database& db, int64_t id, const v1::ExperimentSpec& spec,
    const std::vector<RunRow>& runs) {
  Statement version(db, "SELECT plan_version FROM experiments WHERE id = ?");
  version.bind(1, id);
  const int stored = version.executeStep() ? version.getColumn(0).getInt() : 0;
  if (stored != kPlanVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "experiment ", id, " was planned by an earlier fnprobe (plan version ",
        stored, ", now ", kPlanVersion,
        ") and its plan is not stored; its runs cannot be planned the same "
        "way: resubmit the spec"));
  }
  if (!ValidateSpec(spec).ok()) {
    return absl::DataLossError(
        absl::StrCat("experiment ", id, ": stored spec no longer validates"));
  }
  std::vector<RunPlan> plans = PlanRuns(spec);
  if (plans.size() != runs.size()) {
    return absl::DataLossError(
        absl::StrCat("experiment ", id, ": the spec plans ", plans.size(),
                     " runs but ", runs.size(), " are stored"));
  }
  return plans;
}

int ConditionIndex(const v1::ExperimentSpec& spec, const std::string& name) {
  if (spec.has_masking()) {
    // A masking run's condition is "unmasked/EVAL" or "OP/NETWORK/EVAL"
    // (masking_spec.h): its index is its evaluation set's.
    const std::string set = name.substr(name.rfind('/') + 1);
    for (int i = 0; i < spec.masking().evaluation_size(); ++i) {
      if (spec.masking().evaluation(i).name() == set) return i;
    }
    return -1;
  }
  for (int i = 0; i < spec.conditions_size(); ++i) {
    if (spec.conditions(i).name() == name) return i;
  }
  return -1;
}

// The plans of `runs` (the experiment's, in plan order) from their stored
// prompts and `spec`.
absl::StatusOr<std::vector<RunPlan>> PlansOf(Database& db, int64_t id,
                                             const v1::ExperimentSpec& spec,
                                             const std::vector<RunRow>& runs) {
  std::vector<RunPlan> plans(runs.size());
  absl::flat_hash_map<int64_t, size_t> index_of;
  for (size_t i = 0; i < runs.size(); ++i) {
    RunPlan& plan = plans[i];
    plan.index = static_cast<int>(i);
    plan.condition_name = runs[i].condition;
    plan.condition =
        spec.has_texts() && plan.condition_name == kTextGroupCondition
            ? -1
            : ConditionIndex(spec, plan.condition_name);
    plan.repeat = runs[i].repeat;
    plan.time_points = runs[i].time_points;
    if (plan.condition < 0 && !spec.has_texts()) {
      return absl::DataLossError(absl::StrCat(
          "experiment ", id, ": run ", runs[i].id, "'s condition '",
          plan.condition_name, "' is not in the stored spec"));
    }
    index_of[runs[i].id] = i;
  }
  Statement q(db,
              "SELECT p.run_id, p.position, p.block, p.task, p.prompt "
              "FROM run_prompts p JOIN runs r ON r.id = p.run_id "
              "WHERE r.experiment_id = ? ORDER BY p.run_id, p.position");
  q.bind(1, id);
  bool any = false;
  int last_block = -1;
  while (q.executeStep()) {
    any = true;
    RunPlan& plan = plans[index_of.at(q.getColumn(0).getInt64())];
    const int position = q.getColumn(1).getInt();
    const int block = q.getColumn(2).getInt();
    if (position != static_cast<int>(plan.prompts.size())) {
      return absl::DataLossError(absl::StrCat(
          "experiment ", id, ": run ", q.getColumn(0).getInt64(),
          "'s stored prompts skip position ", plan.prompts.size()));
    }
    if (position == 0) last_block = -1;
    if (block != last_block) {
      plan.blocks.push_back({q.getColumn(3).getInt() == 1, position, 0});
      last_block = block;
    }
    ++plan.blocks.back().num_prompts;
    plan.prompts.push_back(q.getColumn(4).getString());
  }
  if (!any) return ReplanLegacy(db, id, spec, runs);
  for (RunPlan& plan : plans) {
    if (plan.prompts.empty()) {
      return absl::DataLossError(absl::StrCat(
          "experiment ", id, ": run ", plan.index, " has no stored prompts"));
    }
    plan.events = BlockEvents(spec, plan);
  }
  return plans;
}

}  // namespace

absl::StatusOr<std::vector<RunPlan>> LoadPlans(Database& db, int64_t id,
                                               std::vector<RunRow>* runs) {
  std::vector<RunRow> own;
  if (runs == nullptr) runs = &own;
  // The runs first: the caller has them even when the spec does not parse.
  *runs = LoadRuns(db, id);
  FNPROBE_ASSIGN_OR_RETURN(const v1::ExperimentSpec spec, LoadSpec(db, id));
  return PlansOf(db, id, spec, *runs);
}

absl::StatusOr<std::vector<RunPlan>> LoadPlans(Database& db, int64_t id,
                                               const v1::ExperimentSpec& spec,
                                               std::vector<RunRow>* runs) {
  std::vector<RunRow> own;
  if (runs == nullptr) runs = &own;
  *runs = LoadRuns(db, id);
  return PlansOf(db, id, spec, *runs);
}

// The stored phase of experiment `id`; NOT_FOUND if there is none.
absl::StatusOr<ExperimentPhase> ReadPhase(Database& db, int64_t id) {
  Statement q(db, "SELECT status FROM experiments WHERE id = ?");
  q.bind(1, id);
  if (!q.executeStep()) return ExperimentNotFound(id);
  const std::string text = q.getColumn(0).getString();
  const ExperimentPhase phase = PhaseFromText(text);
  if (phase == ExperimentPhase::kUnspecified) {
    return absl::DataLossError(
        absl::StrCat("experiment ", id, ": unknown status '", text, "'"));
  }
  return phase;
}

// Moves experiment `id` to `phase` if the state machine allows it from the
// stored phase. REQUIRES: a transaction is open, so that the check and the
// write see the same row.
absl::Status CheckAnalysisCanFinish(Database& db, int64_t experiment_id) {
  FNPROBE_ASSIGN_OR_RETURN(const ExperimentPhase phase,
                           ReadPhase(db, experiment_id));
  if (phase != ExperimentPhase::kAnalyzing) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", experiment_id, " is ", PhaseName(phase),
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
  return absl::OkStatus();
}

absl::Status TransitionIn(Database& db, int64_t id, ExperimentPhase phase,
                          const std::string& error) {
  const char* text = PhaseToText(phase);
  if (text == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        "experiment ", id, ": cannot set phase ", PhaseName(phase)));
  }
  if (phase == ExperimentPhase::kFailed && error.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("experiment ", id, ": PHASE_FAILED needs an error"));
  }
  FNPROBE_ASSIGN_OR_RETURN(const ExperimentPhase from, ReadPhase(db, id));
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
  update.bind(3, phase == ExperimentPhase::kGenerating ? 1 : 0);
  update.bind(4, IsTerminalPhase(phase) ? 1 : 0);
  update.bind(5, id);
  if (update.exec() == 0) return ExperimentNotFound(id);
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

// Binds dof (NULL unless positive, as CHECKed).
void BindDof(Statement& q, int index, double dof) {
  if (dof > 0) {
    q.bind(index, dof);
  } else {
    q.bind(index);
  }
}

}  // namespace fnprobe::worker
