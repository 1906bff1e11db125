// Row helpers shared by the worker's stores (ExperimentStore, ResultStore,
// ResultQueries): the schema's closed vocabularies as text, binding and
// reading columns, the JSON the rows keep (specs, layouts), and the reads
// and checks more than one store needs (ownership, the stored spec and
// layout, the phase transition). Internal to fnprobe_worker.
//
// Every function that takes a Database& runs inside its caller's
// StoreDatabase::Run (the connection's lock held); they throw what
// SQLiteCpp throws and Run turns it into a Status.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_STORE_ROWS_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_STORE_ROWS_H_

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/layout.h"
#include "fnprobe/v1/experiments.pb.h"
#include "nlohmann/json.hpp"
#include "server/analysis/run_planner.h"
#include "server/analysis/stat_map.h"
#include "server/analysis/worker/experiment_rows.h"

// The current time as the schema's ISO-8601 UTC text, inside SQL literals.
#define FNPROBE_SQL_NOW "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

// Bytes of raw activations of the runs `r` (an aggregate over runs AS r):
// the file size stored with the run (after compression), or for runs stored
// before it was (activation_bytes 0) rows x units x the capture dtype's
// size.
#define FNPROBE_SQL_STORED_BYTES                                      \
  "coalesce(sum(CASE WHEN r.activation_path IS NULL THEN 0 "          \
  "WHEN r.activation_bytes > 0 THEN r.activation_bytes "              \
  "ELSE coalesce(r.activation_rows, 0) * coalesce(r.num_units, 0) * " \
  "(CASE r.capture_dtype WHEN 'F32' THEN 4 ELSE 2 END) END), 0)"

namespace fnprobe::worker {

// The classification method SaveAnalysis stores (held-out mean t).
inline constexpr char kClassifyMethod[] = "mean_t";

// JSON text of `j`; invalid UTF-8 (names come from other processes) is
// replaced rather than thrown about.
std::string Dump(const nlohmann::json& j);

// --- closed vocabularies of the schema ('pending', 'running', ...) ---
// nullptr / kUnspecified for values the schema does not know.
const char* PhaseToText(ExperimentPhase phase);
ExperimentPhase PhaseFromText(absl::string_view text);
const char* RunStateToText(RunState state);
RunState RunStateFromText(absl::string_view text);

// --- columns ---
std::string TextOrEmpty(const SQLite::Statement& q, int column);
// NULL (what SQLite makes of NaN) reads back as NaN, not 0.
double DoubleOrNan(const SQLite::Statement& q, int column);
// Valid while the statement stays on its row.
absl::string_view BlobView(const SQLite::Statement& q, int column);
void BindTextOrNull(SQLite::Statement& q, int index, const std::string& text);
// 0 binds NULL (no such row).
void BindIdOrNull(SQLite::Statement& q, int index, int64_t id);
// Probabilities are CHECKed to [0, 1]; rounding may step just outside.
void BindProbability(SQLite::Statement& q, int index, double p);
// dof is NULL unless positive, as CHECKed.
void BindDof(SQLite::Statement& q, int index, double dof);
uint64_t ParseHexHash(const std::string& hex);

// --- errors ---
absl::Status ExperimentNotFound(int64_t id);
absl::Status RunNotFound(int64_t id);
absl::Status NetworkNotFound(int64_t id);
// A page token of these stores: a non-negative decimal (an id or an
// offset). An empty token is `empty_value`.
absl::StatusOr<int64_t> ParsePageToken(const std::string& token,
                                       int64_t empty_value);

// --- JSON kept in rows ---
absl::StatusOr<std::string> SpecToJson(const v1::ExperimentSpec& spec);
// DATA_LOSS naming the experiment when the stored text does not parse.
absl::StatusOr<v1::ExperimentSpec> SpecFromJson(const std::string& json,
                                                int64_t experiment_id);
std::string LayoutToJson(const Layout& layout);
absl::StatusOr<Layout> LayoutFromJson(const std::string& text, int64_t run_id);
// Counts of `units` per hook point of `layout`, in layout order.
std::vector<int64_t> HookCounts(const Layout& layout,
                                const std::vector<int64_t>& units);

// --- reads several stores need ---
// OK when experiment `id` exists and belongs to `user` (anyone when empty);
// NOT_FOUND otherwise, the same for a foreign and a missing experiment.
absl::Status CheckOwner(SQLite::Database& db, int64_t id,
                        const std::string& user);
absl::StatusOr<v1::ExperimentSpec> LoadSpec(SQLite::Database& db, int64_t id);
// The experiment's runs in plan order (row ids follow the plan).
std::vector<RunRow> LoadRuns(SQLite::Database& db, int64_t experiment_id);
// The layout of the experiment's first finished run; NOT_FOUND before one.
absl::StatusOr<Layout> LoadLayout(SQLite::Database& db, int64_t experiment_id);
// LoadLayout, with "none yet" as nullopt rather than an error.
absl::StatusOr<std::optional<Layout>> LoadOptionalLayout(SQLite::Database& db,
                                                         int64_t experiment_id);
// The experiment's run plans as stored at submission (run_prompts; events
// from the stored spec's timing), in plan order. An experiment stored
// before plans were has no prompt rows: it is planned from its spec when
// its plan_version is the current planner's; FAILED_PRECONDITION ("planned
// by an earlier fnprobe ...") otherwise. DATA_LOSS for rows that do not
// form a plan. `runs` (may be null) receives the experiment's runs, which
// the plans are read with (LoadRuns), even when the plans do not load: a
// caller that needs both reads them once.
absl::StatusOr<std::vector<RunPlan>> LoadPlans(
    SQLite::Database& db, int64_t id, std::vector<RunRow>* runs = nullptr);
// LoadPlans with the experiment's stored spec already in hand (the events
// are timed by `spec`), so that it is not read again.
absl::StatusOr<std::vector<RunPlan>> LoadPlans(
    SQLite::Database& db, int64_t id, const v1::ExperimentSpec& spec,
    std::vector<RunRow>* runs = nullptr);
// The stored phase of experiment `id`; NOT_FOUND if there is none.
absl::StatusOr<ExperimentPhase> ReadPhase(SQLite::Database& db, int64_t id);

// OK when experiment `id` is analyzing and every one of its runs is done,
// so that its analysis may be stored and the experiment become done;
// FAILED_PRECONDITION saying which is not so (a cancellation that committed
// first, a run not finished). Call inside the transaction that finishes it.
absl::Status CheckAnalysisCanFinish(SQLite::Database& db, int64_t id);

// --- writes several stores need ---
// Moves experiment `id` to `phase` if the state machine (experiment_phase.h)
// allows it from the stored phase. REQUIRES: a transaction is open, so that
// the check and the write see the same row.
absl::Status TransitionIn(SQLite::Database& db, int64_t id,
                          ExperimentPhase phase, const std::string& error);
// INVALID_ARGUMENT naming `what` unless `map` is a complete map of `units`
// units with a contrast and a known noise model.
absl::Status CheckMap(const analysis::StatMap& map, int64_t units,
                      absl::string_view what);
// Inserts or replaces a run's level-one prompt values (none: removes them).
void PutPromptValues(SQLite::Database& db, int64_t run_id,
                     const arma::mat& values);

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_STORE_ROWS_H_
