#include "client/experiment_exporter.h"

#include <charconv>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "client/atomic_file.h"
#include "client/json_output.h"
#include "client/masking_commands.h"
#include "client/npy_writer.h"
#include "client/proto_names.h"
#include "common/layout.h"
#include "common/layout_proto.h"
#include "common/status_util.h"

namespace fnprobe::client {
namespace {

// The shortest text that reads back as the same double.
std::string Number(double value) {
  char buffer[32];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

// A CSV field, quoted when it holds a comma, quote or line break.
std::string CsvField(absl::string_view text) {
  if (text.find_first_of(",\"\r\n") == absl::string_view::npos) {
    return std::string(text);
  }
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string EventsTsv(const v1::GetRunEventsResponse& events) {
  if (!events.events_tsv().empty()) return events.events_tsv();
  std::string tsv = "onset\tduration\ttrial_type\n";
  for (const auto& row : events.events()) {
    absl::StrAppend(&tsv, Number(row.onset()), "\t", Number(row.duration()),
                    "\t", row.trial_type(), "\n");
  }
  return tsv;
}

const char* Extension(ExportFormat format) {
  switch (format) {
    case ExportFormat::kJson:
      return "json";
    case ExportFormat::kNpy:
      return "npy";
    default:
      return "csv";
  }
}

}  // namespace

std::optional<ExportFormat> ParseExportFormat(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "csv") return ExportFormat::kCsv;
  if (lower == "json") return ExportFormat::kJson;
  if (lower == "npy") return ExportFormat::kNpy;
  return std::nullopt;
}

ExperimentExporter::ExperimentExporter(ExperimentClient& client,
                                       std::ostream& log)
    : client_(client), log_(log) {}

std::string ExperimentExporter::SafeFileName(absl::string_view name) {
  std::string safe(name);
  for (char& c : safe) {
    if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_') c = '_';
  }
  return safe.empty() ? "_" : safe;
}

absl::StatusOr<std::string> ExperimentExporter::StatMapCsv(
    const v1::StatMap& map) {
  FNPROBE_ASSIGN_OR_RETURN(Layout layout, LayoutFromProto(map.layout()));
  std::string csv = "unit,name,t,beta,p\n";
  for (int i = 0; i < map.t_size(); ++i) {
    absl::StatusOr<std::string> name = layout.UnitName(i);
    absl::StrAppend(&csv, i, ",", name.ok() ? *name : "", ",", Number(map.t(i)),
                    ",", i < map.beta_size() ? Number(map.beta(i)) : "", ",",
                    i < map.p_size() ? Number(map.p(i)) : "", "\n");
  }
  return csv;
}

std::string ExperimentExporter::NetworksCsv(
    const std::vector<v1::GetNetworkResponse>& networks) {
  std::string csv = "network,condition,unit,name,beta,t,p,q\n";
  for (const auto& n : networks) {
    const std::string prefix =
        absl::StrCat(n.network().id(), ",", CsvField(n.network().condition()));
    for (const auto& u : n.units()) {
      absl::StrAppend(&csv, prefix, ",", u.unit(), ",", CsvField(u.name()), ",",
                      Number(u.beta()), ",", Number(u.t()), ",", Number(u.p()),
                      ",", Number(u.q()), "\n");
    }
  }
  return csv;
}

std::string ExperimentExporter::IcaNetworksCsv(
    const std::vector<v1::GetNetworkResponse>& networks) {
  std::string csv = "network,group,hook,component,unit,name,z\n";
  for (const auto& n : networks) {
    const v1::NetworkSummary& s = n.network();
    const std::string prefix = absl::StrCat(
        s.id(), ",", s.repeat(), ",", CsvField(s.hook()), ",", s.component());
    for (const auto& u : n.units()) {
      absl::StrAppend(&csv, prefix, ",", u.unit(), ",", CsvField(u.name()), ",",
                      Number(u.t()), "\n");
    }
  }
  return csv;
}

absl::Status ExperimentExporter::Write(const std::string& name,
                                       absl::string_view contents,
                                       const std::string& what) {
  const std::string path = absl::StrCat(options_.out_dir, "/", name);
  FNPROBE_RETURN_IF_ERROR(WriteFileAtomically(path, contents));
  log_ << "wrote " << path << " (" << what << ")\n";
  written_.push_back(path);
  return absl::OkStatus();
}

absl::Status ExperimentExporter::ExportStatMap(
    const v1::GetStatMapRequest& request, const std::string& stem) {
  FNPROBE_ASSIGN_OR_RETURN(v1::StatMap map, client_.GetStatMap(request));
  const std::string name =
      absl::StrCat(stem, ".t.", Extension(options_.format));
  const std::string what = absl::StrCat(map.t_size(), " units");
  switch (options_.format) {
    case ExportFormat::kJson: {
      FNPROBE_ASSIGN_OR_RETURN(std::string json,
                               MessageToJson(map, /*pretty=*/false));
      return Write(name, json + "\n", what);
    }
    case ExportFormat::kNpy:
      return Write(name, EncodeNpy(map.t()), what);
    default: {
      FNPROBE_ASSIGN_OR_RETURN(std::string csv, StatMapCsv(map));
      return Write(name, csv, what);
    }
  }
}

absl::StatusOr<std::vector<v1::GetNetworkResponse>>
ExperimentExporter::FetchNetworks(int64_t id, v1::NetworkKind kind,
                                  size_t* units) {
  v1::ListNetworksRequest list_request;
  list_request.set_experiment_id(id);
  list_request.set_kind(kind);
  FNPROBE_ASSIGN_OR_RETURN(auto list, client_.ListNetworks(list_request));
  std::vector<v1::GetNetworkResponse> networks;
  for (const auto& n : list.networks()) {
    v1::GetNetworkRequest request;
    request.set_network_id(n.id());
    FNPROBE_ASSIGN_OR_RETURN(auto whole, client_.GetNetworkUnits(request));
    *units += whole.units_size();
    networks.push_back(std::move(whole));
  }
  return networks;
}

absl::Status ExperimentExporter::ExportNetworks(int64_t id) {
  for (const v1::NetworkKind kind : {v1::NETWORK_CONDITION, v1::NETWORK_ICA}) {
    const bool ica = kind == v1::NETWORK_ICA;
    size_t units = 0;
    FNPROBE_ASSIGN_OR_RETURN(const std::vector<v1::GetNetworkResponse> networks,
                             FetchNetworks(id, kind, &units));
    if (ica && networks.empty()) continue;
    const std::string stem = ica ? "ica_networks" : "networks";
    const std::string what =
        absl::StrCat(networks.size(), " networks, ", units, " units");
    if (options_.format != ExportFormat::kJson) {
      FNPROBE_RETURN_IF_ERROR(
          Write(stem + ".csv",
                ica ? IcaNetworksCsv(networks) : NetworksCsv(networks), what));
      continue;
    }
    std::vector<const google::protobuf::Message*> messages;
    for (const auto& n : networks) messages.push_back(&n);
    std::ostringstream json;
    FNPROBE_RETURN_IF_ERROR(PrintJsonArray(messages, json));
    FNPROBE_RETURN_IF_ERROR(Write(stem + ".json", json.str(), what));
  }
  return absl::OkStatus();
}

absl::Status ExperimentExporter::ExportEvents(
    const v1::Experiment& experiment) {
  for (const v1::Run& run : experiment.runs()) {
    FNPROBE_ASSIGN_OR_RETURN(
        auto events, client_.GetRunEvents(experiment.id(), run.index()));
    FNPROBE_RETURN_IF_ERROR(Write(
        absl::StrCat("run-", run.index(), "_events.tsv"), EventsTsv(events),
        absl::StrCat(run.condition(), ", repeat ", run.repeat())));
  }
  return absl::OkStatus();
}

absl::Status ExperimentExporter::ExportLayout(
    const v1::Experiment& experiment) {
  FNPROBE_ASSIGN_OR_RETURN(std::string json,
                           MessageToJson(experiment.layout(), /*pretty=*/true));
  return Write("layout.json", json + "\n",
               absl::StrCat(experiment.layout().hooks_size(), " hook points"));
}

absl::Status ExperimentExporter::ExportMasking(int64_t id) {
  FNPROBE_ASSIGN_OR_RETURN(const v1::GetMaskingResultsResponse r,
                           client_.GetMaskingResults(id));
  const std::string what = absl::StrCat(r.results_size(), " results");
  FNPROBE_RETURN_IF_ERROR(Write("masking.csv", MaskingResultsCsv(r), what));
  FNPROBE_ASSIGN_OR_RETURN(std::string json, MessageToJson(r, /*pretty=*/true));
  FNPROBE_RETURN_IF_ERROR(Write(
      "masking.json", json + "\n",
      absl::StrCat(what, ", ", r.dissociations_size(), " dissociations")));
  if (r.dissociations().empty()) return absl::OkStatus();
  return Write("masking_dissociation.csv", MaskingDissociationsCsv(r),
               absl::StrCat(r.dissociations_size(), " dissociations"));
}

absl::StatusOr<std::vector<std::string>> ExperimentExporter::Export(
    const ExportOptions& options) {
  options_ = options;
  written_.clear();
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e,
                           client_.GetExperiment(options.experiment_id));
  if (e.phase() != v1::PHASE_DONE) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", e.id(), " is ", PhaseName(e.phase()),
                     "; export needs it done"));
  }
  FNPROBE_RETURN_IF_ERROR(CreateDirectories(options.out_dir));
  if (e.spec().has_masking()) {
    FNPROBE_RETURN_IF_ERROR(ExportMasking(e.id()));
    return written_;
  }
  FNPROBE_RETURN_IF_ERROR(ExportLayout(e));
  for (const auto& condition : e.spec().conditions()) {
    v1::GetStatMapRequest request;
    request.set_experiment_id(e.id());
    request.set_condition(condition.name());
    FNPROBE_RETURN_IF_ERROR(
        ExportStatMap(request, SafeFileName(condition.name())));
  }
  for (const v1::Run& run : e.runs()) {
    // A text corpus's runs have no maps (their analysis is ICA).
    if (!options.runs || e.spec().has_texts()) break;
    v1::GetStatMapRequest request;
    request.set_experiment_id(e.id());
    request.set_run_id(run.id());
    FNPROBE_RETURN_IF_ERROR(
        ExportStatMap(request, absl::StrCat("run-", run.index())));
  }
  FNPROBE_RETURN_IF_ERROR(ExportNetworks(e.id()));
  FNPROBE_RETURN_IF_ERROR(ExportEvents(e));
  return written_;
}

}  // namespace fnprobe::client
