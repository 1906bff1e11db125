#include "client/experiment_commands.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/experiment_watcher.h"
#include "client/json_output.h"
#include "client/number_format.h"
#include "client/proto_names.h"
#include "client/table_printer.h"
#include "common/status_util.h"

namespace fnprobe::client {
namespace {

void KeyValue(std::ostream& out, absl::string_view key,
              absl::string_view value) {
  if (!value.empty()) out << absl::StrFormat("  %-11s %s\n", key, value);
}

std::string ProgressText(const v1::ExperimentProgress& p) {
  return absl::StrCat("runs ", p.runs_done(), "/", p.runs_total(), ", tokens ",
                      FormatCount(p.tokens_done()), "/",
                      FormatCount(p.tokens_total()));
}

std::string DesignText(const v1::ExperimentSpec& spec) {
  std::vector<std::string> names;
  for (const auto& c : spec.conditions()) names.push_back(c.name());
  return absl::StrCat(
      absl::StrJoin(names, ", "), " vs ", spec.baseline().name(), "; ",
      spec.design().repeats(), " repeats of ",
      absl::StrJoin(spec.design().pattern(), "/"), ", ",
      spec.design().prompts_per_block(), " prompts per block, ",
      spec.generation().tokens_per_prompt(), " tokens per prompt");
}

std::string AnalysisText(const v1::AnalysisSpec& a) {
  const bool prompt = a.inference() == v1::InferenceLevel::PROMPT;
  return absl::StrCat(
      "inference ", v1::InferenceLevel::Kind_Name(a.inference()),
      prompt ? absl::StrCat(" (level two ",
                            v1::LevelTwoModel::Kind_Name(a.level_two()), ")")
             : " (descriptive)",
      ", hrf ", v1::HrfModel::Kind_Name(a.hrf()), ", drift ",
      v1::DriftModel::Kind_Name(a.drift()), ", noise ",
      v1::NoiseModel::Kind_Name(a.noise()), ", threshold ",
      v1::ThresholdSpec::Method_Name(a.threshold().method()), " alpha ",
      a.threshold().alpha(), a.classify() ? ", classify" : "");
}

std::string LayoutText(const v1::Experiment& e) {
  if (e.layout().hooks_size() == 0) return "";
  return absl::StrFormat("%d hook points, %s units (hash %016x)",
                         e.layout().hooks_size(),
                         FormatCount(e.layout().width()), e.layout().hash());
}

std::string TimesText(const v1::Experiment& e) {
  std::string text = absl::StrCat("created ", e.created_at());
  if (!e.started_at().empty())
    absl::StrAppend(&text, ", started ", e.started_at());
  if (!e.finished_at().empty()) {
    absl::StrAppend(&text, ", finished ", e.finished_at());
  }
  return text;
}

// Raw activation bytes, or why there are none.
std::string StoredText(const v1::Experiment& e) {
  if (e.activations_deleted()) return "results only (activations deleted)";
  return FormatBytes(e.stored_bytes());
}

}  // namespace

ExperimentCommands::ExperimentCommands(ExperimentClient& client,
                                       const CommandOutput& output)
    : client_(client), output_(output) {}

absl::Status ExperimentCommands::Submit(const v1::ExperimentSpec& spec,
                                        const std::string& source, bool watch) {
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e, client_.SubmitExperiment(spec));
  if (output_.json) {
    FNPROBE_RETURN_IF_ERROR(PrintJson(e, *output_.out));
  } else {
    *output_.out << "submitted experiment " << e.id() << " (" << e.name()
                 << ", from " << source << "): " << e.progress().runs_total()
                 << " runs, " << FormatCount(e.progress().tokens_total())
                 << " tokens on " << e.model();
    if (e.estimated_bytes() > 0) {
      *output_.out << "; about " << FormatBytes(e.estimated_bytes())
                   << " of raw activations";
    }
    *output_.out << "\n";
  }
  if (!watch) return absl::OkStatus();
  return ExperimentWatcher(client_, output_).Watch(e.id());
}

absl::Status ExperimentCommands::Watch(int64_t id) {
  return ExperimentWatcher(client_, output_).Watch(id);
}

absl::StatusOr<v1::ListExperimentsResponse> ExperimentCommands::FetchList(
    int limit) {
  v1::ListExperimentsResponse all;
  v1::ListExperimentsRequest request;
  do {
    const int want = limit > 0 ? limit - all.experiments_size() : 1000;
    request.set_page_size(std::min(want, 1000));
    FNPROBE_ASSIGN_OR_RETURN(auto page, client_.ListExperiments(request));
    all.mutable_experiments()->MergeFrom(page.experiments());
    request.set_page_token(page.next_page_token());
    all.set_next_page_token(page.next_page_token());
  } while (!request.page_token().empty() &&
           (limit == 0 || all.experiments_size() < limit));
  return all;
}

