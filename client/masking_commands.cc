#include "client/masking_commands.h"

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/atomic_file.h"
#include "client/json_output.h"
#include "client/number_format.h"
#include "client/table_printer.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"

namespace fnprobe::client {
namespace {

std::string Num(double v) {
  if (std::isnan(v)) return "nan";
  return absl::StrFormat("%.6g", v);
}

// Values as the table shows them: nll in nats, top1 as a share.
std::string Value(const std::string& metric, double v) {
  if (std::isnan(v)) return "-";
  return metric == "top1" ? FormatFixed(v, 3) : FormatFixed(v, 3);
}

}  // namespace

std::string MaskingResultsCsv(const v1::GetMaskingResultsResponse& results) {
  std::string out =
      "network,operation,evaluation,metric,unmasked,masked,change,"
      "control_mean,control_sd,control_min,control_max,percentile,p,"
      "network_units,controls,condition\n";
  for (const v1::MaskingResult& r : results.results()) {
    std::vector<std::string> controls;
    for (double c : r.controls()) controls.push_back(Num(c));
    absl::StrAppend(
        &out,
        absl::StrJoin(
            {r.network(), r.operation(), r.evaluation(), r.metric(),
             Num(r.unmasked()), Num(r.masked()), Num(r.change()),
             Num(r.control_mean()), Num(r.control_sd()), Num(r.control_min()),
             Num(r.control_max()), Num(r.percentile()), Num(r.p()),
             absl::StrCat(r.network_units()),
             absl::StrCat("\"", absl::StrJoin(controls, ";"), "\""),
             r.condition()},
            ","),
        "\n");
  }
  return out;
}

std::string MaskingControlsLine(const v1::ExperimentSpec& spec,
                                const v1::GetMaskingResultsResponse& results) {
  int controls = spec.masking().controls();
  if (!results.results().empty()) {
    controls = results.results(0).controls_size();
  }
  return absl::StrCat(
      "controls: ", controls, " random",
      spec.masking().match_variance() ? ", variance-matched" : "");
}

absl::StatusOr<std::string> MaskingResultsJson(
    const v1::GetMaskingResultsResponse& results, bool matched_variance) {
  FNPROBE_ASSIGN_OR_RETURN(const std::string text,
                           MessageToJson(results, /*pretty=*/false));
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(text);
  nlohmann::ordered_json out;
  out["matchedVariance"] = matched_variance;
  for (auto& [key, value] : j.items()) out[key] = std::move(value);
  return out.dump(2);
}

std::string MaskingDissociationsCsv(
    const v1::GetMaskingResultsResponse& results) {
  std::string out =
      "network,operation,metric,condition,other,change,other_change,"
      "control_change,other_control_change,contrast,percentile,p,"
      "control_contrasts\n";
  for (const v1::MaskingDissociation& d : results.dissociations()) {
    std::vector<std::string> controls;
    for (double c : d.control_contrasts()) controls.push_back(Num(c));
    absl::StrAppend(
        &out,
        absl::StrJoin({d.network(), d.operation(), d.metric(), d.condition(),
                       d.other(), Num(d.change()), Num(d.other_change()),
                       Num(d.control_change()), Num(d.other_control_change()),
                       Num(d.contrast()), Num(d.percentile()), Num(d.p()),
                       absl::StrCat("\"", absl::StrJoin(controls, ";"), "\"")},
                      ","),
        "\n");
  }
  return out;
}

std::string DissociationCsvPath(const std::string& csv_path) {
  const size_t slash = csv_path.find_last_of('/');
  const size_t dot = csv_path.find_last_of('.');
  const bool has_ext =
      dot != std::string::npos && (slash == std::string::npos || dot > slash);
  return absl::StrCat(has_ext ? csv_path.substr(0, dot) : csv_path,
                      "_dissociation.csv");
}

namespace {

void PrintDissociationTable(const v1::GetMaskingResultsResponse& r,
                            std::ostream& out) {
  if (r.dissociations().empty()) return;
  TablePrinter table({"network", "operation", "metric", "A (network's)", "B",
                      "change on A", "change on B", "controls on A",
                      "controls on B", "contrast", "controls' contrast",
                      "percentile", "p"});
  for (const v1::MaskingDissociation& d : r.dissociations()) {
    const std::string& k = d.metric();
    double lo = 0, hi = 0;
    for (int i = 0; i < d.control_contrasts_size(); ++i) {
      const double c = d.control_contrasts(i);
      lo = i == 0 ? c : std::min(lo, c);
      hi = i == 0 ? c : std::max(hi, c);
    }
    table.AddRow({d.network(), d.operation(), k, d.condition(), d.other(),
                  Value(k, d.change()), Value(k, d.other_change()),
                  Value(k, d.control_change()),
                  Value(k, d.other_control_change()), Value(k, d.contrast()),
                  absl::StrCat(Value(k, lo), "..", Value(k, hi)),
                  FormatFixed(d.percentile(), 2), FormatP(d.p())});
  }
  out << "\nDouble dissociation (does the network of condition A harm A's "
         "texts more than B's?):\n";
  table.Print(out);
  out << "\ncontrast: harm on A's texts - harm on B's (harm: nll up, top1 "
         "down); each control's contrast uses its same units on both, so "
         "harm shared by every text cancels. percentile and p rank the "
         "network's contrast among the controls' as above.\n";
}

}  // namespace

absl::Status MaskingCommands::Show(const MaskingOptions& options) {
  FNPROBE_ASSIGN_OR_RETURN(const v1::GetMaskingResultsResponse r,
                           client_.GetMaskingResults(options.experiment_id));
  if (!options.csv_path.empty()) {
    FNPROBE_RETURN_IF_ERROR(
        WriteFileAtomically(options.csv_path, MaskingResultsCsv(r)));
    if (output_.log != nullptr) {
      *output_.log << "wrote " << options.csv_path << "\n";
    }
    if (!r.dissociations().empty()) {
      const std::string path = DissociationCsvPath(options.csv_path);
      FNPROBE_RETURN_IF_ERROR(
          WriteFileAtomically(path, MaskingDissociationsCsv(r)));
      if (output_.log != nullptr) *output_.log << "wrote " << path << "\n";
    }
  }
  // Whether the controls were variance-matched: the stored spec's field.
  FNPROBE_ASSIGN_OR_RETURN(const v1::Experiment e,
                           client_.GetExperiment(options.experiment_id));
  if (output_.json) {
    FNPROBE_ASSIGN_OR_RETURN(
        const std::string json,
        MaskingResultsJson(r, e.spec().masking().match_variance()));
    *output_.out << json << "\n";
    return absl::OkStatus();
  }
  if (r.results().empty()) {
    *output_.out << "No masking results yet for experiment "
                 << options.experiment_id
                 << " (they appear as its runs finish).\n";
    return absl::OkStatus();
  }
  TablePrinter table({"network", "units", "operation", "evaluation",
                      "condition", "metric", "unmasked", "masked", "change",
                      "controls mean", "controls sd", "controls min..max",
                      "percentile", "p"});
  for (const v1::MaskingResult& m : r.results()) {
    const std::string& k = m.metric();
    table.AddRow({m.network(), absl::StrCat(m.network_units()), m.operation(),
                  m.evaluation(), m.condition(), k, Value(k, m.unmasked()),
                  Value(k, m.masked()), Value(k, m.change()),
                  Value(k, m.control_mean()), Value(k, m.control_sd()),
                  absl::StrCat(Value(k, m.control_min()), "..",
                               Value(k, m.control_max())),
                  FormatFixed(m.percentile(), 2), FormatP(m.p())});
  }
  *output_.out << MaskingControlsLine(e.spec(), r) << "\n";
  table.Print(*output_.out);
  *output_.out
      << "\nnll: mean negative log-likelihood of the next token (nats); "
         "top1: share of positions predicting it. Controls: random units of "
         "the same number per hook point, the network's own excluded (variance-"
         "matched: each from its network unit's variance stratum). "
         "percentile: the network's mid-rank among the controls by harm "
         "(share harming less, ties half); "
         "p = (1 + controls harming at least as much) / (1 + controls).\n";
  PrintDissociationTable(r, *output_.out);
  if (!r.complete()) {
    *output_.out << "(partial: some runs are not done yet)\n";
  }
  return absl::OkStatus();
}

}  // namespace fnprobe::client
