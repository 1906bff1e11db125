#include "server/analysis/worker/proto_conversion.h"

#include "common/layout_proto.h"

namespace fnprobe::worker {

// The worker's enums are numbered as the messages' (experiment_phase.h), so
// they convert by value.
static_assert(static_cast<int>(ExperimentPhase::kCancelled) ==
                  v1::PHASE_CANCELLED &&
              static_cast<int>(ExperimentPhase::kDone) == v1::PHASE_DONE &&
              static_cast<int>(ExperimentPhase::kQueued) == v1::PHASE_QUEUED &&
              v1::ExperimentPhase_MAX == v1::PHASE_CANCELLED);
static_assert(static_cast<int>(RunState::kCancelled) == v1::RUN_CANCELLED &&
              static_cast<int>(RunState::kPending) == v1::RUN_PENDING &&
              static_cast<int>(RunState::kDone) == v1::RUN_DONE &&
              v1::RunState_MAX == v1::RUN_CANCELLED);

// --- requests ---

ExperimentPhase FromProto(v1::ExperimentPhase phase) {
  return static_cast<ExperimentPhase>(static_cast<int>(phase));
}

RunState FromProto(v1::RunState state) {
  return static_cast<RunState>(static_cast<int>(state));
}

NetworkKind FromProto(v1::NetworkKind kind) {
  // Same numbering (result_rows.h): values outside the enum pass through
  // for the query to refuse.
  return static_cast<NetworkKind>(static_cast<int>(kind));
}

NetworkListQuery FromProto(const v1::ListNetworksRequest& request) {
  NetworkListQuery query;
  query.experiment_id = request.experiment_id();
  query.condition = request.condition();
  query.kind = FromProto(request.kind());
  return query;
}

NetworkQuery FromProto(const v1::GetNetworkRequest& request) {
  NetworkQuery query;
  query.network_id = request.network_id();
  query.hook = request.hook();
  if (request.has_layer()) query.layer = request.layer();
  query.page_size = request.page_size();
  query.page_token = request.page_token();
  return query;
}

UnitQuery FromProto(const v1::FindUnitRequest& request) {
  UnitQuery query;
  query.experiment_id = request.experiment_id();
  query.unit_name = request.unit_name();
  query.unit = request.unit();
  return query;
}

StatMapQuery FromProto(const v1::GetStatMapRequest& request) {
  StatMapQuery query;
  query.experiment_id = request.experiment_id();
  query.condition = request.condition();
  query.run_id = request.run_id();
  return query;
}

// --- experiments ---

v1::ExperimentPhase ToProto(ExperimentPhase phase) {
  return static_cast<v1::ExperimentPhase>(static_cast<int>(phase));
}

v1::RunState ToProto(RunState state) {
  return static_cast<v1::RunState>(static_cast<int>(state));
}

v1::Run ToProto(const RunRow& run) {
  v1::Run out;
  out.set_id(run.id);
  out.set_index(run.index);
  out.set_condition(run.condition);
  out.set_repeat(run.repeat);
  out.set_state(ToProto(run.state));
  out.set_time_points(run.time_points);
  out.set_tokens_generated(run.tokens_generated);
  out.set_overflow_count(run.overflow_count);
  out.set_activation_path(run.activation_path);
  out.set_activation_checksum(run.activation_checksum);
  out.set_error(run.error);
  out.set_attempts(run.attempts);
  return out;
}

v1::ExperimentProgress ProgressToProto(const ExperimentRow& e) {
  v1::ExperimentProgress p;
  p.set_experiment_id(e.id);
  p.set_phase(ToProto(e.phase));
  p.set_runs_done(e.progress.runs_done);
  p.set_runs_total(e.progress.runs_total);
  p.set_tokens_done(e.progress.tokens_done);
  p.set_tokens_total(e.progress.tokens_total);
  p.set_error(e.error);
  return p;
}

v1::Experiment ToProto(const ExperimentRow& e) {
  v1::Experiment out;
  out.set_id(e.id);
  out.set_name(e.name);
  out.set_owner(e.owner);
  out.set_phase(ToProto(e.phase));
  out.set_error(e.error);
  *out.mutable_spec() = e.spec;
  *out.mutable_progress() = ProgressToProto(e);
  for (const RunRow& run : e.runs) *out.add_runs() = ToProto(run);
  if (e.layout.has_value()) LayoutToProto(*e.layout, out.mutable_layout());
  out.set_model(e.spec.model());
  out.set_created_at(e.created_at);
  out.set_started_at(e.started_at);
  out.set_finished_at(e.finished_at);
  out.set_plan_version(e.plan_version);
  out.set_stored_bytes(e.stored_bytes);
  out.set_activations_deleted(e.activations_deleted);
  out.set_model_checksum(e.model_checksum);
  return out;
}

v1::ListExperimentsResponse ToProto(const ExperimentPage& page) {
  v1::ListExperimentsResponse response;
  for (const ExperimentRow& e : page.experiments) {
    *response.add_experiments() = ToProto(e);
  }
  response.set_next_page_token(page.next_page_token);
  return response;
}

// --- results ---

v1::NetworkKind ToProto(NetworkKind kind) {
  return static_cast<v1::NetworkKind>(static_cast<int>(kind));
}

v1::NetworkSummary ToProto(const NetworkSummary& summary) {
  v1::NetworkSummary s;
  s.set_id(summary.id);
  s.set_experiment_id(summary.experiment_id);
  s.set_kind(ToProto(summary.kind));
  s.set_condition(summary.condition);
  s.set_run_id(summary.run_id);
  s.set_repeat(summary.repeat);
  s.set_excluded_run_id(summary.excluded_run_id);
  s.set_contrast(summary.contrast);
  s.set_threshold_method(summary.threshold_method);
  s.set_alpha(summary.alpha);
  s.set_threshold(summary.threshold);
  s.set_size(summary.size);
  for (const HookCount& count : summary.size_by_hook) {
    v1::HookCount* c = s.add_size_by_hook();
    c->set_hook(count.hook);
    c->set_count(count.count);
  }
  s.set_layout_hash(summary.layout_hash);
  s.set_dof(summary.dof);
  s.set_inference(summary.inference);
  s.set_method(summary.method);
  s.set_component(summary.component);
  s.set_hook(summary.hook);
  return s;
}

v1::NetworkUnit ToProto(const NetworkUnit& unit) {
  v1::NetworkUnit u;
  u.set_unit(unit.unit);
  u.set_name(unit.name);
  u.set_beta(unit.beta);
  u.set_t(unit.t);
  u.set_p(unit.p);
  u.set_q(unit.q);
  return u;
}

v1::Overlap ToProto(const Overlap& overlap) {
  v1::Overlap o;
  o.set_network_a_id(overlap.network_a_id);
  o.set_network_b_id(overlap.network_b_id);
  o.set_intersection(overlap.intersection);
  o.set_dice(overlap.dice);
  o.set_jaccard(overlap.jaccard);
  return o;
}

v1::ListNetworksResponse ToProto(const std::vector<NetworkSummary>& networks) {
  v1::ListNetworksResponse response;
  for (const NetworkSummary& s : networks)
    *response.add_networks() = ToProto(s);
  return response;
}

v1::GetNetworkResponse ToProto(const NetworkPage& page) {
  v1::GetNetworkResponse response;
  *response.mutable_network() = ToProto(page.network);
  for (const NetworkUnit& u : page.units) *response.add_units() = ToProto(u);
  response.set_total_units(page.total_units);
  response.set_next_page_token(page.next_page_token);
  return response;
}

v1::CompareNetworksResponse ToProto(const NetworkComparison& comparison) {
  v1::CompareNetworksResponse response;
  for (const NetworkSummary& s : comparison.networks) {
    *response.add_networks() = ToProto(s);
  }
  response.mutable_dice()->Add(comparison.dice.begin(), comparison.dice.end());
  response.mutable_jaccard()->Add(comparison.jaccard.begin(),
                                  comparison.jaccard.end());
  for (const Overlap& o : comparison.overlaps) {
    *response.add_overlaps() = ToProto(o);
  }
  return response;
}

v1::GetRepeatabilityResponse ToProto(const Repeatability& repeatability) {
  v1::GetRepeatabilityResponse response;
  for (const ConditionRepeatability& c : repeatability.conditions) {
    v1::ConditionRepeatability* out = response.add_conditions();
    out->set_condition(c.condition);
    for (const RepeatPair& p : c.pairs) {
      v1::RepeatPair* pair = out->add_pairs();
      pair->set_run_a_id(p.run_a_id);
      pair->set_run_b_id(p.run_b_id);
      pair->set_repeat_a(p.repeat_a);
      pair->set_repeat_b(p.repeat_b);
      pair->set_dice(p.dice);
    }
    out->set_mean_dice(c.mean_dice);
  }
  response.set_mean_dice(repeatability.mean_dice);
  return response;
}

v1::GetClassificationResponse ToProto(const Classification& classification) {
  v1::GetClassificationResponse response;
  response.set_accuracy(classification.accuracy);
  response.set_accuracy_by_correlation(classification.accuracy_by_correlation);
  response.set_chance(classification.chance);
  for (const std::string& c : classification.conditions) {
    response.add_conditions(c);
  }
  response.mutable_confusion()->Add(classification.confusion.begin(),
                                    classification.confusion.end());
  for (const HeldOutPrediction& p : classification.predictions) {
    v1::HeldOutPrediction* out = response.add_predictions();
    out->set_run_id(p.run_id);
    out->set_repeat(p.repeat);
    out->set_true_condition(p.true_condition);
    out->set_predicted_condition(p.predicted_condition);
    out->set_predicted_condition_by_correlation(
        p.predicted_condition_by_correlation);
    for (const ConditionScore& s : p.scores) {
      v1::ConditionScore* score = out->add_scores();
      score->set_condition(s.condition);
      score->set_mean_t(s.mean_t);
      score->set_correlation(s.correlation);
      score->set_network_id(s.network_id);
    }
  }
  response.set_correct(classification.correct);
  response.set_p_value(classification.p_value);
  return response;
}

v1::GetRunEventsResponse ToProto(const RunEvents& events) {
  v1::GetRunEventsResponse response;
  *response.mutable_run() = ToProto(events.run);
  for (const EventRow& e : events.events) {
    v1::BidsEventRow* row = response.add_events();
    row->set_onset(e.onset);
    row->set_duration(e.duration);
    row->set_trial_type(e.trial_type);
  }
  response.set_events_tsv(events.events_tsv);
  for (const std::string& p : events.prompts) response.add_prompts(p);
  for (const std::string& t : events.generated_texts) {
    response.add_generated_texts(t);
  }
  return response;
}

v1::FindUnitResponse ToProto(const UnitNetworks& unit) {
  v1::FindUnitResponse response;
  response.set_unit(unit.unit);
  response.set_name(unit.name);
  for (const UnitMembership& m : unit.networks) {
    v1::UnitMembership* out = response.add_networks();
    *out->mutable_network() = ToProto(m.network);
    *out->mutable_unit() = ToProto(m.unit);
  }
  return response;
}

v1::StatMap ToProto(const StoredStatMap& map) {
  v1::StatMap out;
  out.set_condition(map.condition);
  out.set_run_id(map.run_id);
  out.set_contrast(map.map.contrast);
  if (map.layout.has_value()) LayoutToProto(*map.layout, out.mutable_layout());
  out.set_dof(map.map.dof);
  out.mutable_t()->Add(map.map.t.begin(), map.map.t.end());
  out.mutable_beta()->Add(map.map.effect.begin(), map.map.effect.end());
  out.mutable_p()->Add(map.map.p.begin(), map.map.p.end());
  return out;
}

}  // namespace fnprobe::worker
