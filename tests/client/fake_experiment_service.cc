#include "tests/client/fake_experiment_service.h"

#include <fnmatch.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/layout_proto.h"

namespace fnprobe::testing {
namespace {

constexpr int kConditions = 3;
constexpr int kRuns = 6;
constexpr int kTimePoints = 48;
constexpr int64_t kFirstRunId = 101;
constexpr int64_t kFirstNetworkId = 11;
constexpr int64_t kFirstRunNetworkId = 21;

grpc::Status NotFound(absl::string_view what, int64_t id) {
  return grpc::Status(grpc::StatusCode::NOT_FOUND,
                      absl::StrCat(what, " ", id, " not found"));
}

bool IsKnown(int64_t id) {
  return id >= FakeExperimentService::kDoneId &&
         id <= FakeExperimentService::kSubmittedId;
}

bool IsMember(int c, int64_t u) {
  // medical_imaging and pathology share extra units: they overlap most.
  return (u * 5 + c * 3) % 7 < 2 || (c < 2 && u % 4 == 1);
}

double TValue(int c, int64_t u) {
  if (!IsMember(c, u)) return ((u * 7 + c) % 30) / 10.0 - 1.5;
  const double magnitude = 4 + ((u * 13 + c * 7) % 50) / 10.0;
  return u % 3 == 0 ? -magnitude : magnitude;
}

double PValue(int c, int64_t u) {
  if (!IsMember(c, u)) return 0.2 + ((u + c) % 7) / 10.0;
  return 1e-4 / (1 + std::fabs(TValue(c, u)));
}

v1::PromptPool Pool(const std::string& name) {
  v1::PromptPool pool;
  pool.set_name(name);
  for (int i = 0; i < 4; ++i) {
    pool.add_prompts(absl::StrCat("Tell me about ", name, " topic ", i, "."));
  }
  return pool;
}

v1::ExperimentSpec Spec() {
  v1::ExperimentSpec spec;
  spec.set_name("nencka2023-small");
  spec.set_model("tiny-opt");
  spec.mutable_generation()->set_tokens_per_prompt(8);
  spec.mutable_generation()->set_seed(7);
  spec.mutable_capture()->add_hooks("neurons");
  spec.mutable_capture()->set_dtype(v1::CaptureDType::F16);
  *spec.mutable_baseline() = Pool("rest");
  for (const std::string& c : FakeExperimentService::Conditions()) {
    *spec.add_conditions() = Pool(c);
  }
  v1::BlockDesign* design = spec.mutable_design();
  for (const char* block : {"baseline", "task", "baseline"}) {
    design->add_pattern(block);
  }
  design->set_prompts_per_block(2);
  design->set_repeats(2);
  v1::AnalysisSpec* a = spec.mutable_analysis();
  a->set_hrf(v1::HrfModel::NONE);
  a->set_drift(v1::DriftModel::COSINE);
  a->set_noise(v1::NoiseModel::OLS);
  a->mutable_threshold()->set_method(v1::ThresholdSpec::FDR);
  a->mutable_threshold()->set_alpha(0.05);
  a->mutable_threshold()->set_permutations(1000);
  a->set_classify(true);
  a->set_tokens_per_second(1);
  a->set_drift_cutoff_s(128);
  a->set_drift_order(3);
  return spec;
}

v1::ExperimentProgress Progress(int64_t id, v1::ExperimentPhase phase,
                                int runs_done) {
  v1::ExperimentProgress p;
  p.set_experiment_id(id);
  p.set_phase(phase);
  p.set_runs_done(runs_done);
  p.set_runs_total(kRuns);
  p.set_tokens_done(static_cast<int64_t>(runs_done) * kTimePoints);
  p.set_tokens_total(kRuns * kTimePoints);
  p.set_tokens_per_second(phase == v1::PHASE_GENERATING ? 96.0 : 0);
  return p;
}

int RunCondition(int index) { return index / 2; }

std::set<int64_t> Members(int c, int64_t width) {
  std::set<int64_t> members;
  for (int64_t u = 0; u < width; ++u) {
    if (IsMember(c, u)) members.insert(u);
  }
  return members;
}

}  // namespace

FakeExperimentService::FakeExperimentService()
    : layout_(std::vector<HookSpec>{{"embed", 16},
                                    {"blocks.0.mlp_post", 32},
                                    {"blocks.1.mlp_post", 32},
                                    {"final_norm", 16}}),
      authenticator_(*TokenTable::Parse(absl::StrCat(kToken, " alice\n"),
                                        "fake tokens")) {}

std::vector<std::string> FakeExperimentService::Conditions() {
  return {"medical_imaging", "pathology", "paleontology"};
}

std::vector<v1::NetworkUnit> FakeExperimentService::NetworkUnits(int c) const {
  std::vector<v1::NetworkUnit> units;
  for (int64_t u : Members(c, layout_.width())) {
    v1::NetworkUnit unit;
    unit.set_unit(u);
    unit.set_name(*layout_.UnitName(u));
    unit.set_t(TValue(c, u));
    unit.set_beta(TValue(c, u) * 0.05);
    unit.set_p(PValue(c, u));
    unit.set_q(PValue(c, u) * 2);
    units.push_back(unit);
  }
  std::stable_sort(units.begin(), units.end(),
                   [](const auto& a, const auto& b) {
                     return std::fabs(a.t()) > std::fabs(b.t());
                   });
  return units;
}

v1::StatMap FakeExperimentService::ConditionMap(int c) const {
  v1::StatMap map;
  map.set_condition(Conditions()[c]);
  map.set_contrast(absl::StrCat(Conditions()[c], " > rest"));
  LayoutToProto(layout_, map.mutable_layout());
  map.set_dof(41);
  for (int64_t u = 0; u < layout_.width(); ++u) {
    map.add_t(TValue(c, u));
    map.add_beta(TValue(c, u) * 0.05);
    map.add_p(PValue(c, u));
  }
  return map;
}

int FakeExperimentService::submit_count() const {
  absl::MutexLock lock(&mu_);
  return submit_count_;
}

std::optional<v1::ExperimentSpec> FakeExperimentService::last_spec() const {
  absl::MutexLock lock(&mu_);
  return last_spec_;
}

std::optional<v1::ReanalyzeExperimentRequest>
FakeExperimentService::last_reanalyze() const {
  absl::MutexLock lock(&mu_);
  return last_reanalyze_;
}

grpc::Status FakeExperimentService::Authenticate(
    const grpc::ServerContext& context) const {
  return ToGrpcStatus(authenticator_.Authenticate(context).status());
}

grpc::Status FakeExperimentService::RequireDone(int64_t id) const {
  if (!IsKnown(id)) return NotFound("experiment", id);
  if (id == kDoneId || id == kSubmittedId) return grpc::Status::OK;
  return grpc::Status(
      grpc::StatusCode::FAILED_PRECONDITION,
      absl::StrCat("experiment ", id, " is not done (generating)"));
}

v1::Experiment FakeExperimentService::MakeExperiment(int64_t id) const {
  const bool done = id == kDoneId || id == kSubmittedId;
  v1::Experiment e;
  e.set_id(id);
  e.set_name(id == kDoneId ? "nencka2023-small" : absl::StrCat("exp-", id));
  e.set_owner("alice");
  e.set_phase(done ? v1::PHASE_DONE : v1::PHASE_GENERATING);
  *e.mutable_spec() = Spec();
  *e.mutable_progress() = Progress(id, e.phase(), done ? kRuns : 2);
  for (int i = 0; i < kRuns; ++i) {
    v1::Run* r = e.add_runs();
    r->set_id(kFirstRunId + i);
    r->set_index(i);
    r->set_condition(Conditions()[RunCondition(i)]);
    r->set_repeat(i % 2);
    const bool run_done = done || i < 2;
    r->set_state(run_done ? v1::RUN_DONE : v1::RUN_PENDING);
    r->set_time_points(kTimePoints);
    r->set_tokens_generated(run_done ? kTimePoints : 0);
    r->set_attempts(run_done ? 1 : 0);
  }
  LayoutToProto(layout_, e.mutable_layout());
  e.set_model("tiny-opt");
  e.set_created_at("2025-05-01T10:00:00Z");
  e.set_started_at("2025-05-01T10:00:01Z");
  if (done) e.set_finished_at("2025-05-01T10:02:30Z");
  return e;
}

v1::NetworkSummary FakeExperimentService::Summary(int c) const {
  v1::NetworkSummary n;
  n.set_id(kFirstNetworkId + c);
  n.set_experiment_id(kDoneId);
  n.set_kind(v1::NETWORK_CONDITION);
  n.set_condition(Conditions()[c]);
  n.set_contrast(absl::StrCat(Conditions()[c], " > rest"));
  n.set_threshold_method("fdr");
  n.set_alpha(0.05);
  n.set_threshold(3.9);
  const std::set<int64_t> members = Members(c, layout_.width());
  n.set_size(members.size());
  for (size_t h = 0; h < layout_.size(); ++h) {
    v1::HookCount* count = n.add_size_by_hook();
    count->set_hook(layout_.hooks()[h].name);
    count->set_count(
        std::count_if(members.begin(), members.end(), [&](int64_t u) {
          return u >= layout_.offset(h) &&
                 u < layout_.offset(h) + layout_.hooks()[h].width;
        }));
  }
  n.set_layout_hash(layout_.hash());
  n.set_dof(41);
  return n;
}

std::vector<v1::ExperimentProgress> FakeExperimentService::Script(
    int64_t id) const {
  std::vector<v1::ExperimentProgress> script = {
      Progress(id, v1::PHASE_QUEUED, 0)};
  const int generated = id == kDoneId || id == kSubmittedId ? kRuns : 2;
  for (int runs = 1; runs <= generated; ++runs) {
    script.push_back(Progress(id, v1::PHASE_GENERATING, runs));
  }
  if (id == kFailingId) {
    v1::ExperimentProgress failed = Progress(id, v1::PHASE_FAILED, 2);
    failed.set_error(
        "run 3: inference server 127.0.0.1:9 unreachable after 5 attempts");
    script.push_back(failed);
  } else if (id == kCancelledId) {
    script.push_back(Progress(id, v1::PHASE_CANCELLED, 2));
  } else {
    script.push_back(Progress(id, v1::PHASE_ANALYZING, kRuns));
    script.push_back(Progress(id, v1::PHASE_DONE, kRuns));
  }
  return script;
}

grpc::Status FakeExperimentService::SubmitExperiment(
    grpc::ServerContext* context, const v1::SubmitExperimentRequest* request,
    v1::Experiment* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    ++submit_count_;
    last_spec_ = request->spec();
  }
  if (request->spec().conditions().empty() ||
      request->spec().conditions(0).name().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "conditions[0].name: must not be empty\n"
                        "design.repeats: must be >= 1");
  }
  *reply = MakeExperiment(kSubmittedId);
  reply->set_name(request->spec().name());
  reply->set_phase(v1::PHASE_QUEUED);
  *reply->mutable_progress() = Progress(kSubmittedId, v1::PHASE_QUEUED, 0);
  reply->clear_finished_at();
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::GetExperiment(
    grpc::ServerContext* context, const v1::GetExperimentRequest* request,
    v1::Experiment* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  if (!IsKnown(request->experiment_id())) {
    return NotFound("experiment", request->experiment_id());
  }
  *reply = MakeExperiment(request->experiment_id());
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::ListExperiments(
    grpc::ServerContext* context, const v1::ListExperimentsRequest* request,
    v1::ListExperimentsResponse* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  int offset = 0;
  if (!request->page_token().empty() &&
      !absl::SimpleAtoi(request->page_token(), &offset)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad page token");
  }
  const std::vector<int64_t> ids = {kCancelledId, kFailingId, kDoneId};
  const int size = request->page_size() > 0 ? request->page_size() : 50;
  for (int i = offset; i < static_cast<int>(ids.size()) && i < offset + size;
       ++i) {
    v1::Experiment e = MakeExperiment(ids[i]);
    e.clear_runs();
    *reply->add_experiments() = e;
  }
  if (offset + size < static_cast<int>(ids.size())) {
    reply->set_next_page_token(absl::StrCat(offset + size));
  }
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::WatchExperiment(
    grpc::ServerContext* context, const v1::WatchExperimentRequest* request,
    grpc::ServerWriter<v1::ExperimentProgress>* writer) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  if (!IsKnown(request->experiment_id())) {
    return NotFound("experiment", request->experiment_id());
  }
  for (const auto& progress : Script(request->experiment_id())) {
    if (!writer->Write(progress)) break;
  }
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::CancelExperiment(
    grpc::ServerContext* context, const v1::CancelExperimentRequest* request,
    v1::Experiment* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  const int64_t id = request->experiment_id();
  if (!IsKnown(id)) return NotFound("experiment", id);
  if (RequireDone(id).ok()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        absl::StrCat("experiment ", id, " is already done"));
  }
  *reply = MakeExperiment(id);
  reply->set_phase(v1::PHASE_CANCELLED);
  reply->mutable_progress()->set_phase(v1::PHASE_CANCELLED);
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::ReanalyzeExperiment(
    grpc::ServerContext* context, const v1::ReanalyzeExperimentRequest* request,
    v1::Experiment* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  if (auto s = RequireDone(request->experiment_id()); !s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    last_reanalyze_ = *request;
  }
  *reply = MakeExperiment(request->experiment_id());
  *reply->mutable_spec()->mutable_analysis() = request->analysis();
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::ListNetworks(
    grpc::ServerContext* context, const v1::ListNetworksRequest* request,
    v1::ListNetworksResponse* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  if (auto s = RequireDone(request->experiment_id()); !s.ok()) return s;
  const bool runs = request->kind() == v1::NETWORK_RUN;
  const int count = runs ? kRuns : kConditions;
  for (int i = 0; i < count; ++i) {
    v1::NetworkSummary n = Summary(runs ? RunCondition(i) : i);
    if (!request->condition().empty() &&
        request->condition() != n.condition()) {
      continue;
    }
    if (runs) {
      n.set_id(kFirstRunNetworkId + i);
      n.set_kind(v1::NETWORK_RUN);
      n.set_run_id(kFirstRunId + i);
      n.set_repeat(i % 2);
    }
    *reply->add_networks() = n;
  }
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::GetNetwork(
    grpc::ServerContext* context, const v1::GetNetworkRequest* request,
    v1::GetNetworkResponse* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  const int64_t id = request->network_id();
  int c;
  if (id >= kFirstNetworkId && id < kFirstNetworkId + kConditions) {
    c = static_cast<int>(id - kFirstNetworkId);
    *reply->mutable_network() = Summary(c);
  } else if (id >= kFirstRunNetworkId && id < kFirstRunNetworkId + kRuns) {
    c = RunCondition(static_cast<int>(id - kFirstRunNetworkId));
    *reply->mutable_network() = Summary(c);
    reply->mutable_network()->set_id(id);
    reply->mutable_network()->set_kind(v1::NETWORK_RUN);
  } else {
    return NotFound("network", id);
  }
  std::vector<v1::NetworkUnit> units;
  for (const auto& u : NetworkUnits(c)) {
    const std::string hook = u.name().substr(0, u.name().find('['));
    if (request->hook().empty() ||
        fnmatch(request->hook().c_str(), hook.c_str(), 0) == 0) {
      units.push_back(u);
    }
  }
  int offset = 0;
  if (!request->page_token().empty()) {
    absl::SimpleAtoi(request->page_token(), &offset);
  }
  const int size = std::min(
      request->page_size() > 0 ? request->page_size() : 100, kMaxPageSize);
  for (int i = offset; i < static_cast<int>(units.size()) && i < offset + size;
       ++i) {
    *reply->add_units() = units[i];
  }
  reply->set_total_units(units.size());
  if (offset + size < static_cast<int>(units.size())) {
    reply->set_next_page_token(absl::StrCat(offset + size));
  }
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::CompareNetworks(
    grpc::ServerContext* context, const v1::CompareNetworksRequest* request,
    v1::CompareNetworksResponse* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  if (auto s = RequireDone(request->experiment_id()); !s.ok()) return s;
  std::vector<std::set<int64_t>> sets;
  for (int c = 0; c < kConditions; ++c) {
    *reply->add_networks() = Summary(c);
    sets.push_back(Members(c, layout_.width()));
  }
  for (int a = 0; a < kConditions; ++a) {
    for (int b = 0; b < kConditions; ++b) {
      std::vector<int64_t> both;
      std::set_intersection(sets[a].begin(), sets[a].end(), sets[b].begin(),
                            sets[b].end(), std::back_inserter(both));
      const double n = both.size();
      const double dice = 2 * n / (sets[a].size() + sets[b].size());
      const double jaccard = n / (sets[a].size() + sets[b].size() - n);
      reply->add_dice(dice);
      reply->add_jaccard(jaccard);
      if (a < b) {
        v1::Overlap* o = reply->add_overlaps();
        o->set_network_a_id(kFirstNetworkId + a);
        o->set_network_b_id(kFirstNetworkId + b);
        o->set_intersection(both.size());
        o->set_dice(dice);
        o->set_jaccard(jaccard);
      }
    }
  }
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::GetRepeatability(
    grpc::ServerContext* context, const v1::GetRepeatabilityRequest* request,
    v1::GetRepeatabilityResponse* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  if (auto s = RequireDone(request->experiment_id()); !s.ok()) return s;
  const double dice[kConditions] = {0.81, 0.74, 0.9};
  for (int c = 0; c < kConditions; ++c) {
    v1::ConditionRepeatability* r = reply->add_conditions();
    r->set_condition(Conditions()[c]);
    v1::RepeatPair* p = r->add_pairs();
    p->set_run_a_id(kFirstRunId + 2 * c);
    p->set_run_b_id(kFirstRunId + 2 * c + 1);
    p->set_repeat_a(0);
    p->set_repeat_b(1);
    p->set_dice(dice[c]);
    r->set_mean_dice(dice[c]);
  }
  reply->set_mean_dice((0.81 + 0.74 + 0.9) / 3);
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::GetClassification(
    grpc::ServerContext* context, const v1::GetClassificationRequest* request,
    v1::GetClassificationResponse* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  if (auto s = RequireDone(request->experiment_id()); !s.ok()) return s;
  for (const std::string& c : Conditions()) reply->add_conditions(c);
  for (int count : {2, 0, 0, 0, 1, 1, 0, 0, 2}) reply->add_confusion(count);
  const int predicted[kRuns] = {0, 0, 1, 2, 2, 2};
  for (int i = 0; i < kRuns; ++i) {
    v1::HeldOutPrediction* p = reply->add_predictions();
    p->set_run_id(kFirstRunId + i);
    p->set_repeat(i % 2);
    p->set_true_condition(Conditions()[RunCondition(i)]);
    p->set_predicted_condition(Conditions()[predicted[i]]);
    p->set_predicted_condition_by_correlation(Conditions()[RunCondition(i)]);
  }
  reply->set_accuracy(5.0 / 6);
  reply->set_accuracy_by_correlation(1.0);
  reply->set_chance(1.0 / 3);
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::GetRunEvents(
    grpc::ServerContext* context, const v1::GetRunEventsRequest* request,
    v1::GetRunEventsResponse* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  if (!IsKnown(request->experiment_id())) {
    return NotFound("experiment", request->experiment_id());
  }
  const int index = request->run_index();
  if (index < 0 || index >= kRuns) {
    // As the worker answers (ResultQueries::GetRunEvents).
    return grpc::Status(grpc::StatusCode::OUT_OF_RANGE,
                        absl::StrCat("run index ", index,
                                     " is out of range: experiment ",
                                     request->experiment_id(), " has ", kRuns,
                                     " runs"));
  }
  v1::Experiment e = MakeExperiment(request->experiment_id());
  *reply->mutable_run() = e.runs(index);
  const std::string task = Conditions()[RunCondition(index)];
  std::string tsv = "onset\tduration\ttrial_type\n";
  int onset = 0;
  for (const std::string& type :
       {std::string("rest"), task, std::string("rest")}) {
    v1::BidsEventRow* row = reply->add_events();
    row->set_onset(onset);
    row->set_duration(16);
    row->set_trial_type(type);
    absl::StrAppend(&tsv, onset, "\t16\t", type, "\n");
    onset += 16;
    for (int k = 0; k < 2; ++k) {
      reply->add_prompts(
          absl::StrCat("Tell me about ", type, " topic ", k, "."));
    }
  }
  reply->set_events_tsv(tsv);
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::FindUnit(grpc::ServerContext* context,
                                             const v1::FindUnitRequest* request,
                                             v1::FindUnitResponse* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  if (auto s = RequireDone(request->experiment_id()); !s.ok()) return s;
  int64_t unit = request->unit();
  if (!request->unit_name().empty()) {
    absl::StatusOr<int64_t> parsed = layout_.ParseUnit(request->unit_name());
    if (!parsed.ok()) return ToGrpcStatus(parsed.status());
    unit = *parsed;
  }
  absl::StatusOr<std::string> name = layout_.UnitName(unit);
  if (!name.ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        std::string(name.status().message()));
  }
  reply->set_unit(unit);
  reply->set_name(*name);
  for (int c = 0; c < kConditions; ++c) {
    for (const auto& u : NetworkUnits(c)) {
      if (u.unit() != unit) continue;
      v1::UnitMembership* m = reply->add_networks();
      *m->mutable_network() = Summary(c);
      *m->mutable_unit() = u;
    }
  }
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::GetStatMap(
    grpc::ServerContext* context, const v1::GetStatMapRequest* request,
    v1::StatMap* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  if (auto s = RequireDone(request->experiment_id()); !s.ok()) return s;
  if (request->run_id() != 0) {
    const int64_t index = request->run_id() - kFirstRunId;
    if (index < 0 || index >= kRuns) return NotFound("run", request->run_id());
    *reply = ConditionMap(RunCondition(static_cast<int>(index)));
    reply->set_run_id(request->run_id());
    return grpc::Status::OK;
  }
  const std::vector<std::string> names = Conditions();
  auto it = std::find(names.begin(), names.end(), request->condition());
  if (it == names.end()) {
    return grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("no condition '", request->condition(), "'"));
  }
  *reply = ConditionMap(static_cast<int>(it - names.begin()));
  return grpc::Status::OK;
}

grpc::Status FakeExperimentService::ListModels(
    grpc::ServerContext* context, const v1::ListModelsRequest* /*request*/,
    v1::ListModelsResponse* reply) {
  if (auto s = Authenticate(*context); !s.ok()) return s;
  v1::ServedModel* up = reply->add_models();
  up->set_address("127.0.0.1:7071");
  up->set_reachable(true);
  v1::ModelInfo* info = up->mutable_info();
  info->set_family("opt");
  info->set_model("tiny-opt");
  info->set_num_layers(2);
  info->set_hidden_size(64);
  info->set_vocab_size(1024);
  info->set_device("cpu");
  info->set_dtype("f32");
  v1::ServedModel* down = reply->add_models();
  down->set_address("10.0.0.2:7071");
  down->set_reachable(false);
  down->set_error("failed to connect to all addresses");
  return grpc::Status::OK;
}

FakeWorker::FakeWorker() {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(&service_);
  server_ = builder.BuildAndStart();
}

FakeWorker::~FakeWorker() {
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

std::string FakeWorker::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

}  // namespace fnprobe::testing
