#include "client/result_commands.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/json_output.h"
#include "client/number_format.h"
#include "client/proto_names.h"
#include "client/result_tables.h"
#include "client/table_printer.h"
#include "common/status_util.h"

namespace fnprobe::client {
namespace {

absl::StatusOr<v1::NetworkKind> KindOrError(const std::string& name) {
  std::optional<v1::NetworkKind> kind = ParseNetworkKind(name);
  if (!kind) {
    return absl::InvalidArgumentError(
        absl::StrCat("--kind ", name,
                     ": not a network kind (condition, run, leave-one-out)"));
  }
  return *kind;
}

// What the networks' inference licenses, in one line.
std::string InferenceNote(const std::string& inference) {
  if (inference == "prompt") {
    return "inference: prompt-level (prompts are the observations; a unit is "
           "in a network when its mean response over task prompts differs "
           "from baseline prompts beyond prompt-to-prompt variation)";
  }
  return absl::StrCat(
      "inference: ", inference.empty() ? "token" : inference,
      "-level (descriptive only: tokens of one prompt are not independent, "
      "so these p-values overstate the evidence; reanalyze with --inference "
      "prompt)");
}

std::string ThresholdText(const v1::NetworkSummary& n) {
  if (n.kind() == v1::NETWORK_ICA) {
    return absl::StrCat("|z| > ", FormatStat(n.threshold()));
  }
  return absl::StrCat(n.threshold_method(), " alpha ", n.alpha(), ", |t| > ",
                      FormatStat(n.threshold()));
}

// t, beta, p and q of a unit, after `prefix`.
std::vector<std::string> UnitStats(const v1::NetworkUnit& u,
                                   std::vector<std::string> prefix) {
  prefix.insert(prefix.end(), {FormatStat(u.t()), FormatStat(u.beta()),
                               FormatP(u.p()), FormatP(u.q())});
  return prefix;
}

}  // namespace

ResultCommands::ResultCommands(ExperimentClient& client,
                               const CommandOutput& output)
    : client_(client), output_(output) {}

void ResultCommands::PrintNetworkSummaries(
    const v1::ListNetworksResponse& list) const {
  TablePrinter table(
      {"network", "kind", "label", "contrast", "units", "threshold", "dof"});
  for (const auto& n : list.networks()) {
    table.AddRow({absl::StrCat(n.id()), NetworkKindName(n.kind()),
                  NetworkLabel(n), n.contrast(), FormatCount(n.size()),
                  ThresholdText(n), FormatStat(n.dof())});
  }
  table.Print(*output_.out);
  if (list.networks_size() > 0 && list.networks(0).kind() == v1::NETWORK_ICA) {
    *output_.out << "ICA networks: the units with |z| above the threshold in "
                    "each component's z-scored map (fnprobe ica); t is z\n";
  } else if (list.networks_size() > 0) {
    *output_.out << InferenceNote(list.networks(0).inference()) << "\n";
  }
}

void ResultCommands::PrintTopUnits(const v1::GetNetworkResponse& network,
                                   const NetworksOptions& options) const {
  const v1::NetworkSummary& n = network.network();
  *output_.out << "\nnetwork " << n.id() << " (" << NetworkLabel(n) << ", "
               << n.contrast() << "): top " << network.units_size() << " of "
               << FormatCount(network.total_units()) << " units"
               << (options.hook.empty() ? "" : " in " + options.hook)
               << " by |t|\n";
  TablePrinter table({"unit", "name", "t", "beta", "p", "q"});
  for (const auto& u : network.units()) {
    table.AddRow(UnitStats(u, {absl::StrCat(u.unit()), u.name()}));
  }
  if (table.num_rows() > 0) table.Print(*output_.out);
}

absl::Status ResultCommands::Networks(const NetworksOptions& options) {
  v1::ListNetworksRequest request;
  request.set_experiment_id(options.experiment_id);
  request.set_condition(options.condition);
  FNPROBE_ASSIGN_OR_RETURN(auto kind, KindOrError(options.kind));
  request.set_kind(kind);
  FNPROBE_ASSIGN_OR_RETURN(auto list, client_.ListNetworks(request));
  std::vector<v1::GetNetworkResponse> details;
  for (const auto& n : list.networks()) {
    v1::GetNetworkResponse detail;
    *detail.mutable_network() = n;
    if (options.top > 0) {
      v1::GetNetworkRequest get;
      get.set_network_id(n.id());
      get.set_hook(options.hook);
      FNPROBE_ASSIGN_OR_RETURN(detail,
                               client_.GetNetworkUnits(get, options.top));
    }
    details.push_back(std::move(detail));
  }
  if (output_.json) {
    std::vector<const google::protobuf::Message*> messages;
    for (const auto& d : details) messages.push_back(&d);
    return PrintJsonArray(messages, *output_.out);
  }
  if (list.networks().empty()) {
    *output_.out << "no networks\n";
    return absl::OkStatus();
  }
  PrintNetworkSummaries(list);
  if (options.top > 0) {
    for (const auto& d : details) PrintTopUnits(d, options);
  }
  return absl::OkStatus();
}

absl::Status ResultCommands::Compare(const CompareOptions& options) {
  v1::CompareNetworksRequest request;
  request.set_experiment_id(options.experiment_id);
  FNPROBE_ASSIGN_OR_RETURN(auto kind, KindOrError(options.kind));
  request.set_kind(kind);
  FNPROBE_ASSIGN_OR_RETURN(auto compare, client_.CompareNetworks(request));
  if (output_.json) return PrintJson(compare, *output_.out);
  OverlapTable(compare, options.metric == "jaccard").Print(*output_.out);
  const std::string most = MostOverlapLine(compare);
  if (!most.empty()) *output_.out << "\n" << most << "\n";
  return absl::OkStatus();
}

absl::Status ResultCommands::Repeatability(int64_t id) {
  FNPROBE_ASSIGN_OR_RETURN(auto r, client_.GetRepeatability(id));
  if (output_.json) return PrintJson(r, *output_.out);
  RepeatabilityTable(r).Print(*output_.out);
  *output_.out << "\nmean Dice between repeats, all pairs: "
               << FormatFixed(r.mean_dice(), 2) << "\n";
  return absl::OkStatus();
}

absl::Status ResultCommands::Classify(int64_t id) {
  FNPROBE_ASSIGN_OR_RETURN(auto c, client_.GetClassification(id));
  if (output_.json) return PrintJson(c, *output_.out);
  *output_.out << "held-out identification (each run against networks "
                  "defined without it)\n";
  PrintAccuracy(c, "  ", *output_.out);
  *output_.out << "\nconfusion (rows: true, columns: predicted by mean t)\n";
  ConfusionTable(c).Print(*output_.out);
  // Runs are shown by their index in the experiment (as `show` and `events`
  // number them), not by database id.
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment experiment,
                           client_.GetExperiment(id));
  absl::flat_hash_map<int64_t, int32_t> index_of;
  for (const v1::Run& run : experiment.runs()) index_of[run.id()] = run.index();
  TablePrinter table({"run", "repeat", "true", "predicted", "by correlation"});
  for (const auto& p : c.predictions()) {
    auto it = index_of.find(p.run_id());
    table.AddRow({it == index_of.end() ? absl::StrCat("id ", p.run_id())
                                       : absl::StrCat(it->second),
                  absl::StrCat(p.repeat()), p.true_condition(),
                  p.predicted_condition(),
                  p.predicted_condition_by_correlation()});
  }
  *output_.out << "\n";
  table.Print(*output_.out);
  return absl::OkStatus();
}

