#include "client/report/report_fetch.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/experiment_report.h"
#include "client/json_output.h"
#include "client/proto_names.h"
#include "client/report/report_assets.h"
#include "client/report/report_files.h"
#include "common/status_util.h"

namespace fnprobe::client::report {
namespace {

ReportExperiment ToExperiment(const v1::Experiment& e) {
  ReportExperiment r;
  r.id = e.id();
  r.name = e.name();
  r.owner = e.owner();
  r.phase = PhaseName(e.phase());
  r.model = e.model().empty() ? e.spec().model() : e.model();
  r.model_checksum = e.model_checksum();
  r.layout_hash = absl::StrFormat("%016x", e.layout().hash());
  r.software_version = std::string(SoftwareVersion());
  r.created_at = e.created_at();
  r.finished_at = e.finished_at();
  if (auto json = MessageToJson(e.spec(), /*pretty=*/true); json.ok()) {
    r.spec_json = *std::move(json);
  }
  const v1::ExperimentSpec& s = e.spec();
  r.pattern.assign(s.design().pattern().begin(), s.design().pattern().end());
  r.prompts_per_block = s.design().prompts_per_block();
  r.tokens_per_prompt = s.generation().tokens_per_prompt();
  r.repeats = s.design().repeats();
  r.tokens_per_second = s.analysis().tokens_per_second() > 0
                            ? s.analysis().tokens_per_second()
                            : 1.0;
  r.hrf = v1::HrfModel::Kind_Name(s.analysis().hrf());
  r.inference = v1::InferenceLevel::Kind_Name(s.analysis().inference());
  r.threshold_method =
      v1::ThresholdSpec::Method_Name(s.analysis().threshold().method());
  r.alpha = s.analysis().threshold().alpha();
  r.tokens_done = e.progress().tokens_done();
  for (const v1::HookPoint& h : e.layout().hooks()) {
    r.hooks.push_back(ReportHook{h.name(), h.width()});
  }
  for (const v1::Run& run : e.runs()) {
    ReportRun x;
    x.index = run.index();
    x.condition = run.condition();
    x.repeat = run.repeat();
    x.state = RunStateName(run.state());
    x.time_points = run.time_points();
    x.tokens_generated = run.tokens_generated();
    x.attempts = run.attempts();
    x.activation_checksum = run.activation_checksum();
    x.error = run.error();
    r.runs.push_back(std::move(x));
  }
  return r;
}

ReportOverlap ToOverlap(const v1::CompareNetworksResponse& c) {
  ReportOverlap o;
  for (const v1::NetworkSummary& n : c.networks()) {
    o.labels.push_back(NetworkLabel(n));
    o.sizes.push_back(n.size());
  }
  o.dice.assign(c.dice().begin(), c.dice().end());
  return o;
}

ReportRepeatability ToRepeatability(const v1::GetRepeatabilityResponse& r) {
  ReportRepeatability out;
  out.mean_dice = r.mean_dice();
  for (const v1::ConditionRepeatability& c : r.conditions()) {
    ReportRepeatability::Condition x;
    x.condition = c.condition();
    x.mean_dice = c.mean_dice();
    for (const v1::RepeatPair& p : c.pairs()) {
      x.pairs.push_back(ReportRepeatPair{p.repeat_a(), p.repeat_b(), p.dice()});
    }
    out.conditions.push_back(std::move(x));
  }
  return out;
}

ReportClassification ToClassification(const v1::GetClassificationResponse& c) {
  ReportClassification out;
  out.conditions.assign(c.conditions().begin(), c.conditions().end());
  out.confusion.assign(c.confusion().begin(), c.confusion().end());
  out.accuracy = c.accuracy();
  out.accuracy_by_correlation = c.accuracy_by_correlation();
  out.chance = c.chance();
  out.correct = c.correct();
  out.predictions = c.predictions_size();
  out.p_value = c.p_value();
  return out;
}

absl::StatusOr<ReportNetwork> FetchNetwork(ExperimentClient& client,
                                           int64_t experiment_id,
                                           const v1::NetworkSummary& s) {
  ReportNetwork n;
  n.condition = s.condition();
  n.contrast = s.contrast();
  n.threshold = s.threshold();
  n.size = s.size();
  n.dof = s.dof();
  for (const v1::HookCount& h : s.size_by_hook()) {
    n.size_by_hook.emplace_back(h.hook(), h.count());
  }
  v1::GetNetworkRequest request;
  request.set_network_id(s.id());
  request.set_page_size(kTopUnits);
  FNPROBE_ASSIGN_OR_RETURN(v1::GetNetworkResponse units,
                           client.GetNetwork(request));
  for (const v1::NetworkUnit& u : units.units()) {
    n.top_units.push_back(ReportUnit{u.unit(), u.name(), u.t(), u.beta(), {}});
  }
  v1::GetStatMapRequest map_request;
  map_request.set_experiment_id(experiment_id);
  map_request.set_condition(s.condition());
  FNPROBE_ASSIGN_OR_RETURN(v1::StatMap map, client.GetStatMap(map_request));
  n.t.assign(map.t().begin(), map.t().end());
  return n;
}

// The strongest units' activations over the first done run of the network's
// condition (GetUnitTimeCourse). Returns why there are none, or "".
std::string FetchTimeCourses(ExperimentClient& client, int64_t experiment_id,
                             const std::vector<ReportRun>& runs,
                             ReportNetwork* n) {
  const ReportRun* run = nullptr;
  for (const ReportRun& r : runs) {
    if (r.condition == n->condition && r.state == "done") {
      run = &r;
      break;
    }
  }
  if (run == nullptr || n->top_units.empty()) return "";
  v1::GetUnitTimeCourseRequest request;
  request.set_experiment_id(experiment_id);
  request.set_run_index(run->index);
  const size_t count =
      std::min(n->top_units.size(), static_cast<size_t>(kTimeCourseUnits));
  for (size_t i = 0; i < count; ++i) {
    request.add_units(n->top_units[i].unit);
  }
  absl::StatusOr<v1::UnitTimeCourse> courses =
      client.GetUnitTimeCourse(request);
  if (!courses.ok()) {
    return absl::StrCat("the worker served none (", courses.status().message(),
                        ").");
  }
  for (int i = 0; i < courses->units_size() && i < static_cast<int>(count);
       ++i) {
    const auto& values = courses->units(i).values();
    n->top_units[i].time_course.assign(values.begin(), values.end());
  }
  n->time_course_run = run->index;
  return "";
}

}  // namespace

void AddMaskingResults(const v1::GetMaskingResultsResponse& results,
                       ReportData* data) {
  for (const char* metric : {"nll", "top1"}) {
    for (const v1::MaskingResult& r : results.results()) {
      if (r.metric() != metric) continue;
      ReportMasking m;
      m.network =
          absl::StrCat(r.network(), " ", r.operation(), " on ", r.evaluation());
      m.metric = r.metric() == "nll"
                     ? "change of NLL (nats/token)"
                     : "change of top-1 accuracy (share of positions)";
      m.effect = r.change();
      for (double c : r.controls()) {
        m.random_controls.push_back(c - r.unmasked());
      }
      m.percentile = r.percentile();
      m.p = r.p();
      data->masking.push_back(std::move(m));
    }
  }
  for (const v1::MaskingDissociation& d : results.dissociations()) {
    ReportMaskingDissociation out;
    out.network = d.network();
    out.operation = d.operation();
    out.metric = d.metric();
    out.condition = d.condition();
    out.other = d.other();
    out.change = d.change();
    out.other_change = d.other_change();
    out.contrast = d.contrast();
    out.control_contrasts.assign(d.control_contrasts().begin(),
                                 d.control_contrasts().end());
    out.percentile = d.percentile();
    out.p = d.p();
    data->masking_dissociations.push_back(std::move(out));
  }
}

absl::StatusOr<ReportData> FetchReportData(ExperimentClient& client,
                                           int64_t id) {
  FNPROBE_ASSIGN_OR_RETURN(ExperimentReport summary,
                           FetchExperimentReport(client, id));
  ReportData data;
  data.experiment = ToExperiment(summary.experiment);
  for (const v1::Run& run : summary.experiment.runs()) {
    FNPROBE_ASSIGN_OR_RETURN(v1::GetRunEventsResponse events,
                             client.GetRunEvents(id, run.index()));
    ReportRunDesign d;
    d.run_index = run.index();
    for (const v1::BidsEventRow& ev : events.events()) {
      d.events.push_back(
          ReportEvent{ev.onset(), ev.duration(), ev.trial_type()});
    }
    d.prompts.assign(events.prompts().begin(), events.prompts().end());
    d.generated.assign(events.generated_texts().begin(),
                       events.generated_texts().end());
    data.designs.push_back(std::move(d));
  }
  for (const v1::NetworkSummary& s : summary.networks.networks()) {
    FNPROBE_ASSIGN_OR_RETURN(ReportNetwork n, FetchNetwork(client, id, s));
    data.networks.push_back(std::move(n));
  }
  data.overlap = ToOverlap(summary.overlap);
  if (summary.repeatability) {
    data.repeatability = ToRepeatability(*summary.repeatability);
  }
  data.repeatability_note = summary.repeatability_note;
  if (summary.classification) {
    data.classification = ToClassification(*summary.classification);
  }
  data.classification_note = summary.classification_note;
  data.generated_text_note =
      "the worker served none (it serves them from runs that are done, since "
      "GetRunEventsResponse.generated_texts).";
  for (ReportNetwork& n : data.networks) {
    const std::string why =
        FetchTimeCourses(client, id, data.experiment.runs, &n);
    if (!why.empty()) data.time_course_note = why;
  }
  if (summary.experiment.spec().has_masking()) {
    FNPROBE_ASSIGN_OR_RETURN(const v1::GetMaskingResultsResponse masking,
                             client.GetMaskingResults(id));
    AddMaskingResults(masking, &data);
  }
  return data;
}

absl::StatusOr<int> FetchAndWriteHtmlReport(ExperimentClient& client,
                                            int64_t id,
                                            const std::string& path) {
  FNPROBE_ASSIGN_OR_RETURN(ReportData data, FetchReportData(client, id));
  return WriteHtmlReport(data, path);
}

}  // namespace fnprobe::client::report