absl::Status ExperimentCommands::List(const ListOptions& options) {
  FNPROBE_ASSIGN_OR_RETURN(auto list, FetchList(options.limit));
  if (output_.json) return PrintJson(list, *output_.out);
  if (list.experiments().empty()) {
    *output_.out << "no experiments yet (submit one with `fnprobe submit "
                    "SPEC`)\n";
    return absl::OkStatus();
  }
  TablePrinter table(
      {"id", "name", "model", "phase", "runs", "tokens", "stored", "created"});
  for (const v1::Experiment& e : list.experiments()) {
    table.AddRow(
        {absl::StrCat(e.id()), e.name(), e.model(), PhaseName(e.phase()),
         absl::StrCat(e.progress().runs_done(), "/", e.progress().runs_total()),
         FormatCount(e.progress().tokens_done()), StoredText(e),
         e.created_at()});
  }
  table.Print(*output_.out);
  if (!list.next_page_token().empty()) {
    *output_.out << "(more: --limit 0 lists all)\n";
  }
  return absl::OkStatus();
}

void ExperimentCommands::PrintExperiment(const v1::Experiment& e) const {
  std::ostream& out = *output_.out;
  out << "experiment " << e.id() << "  " << e.name() << "\n";
  KeyValue(out, "model", e.model());
  KeyValue(out, "checkpoint", e.model_checksum());
  KeyValue(out, "owner", e.owner());
  KeyValue(out, "phase", PhaseName(e.phase()));
  KeyValue(out, "progress", ProgressText(e.progress()));
  KeyValue(out, "message", e.progress().message());
  KeyValue(out, "error", e.error());
  KeyValue(out, "design", DesignText(e.spec()));
  KeyValue(
      out, "capture",
      absl::StrCat(absl::StrJoin(e.spec().capture().hooks(), ", "), " as ",
                   v1::CaptureDType::Kind_Name(e.spec().capture().dtype())));
  KeyValue(out, "analysis", AnalysisText(e.spec().analysis()));
  KeyValue(out, "layout", LayoutText(e));
  KeyValue(out, "stored", StoredText(e));
  KeyValue(out, "times", TimesText(e));
}

void ExperimentCommands::PrintRuns(const v1::Experiment& e) const {
  if (e.runs().empty()) return;
  TablePrinter table({"run", "condition", "repeat", "state", "tokens",
                      "overflow", "attempts", "error"});
  for (const v1::Run& r : e.runs()) {
    table.AddRow({absl::StrCat(r.index()), r.condition(),
                  absl::StrCat(r.repeat()), RunStateName(r.state()),
                  absl::StrCat(FormatCount(r.tokens_generated()), "/",
                               FormatCount(r.time_points())),
                  FormatCount(r.overflow_count()), absl::StrCat(r.attempts()),
                  r.error()});
  }
  *output_.out << "\n";
  table.Print(*output_.out);
}

absl::Status ExperimentCommands::Show(int64_t id) {
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e, client_.GetExperiment(id));
  if (output_.json) return PrintJson(e, *output_.out);
  PrintExperiment(e);
  PrintRuns(e);
  return absl::OkStatus();
}

absl::Status ExperimentCommands::Cancel(int64_t id) {
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e, client_.CancelExperiment(id));
  if (output_.json) return PrintJson(e, *output_.out);
  *output_.out << "experiment " << e.id() << " is " << PhaseName(e.phase())
               << " (" << ProgressText(e.progress()) << ")\n";
  return absl::OkStatus();
}

absl::Status ExperimentCommands::Delete(int64_t id, bool activations_only) {
  FNPROBE_ASSIGN_OR_RETURN(v1::DeleteExperimentResponse r,
                           client_.DeleteExperiment(id, activations_only));
  if (output_.json) return PrintJson(r, *output_.out);
  *output_.out << (activations_only ? "deleted the raw activations of "
                                    : "deleted ")
               << "experiment " << id << ": " << FormatBytes(r.bytes_freed())
               << " freed, " << r.files_removed() << " file(s) removed"
               << (activations_only ? "; its results stay" : "") << "\n";
  return absl::OkStatus();
}

