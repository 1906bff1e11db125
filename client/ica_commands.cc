#include "client/ica_commands.h"

#include <cmath>
#include <ostream>
#include <streambuf>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/experiment_watcher.h"
#include "client/json_output.h"
#include "client/number_format.h"
#include "client/table_printer.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"

namespace fnprobe::client {
namespace {

// Swallows what a quiet wait would print.
class NullBuffer : public std::streambuf {
 protected:
  int overflow(int c) override { return c; }
};

std::string Fixed(double value, int digits) {
  if (!std::isfinite(value)) return "-";
  return absl::StrFormat("%.*f", digits, value);
}

std::string Joined(const google::protobuf::RepeatedPtrField<std::string>& names,
                   int top) {
  std::vector<std::string> shown;
  for (int i = 0; i < names.size() && i < top; ++i) shown.push_back(names[i]);
  std::string text = absl::StrJoin(shown, " ");
  if (names.size() > top) absl::StrAppend(&text, " +", names.size() - top);
  return text;
}

}  // namespace

IcaCommands::IcaCommands(ExperimentClient& client, const CommandOutput& output)
    : client_(client), output_(output) {}

bool IcaCommands::AsksToDecompose(const IcaCommandOptions& o) {
  return o.components > 0 || !o.fun.empty() || o.z > 0 || !o.hooks.empty() ||
         o.joint || !o.scope.empty() || o.restarts > 0 || o.seed > 0;
}

absl::Status IcaCommands::Decompose(const IcaCommandOptions& o) {
  v1::DecomposeExperimentRequest request;
  request.set_experiment_id(o.experiment_id);
  v1::IcaSpec* ica = request.mutable_ica();
  ica->set_components(o.components);
  if (!o.fun.empty()) {
    v1::IcaSpec::Fun fun;
    if (!v1::IcaSpec::Fun_Parse(absl::AsciiStrToUpper(o.fun), &fun)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--fun ", o.fun, ": not a contrast function (logcosh, cube, exp)"));
    }
    ica->set_fun(fun);
  }
  ica->set_z(o.z);
  for (const std::string& hook : o.hooks) ica->add_hooks(hook);
  ica->set_joint(o.joint);
  if (!o.scope.empty()) {
    const std::string scope = absl::AsciiStrToLower(o.scope);
    if (scope == "experiment") {
      ica->set_scope(v1::IcaSpec::EXPERIMENT);
    } else if (scope != "group" && scope != "run") {
      return absl::InvalidArgumentError(absl::StrCat(
          "--scope ", o.scope, ": not a scope (group, run, experiment)"));
    }
  }
  ica->set_restarts(o.restarts);
  ica->set_seed(o.seed);
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e,
                           client_.DecomposeExperiment(request));
  *output_.log << "experiment " << e.id() << ": decomposing its runs ("
               << (o.components > 0 ? absl::StrCat(o.components)
                                    : std::string("default"))
               << " components per hook point)\n";
  NullBuffer null_buffer;
  std::ostream null_stream(&null_buffer);
  CommandOutput watch_output{o.watch ? output_.log : &null_stream, output_.log,
                             false, o.watch && output_.tty};
  return ExperimentWatcher(client_, watch_output).Watch(e.id());
}

absl::Status IcaCommands::Ica(const IcaCommandOptions& o) {
  v1::ListIcaComponentsRequest request;
  request.set_experiment_id(o.experiment_id);
  request.set_hook(o.hook);
  request.set_top_units(o.top);
  absl::StatusOr<v1::ListIcaComponentsResponse> list;
  if (!AsksToDecompose(o)) {
    list = client_.ListIcaComponents(request);
    if (!list.ok() && !absl::IsFailedPrecondition(list.status())) {
      return list.status();
    }
  }
  if (AsksToDecompose(o) || !list.ok()) {
    FNPROBE_RETURN_IF_ERROR(Decompose(o));
    list = client_.ListIcaComponents(request);
  }
  FNPROBE_RETURN_IF_ERROR(list.status());
  if (output_.json) return PrintJson(*list, *output_.out);
  TablePrinter table({"network", "group", "hook", "component", "units",
                      "stability", "variance", "top units (by |z|)"});
  for (const v1::IcaComponentSummary& c : list->components()) {
    table.AddRow(
        {absl::StrCat(c.network_id()),
         c.run_id() == 0 ? std::string("all") : absl::StrCat(c.group()),
         c.hook(), absl::StrCat(c.component()), FormatCount(c.size()),
         c.stability() < 0 ? "-" : Fixed(c.stability(), 3),
         Fixed(c.explained_variance(), 4), Joined(c.top_units(), o.top)});
  }
  table.Print(*output_.out);
  *output_.out << list->components_size() << " components over "
               << list->groups() << " group(s); a network is the units with "
               << "|z| > " << list->z()
               << " in its component's map (Liu et al. 2025)\n";
  return absl::OkStatus();
}

