#include "client/experiment_report.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "client/json_output.h"
#include "client/number_format.h"
#include "client/proto_names.h"
#include "client/result_tables.h"
#include "common/status_util.h"

namespace fnprobe::client {
namespace {

// A result the worker may lack: kept, or left out with a note.
template <typename T>
absl::Status Optional(absl::StatusOr<T> result, std::optional<T>* value,
                      std::string* note) {
  if (result.ok()) {
    *value = *std::move(result);
    return absl::OkStatus();
  }
  const absl::StatusCode code = result.status().code();
  if (code == absl::StatusCode::kFailedPrecondition ||
      code == absl::StatusCode::kNotFound) {
    *note = std::string(result.status().message());
    return absl::OkStatus();
  }
  return result.status();
}

void PrintHeading(const std::string& title, std::ostream& out) {
  out << "\n" << title << "\n" << std::string(title.size(), '-') << "\n";
}

void PrintOverview(const v1::Experiment& e, std::ostream& out) {
  const v1::ExperimentSpec& s = e.spec();
  out << "experiment " << e.id() << " \"" << e.name() << "\" on " << e.model()
      << ": " << s.conditions_size() << " conditions x " << s.design().repeats()
      << " repeats = " << e.runs_size() << " runs, "
      << FormatCount(e.progress().tokens_done()) << " tokens, "
      << FormatCount(e.layout().width()) << " units\n";
  const v1::ThresholdSpec& t = s.analysis().threshold();
  const bool prompt = s.analysis().inference() == v1::InferenceLevel::PROMPT;
  out << "analysis: "
      << (prompt
              ? "prompt-level inference (level two " +
                    v1::LevelTwoModel::Kind_Name(s.analysis().level_two()) + ")"
              : std::string("token-level inference (descriptive)"))
      << ", noise " << v1::NoiseModel::Kind_Name(s.analysis().noise())
      << ", threshold " << v1::ThresholdSpec::Method_Name(t.method())
      << " alpha " << t.alpha() << "\n";
  out << (prompt ? "networks: units whose mean response over task prompts "
                   "differs from baseline prompts beyond prompt-to-prompt "
                   "variation\n"
                 : "networks: tokens taken as independent observations; not "
                   "valid evidence about new prompts\n");
}

void PrintSizes(const ExperimentReport& r, std::ostream& out) {
  PrintHeading("network sizes by layer (units per condition network)", out);
  if (r.networks.networks().empty()) {
    out << "no networks\n";
    return;
  }
  NetworkSizeTable(r.networks, r.experiment.layout().width()).Print(out);
}

void PrintOverlap(const ExperimentReport& r, std::ostream& out) {
  PrintHeading("overlap between condition networks (Dice)", out);
  OverlapTable(r.overlap, /*jaccard=*/false).Print(out);
  const std::string most = MostOverlapLine(r.overlap);
  if (!most.empty()) out << most << "\n";
}

void PrintRepeatability(const ExperimentReport& r, std::ostream& out) {
  PrintHeading("repeatability (Dice between repeats of a condition)", out);
  if (!r.repeatability) {
    out << "not available: " << r.repeatability_note << "\n";
    return;
  }
  RepeatabilityTable(*r.repeatability).Print(out);
  out << "mean Dice, all pairs: "
      << FormatFixed(r.repeatability->mean_dice(), 2) << "\n";
}

void PrintClassification(const ExperimentReport& r, std::ostream& out) {
  PrintHeading("held-out identification (leave one repeat out)", out);
  if (!r.classification) {
    out << "not available: " << r.classification_note << "\n";
    return;
  }
  PrintAccuracy(*r.classification, "", out);
  out << "\nconfusion (rows: true, columns: predicted)\n";
  ConfusionTable(*r.classification).Print(out);
}

}  // namespace

absl::StatusOr<ExperimentReport> FetchExperimentReport(ExperimentClient& client,
                                                       int64_t id) {
  ExperimentReport r;
  FNPROBE_ASSIGN_OR_RETURN(r.experiment, client.GetExperiment(id));
  if (r.experiment.phase() != v1::PHASE_DONE) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", id, " is ", PhaseName(r.experiment.phase()),
                     "; its report needs it done"));
  }
  v1::ListNetworksRequest list;
  list.set_experiment_id(id);
  list.set_kind(v1::NETWORK_CONDITION);
  FNPROBE_ASSIGN_OR_RETURN(r.networks, client.ListNetworks(list));
  v1::CompareNetworksRequest compare;
  compare.set_experiment_id(id);
  compare.set_kind(v1::NETWORK_CONDITION);
  FNPROBE_ASSIGN_OR_RETURN(r.overlap, client.CompareNetworks(compare));
  FNPROBE_RETURN_IF_ERROR(Optional(client.GetRepeatability(id),
                                   &r.repeatability, &r.repeatability_note));
  if (!r.experiment.spec().analysis().classify()) {
    r.classification_note = "not requested (analysis.classify is false)";
    return r;
  }
  FNPROBE_RETURN_IF_ERROR(Optional(client.GetClassification(id),
                                   &r.classification, &r.classification_note));
  return r;
}

void PrintExperimentReport(const ExperimentReport& r, std::ostream& out) {
  PrintOverview(r.experiment, out);
  PrintSizes(r, out);
  PrintOverlap(r, out);
  PrintRepeatability(r, out);
  PrintClassification(r, out);
}

absl::Status PrintExperimentReportJson(const ExperimentReport& r,
                                       std::ostream& out) {
  std::vector<std::string> names = {"experiment", "networks", "overlap"};
  std::vector<const google::protobuf::Message*> messages = {
      &r.experiment, &r.networks, &r.overlap};
  if (r.repeatability) {
    names.push_back("repeatability");
    messages.push_back(&*r.repeatability);
  }
  if (r.classification) {
    names.push_back("classification");
    messages.push_back(&*r.classification);
  }
  return PrintJsonObject(names, messages, out);
}

}  // namespace fnprobe::client