absl::Status ExperimentCommands::Usage() {
  FNPROBE_ASSIGN_OR_RETURN(v1::Usage usage, client_.GetUsage());
  if (output_.json) {
    // Every key, zeros included (the proto3 mapping would drop them).
    *output_.out << "{\"bytes\": " << usage.bytes()
                 << ", \"experiments\": " << usage.experiments()
                 << ", \"quotaBytes\": " << usage.quota_bytes() << "}\n";
    return absl::OkStatus();
  }
  *output_.out << FormatBytes(usage.bytes()) << " of raw activations in "
               << usage.experiments() << " experiment(s); quota "
               << (usage.quota_bytes() > 0 ? FormatBytes(usage.quota_bytes())
                                           : std::string("none"))
               << "\n";
  return absl::OkStatus();
}

absl::StatusOr<v1::AnalysisSpec> ExperimentCommands::ApplyReanalyzeOptions(
    v1::AnalysisSpec analysis, const ReanalyzeOptions& options) {
  if (!options.noise.empty()) {
    v1::NoiseModel::Kind noise;
    if (!v1::NoiseModel::Kind_Parse(absl::AsciiStrToUpper(options.noise),
                                    &noise)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--noise ", options.noise, ": not a noise model (OLS or AR1)"));
    }
    analysis.set_noise(noise);
  }
  if (!options.threshold.empty()) {
    v1::ThresholdSpec::Method method;
    if (!v1::ThresholdSpec::Method_Parse(
            absl::AsciiStrToUpper(options.threshold), &method)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--threshold ", options.threshold,
                       ": not a method (fdr, bonferroni or permutation)"));
    }
    analysis.mutable_threshold()->set_method(method);
  }
  if (!options.inference.empty()) {
    v1::InferenceLevel::Kind inference;
    if (!v1::InferenceLevel::Kind_Parse(
            absl::AsciiStrToUpper(options.inference), &inference)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--inference ", options.inference,
                       ": not an inference level (prompt or token)"));
    }
    analysis.set_inference(inference);
  }
  if (!options.level_two.empty()) {
    v1::LevelTwoModel::Kind model;
    if (!v1::LevelTwoModel::Kind_Parse(absl::AsciiStrToUpper(options.level_two),
                                       &model)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--level-two ", options.level_two,
                       ": not a level-two model (run_ols or welch)"));
    }
    analysis.set_level_two(model);
  }
  if (options.alpha > 0) analysis.mutable_threshold()->set_alpha(options.alpha);
  if (options.permutations > 0) {
    analysis.mutable_threshold()->set_permutations(options.permutations);
  }
  return analysis;
}

absl::Status ExperimentCommands::Reanalyze(const ReanalyzeOptions& options) {
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment current,
                           client_.GetExperiment(options.experiment_id));
  v1::ReanalyzeExperimentRequest request;
  request.set_experiment_id(options.experiment_id);
  FNPROBE_ASSIGN_OR_RETURN(
      *request.mutable_analysis(),
      ApplyReanalyzeOptions(current.spec().analysis(), options));
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e,
                           client_.ReanalyzeExperiment(request));
  const bool finished = IsTerminal(e.phase());
  if (output_.json) {
    FNPROBE_RETURN_IF_ERROR(PrintJson(e, *output_.out));
  } else if (finished) {
    *output_.out << "experiment " << e.id() << " reanalyzed with "
                 << AnalysisText(request.analysis()) << ": "
                 << PhaseName(e.phase()) << "\n";
  } else {
    *output_.out << "experiment " << e.id() << " is being reanalyzed with "
                 << AnalysisText(request.analysis())
                 << (options.watch ? "" : "; `fnprobe watch ID` follows it")
                 << "\n";
  }
  if (!options.watch || finished) return absl::OkStatus();
  return ExperimentWatcher(client_, output_).Watch(e.id());
}

absl::Status ExperimentCommands::Models() {
  FNPROBE_ASSIGN_OR_RETURN(v1::ListModelsResponse models, client_.ListModels());
  if (output_.json) return PrintJson(models, *output_.out);
  TablePrinter table({"server", "reachable", "model", "family", "layers",
                      "hidden", "vocab", "device", "dtype", "error"});
  for (const v1::ServedModel& m : models.models()) {
    const v1::ModelInfo& i = m.info();
    table.AddRow({m.address(), m.reachable() ? "yes" : "no", i.model(),
                  i.family(), m.reachable() ? absl::StrCat(i.num_layers()) : "",
                  m.reachable() ? absl::StrCat(i.hidden_size()) : "",
                  m.reachable() ? FormatCount(i.vocab_size()) : "", i.device(),
                  i.dtype(), m.error()});
  }
  table.Print(*output_.out);
  return absl::OkStatus();
}

}  // namespace fnprobe::client