absl::Status IcaCommands::Recurrence(const RecurrenceOptions& o) {
  v1::GetRecurrenceRequest request;
  request.set_experiment_id(o.experiment_id);
  request.set_min_jaccard(o.min_jaccard);
  request.set_min_frequency(o.min_frequency);
  request.set_hook(o.hook);
  FNPROBE_ASSIGN_OR_RETURN(v1::GetRecurrenceResponse r,
                           client_.GetRecurrence(request));
  if (output_.json) return PrintJson(r, *output_.out);
  TablePrinter table(
      {"hook", "frequency", "groups", "units", "mean Jaccard", "units"});
  for (const v1::RecurringNetwork& n : r.networks()) {
    table.AddRow({n.hook(), Fixed(n.frequency(), 3),
                  absl::StrCat(n.members_size(), "/", r.groups()),
                  FormatCount(n.units_size()), Fixed(n.mean_jaccard(), 3),
                  Joined(n.units(), o.top)});
  }
  table.Print(*output_.out);
  *output_.out << r.networks_size()
               << " recurring network(s): components matched across "
               << r.groups() << " group(s) by Jaccard >= " << r.min_jaccard()
               << " (Hungarian matching); units are each network's consensus "
                  "(in at least half its members)\n";
  return absl::OkStatus();
}

absl::Status IcaCommands::KeyNeurons(int64_t experiment_id,
                                     double min_frequency) {
  v1::GetKeyNeuronsRequest request;
  request.set_experiment_id(experiment_id);
  request.set_min_frequency(min_frequency);
  FNPROBE_ASSIGN_OR_RETURN(v1::GetKeyNeuronsResponse r,
                           client_.GetKeyNeurons(request));
  if (output_.json) {
    nlohmann::json names = nlohmann::json::array();
    for (const v1::KeyNeuron& k : r.neurons()) names.push_back(k.unit());
    *output_.out << names.dump(2) << "\n";
    return absl::OkStatus();
  }
  TablePrinter table({"unit", "frequency"});
  for (const v1::KeyNeuron& k : r.neurons()) {
    table.AddRow({k.unit(), Fixed(k.frequency(), 3)});
  }
  table.Print(*output_.out);
  *output_.out << r.neurons_size() << " key neuron(s): units in the recurring "
               << "ICA networks of at least " << r.min_frequency() << " of "
               << r.groups() << " group(s)\n";
  return absl::OkStatus();
}

absl::Status IcaCommands::CompareMethods(int64_t experiment_id) {
  v1::CompareMethodsRequest request;
  request.set_experiment_id(experiment_id);
  FNPROBE_ASSIGN_OR_RETURN(v1::CompareMethodsResponse r,
                           client_.CompareMethods(request));
  if (output_.json) return PrintJson(r, *output_.out);
  std::vector<std::string> header = {"network",   "group",     "hook",
                                     "component", "condition", "r(task)"};
  for (const std::string& c : r.conditions()) {
    header.push_back(absl::StrCat("Dice ", c));
  }
  TablePrinter table(header);
  for (const v1::ComponentVsCondition& c : r.components()) {
    std::vector<std::string> row = {
        absl::StrCat(c.network_id()),
        c.group() < 0 ? std::string("all") : absl::StrCat(c.group()),
        c.hook(),
        absl::StrCat(c.component()),
        c.condition(),
        Fixed(c.correlation(), 3)};
    for (double d : c.dice()) row.push_back(Fixed(d, 3));
    table.AddRow(row);
  }
  table.Print(*output_.out);
  *output_.out << "r(task): a component's time course against its run's task "
                  "regressor (1 in task blocks; group all: against each "
                  "condition's regressor over every run); Dice: its network "
                  "against each condition's GLM network\n";
  return absl::OkStatus();
}

}  // namespace fnprobe::client