absl::Status ResultCommands::Events(int64_t id, int32_t run_index) {
  FNPROBE_ASSIGN_OR_RETURN(auto e, client_.GetRunEvents(id, run_index));
  if (output_.json) return PrintJson(e, *output_.out);
  const v1::Run& r = e.run();
  *output_.out << "run " << r.index() << " (" << r.condition() << ", repeat "
               << r.repeat() << "): " << RunStateName(r.state()) << ", "
               << FormatCount(r.time_points()) << " time points\n";
  TablePrinter table({"onset", "duration", "trial_type"});
  for (const auto& row : e.events()) {
    table.AddRow({FormatStat(row.onset()), FormatStat(row.duration()),
                  row.trial_type()});
  }
  table.Print(*output_.out);
  if (e.prompts().empty()) return absl::OkStatus();
  *output_.out << "\nprompts, in presentation order\n";
  for (int i = 0; i < e.prompts_size(); ++i) {
    *output_.out << "  " << i + 1 << ". " << e.prompts(i) << "\n";
  }
  return absl::OkStatus();
}

absl::Status ResultCommands::Unit(int64_t id, const std::string& unit) {
  v1::FindUnitRequest request;
  request.set_experiment_id(id);
  int64_t index;
  if (absl::SimpleAtoi(unit, &index)) {
    request.set_unit(index);
  } else {
    request.set_unit_name(unit);
  }
  FNPROBE_ASSIGN_OR_RETURN(auto found, client_.FindUnit(request));
  if (output_.json) return PrintJson(found, *output_.out);
  *output_.out << found.name() << " (unit " << found.unit() << ") is in "
               << found.networks_size() << " network"
               << (found.networks_size() == 1 ? "" : "s")
               << (found.networks().empty() ? "\n" : ":\n");
  if (found.networks().empty()) return absl::OkStatus();
  TablePrinter table(
      {"network", "kind", "label", "contrast", "t", "beta", "p", "q"});
  for (const auto& m : found.networks()) {
    const v1::NetworkSummary& n = m.network();
    table.AddRow(
        UnitStats(m.unit(), {absl::StrCat(n.id()), NetworkKindName(n.kind()),
                             NetworkLabel(n), n.contrast()}));
  }
  table.Print(*output_.out);
  return absl::OkStatus();
}

}  // namespace fnprobe::client
