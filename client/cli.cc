#include "client/cli.h"

#include <utility>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "client/command_output.h"
#include "client/demo_runner.h"
#include "client/error_report.h"
#include "client/experiment_commands.h"
#include "client/experiment_exporter.h"
#include "client/experiment_report.h"
#include "client/ica_commands.h"
#include "client/masking_commands.h"
#include "client/report/report_fetch.h"
#include "client/report/report_files.h"
#include "client/result_commands.h"
#include "client/spec_reader.h"
#include "common/status_util.h"

namespace fnprobe::client {
namespace {

constexpr char kDescription[] =
    "fnprobe: submit functional-network experiments on language models to "
    "fnprobe-worker, follow them, and read, compare and export their "
    "results.";

constexpr char kFooter[] =
    "Connection settings, each resolved on its own, highest precedence "
    "first:\n"
    "  server   --server, $FNPROBE_SERVER, config \"server\", else "
    "127.0.0.1:7070\n"
    "  token    --token or --token-file, $FNPROBE_TOKEN, config \"token\" "
    "or \"token_file\"\n"
    "  TLS CA   --ca-cert, $FNPROBE_CA_CERT, config \"ca_cert\" (none: "
    "plaintext)\n"
    "  config   --config, else $FNPROBE_CONFIG, else "
    "~/.config/fnprobe/config.json\n"
    "Exit codes: 0 ok, 1 other error or experiment failed, 2 usage, 3 "
    "invalid spec or argument, 4 not found, 5 bad token or not allowed, 6 "
    "worker unreachable, 7 not ready (failed precondition), 8 experiment "
    "cancelled, 130 interrupted.";

constexpr char kSubcommandFooter[] =
    "Global options (--server, --token, --token-file, --ca-cert, --config, "
    "--timeout, --connect-timeout) may come before or after the command; "
    "see `fnprobe --help` for them and for the exit codes.";

// An experiment id: a positive integer.
const CLI::Validator& ExperimentId() {
  static const auto* validator = new CLI::Validator(
      [](std::string& text) -> std::string {
        int64_t id = 0;
        if (absl::SimpleAtoi(text, &id) && id > 0) return "";
        return "not an experiment id (a positive integer): " + text;
      },
      "ID");
  return *validator;
}

std::string FailureMessage(const CLI::App* /*app*/, const CLI::Error& e) {
  return absl::StrCat("fnprobe: ", e.what(),
                      "\nhint: `fnprobe --help` lists the commands, `fnprobe "
                      "COMMAND --help` their options\n");
}

}  // namespace

// Every flag's value, as CLI11 fills them in.
struct Cli::Flags {
  ConnectionFlags connection;
  bool json = false;
  int64_t id = 0;
  std::string spec_path;
  bool watch = false;
  bool activations_only = false;
  ListOptions list;
  NetworksOptions networks;
  CompareOptions compare;
  int run_index = 0;
  std::string unit;
  std::string masking_csv;
  std::string export_format = "csv";
  std::string export_dir;
  bool export_runs = false;
  std::string plots_dir;
  std::string html_path;
  bool open_html = false;
  ReanalyzeOptions reanalyze;
  DemoOptions demo;
  IcaCommandOptions ica;
  RecurrenceOptions recurrence;
  double min_frequency = 0.5;
  std::string compare_methods = "glm";
};

Cli::Cli(Environment env, std::ostream& out, std::ostream& err)
    : env_(std::move(env)),
      out_(out),
      err_(err),
      flags_(std::make_unique<Flags>()) {}

Cli::~Cli() = default;

void Cli::AddGlobalOptions(CLI::App& app) {
  ConnectionFlags& c = flags_->connection;
  app.add_option("--server", c.server,
                 "fnprobe-worker address HOST:PORT (default 127.0.0.1:7070)");
  auto* token =
      app.add_option("--token", c.token, "Bearer token for the worker");
  app.add_option("--token-file", c.token_file, "File holding the bearer token")
      ->excludes(token);
  app.add_option("--ca-cert", c.ca_cert,
                 "CA certificate (PEM) of the worker's TLS certificate; "
                 "connects with TLS");
  app.add_option("--config", c.config,
                 "Config file (JSON: server, token, token_file, ca_cert)");
  app.add_option("--timeout", c.call_timeout_s, "Seconds per call")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--connect-timeout", c.connect_timeout_s,
                 "Seconds to wait for the connection")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
}

CLI::App* Cli::AddCommand(CLI::App& app, const std::string& name,
                          const std::string& description, Action action) {
  CLI::App* sub = app.add_subcommand(name, description);
  sub->footer(kSubcommandFooter);
  actions_[sub] = std::move(action);
  return sub;
}

CLI::App* Cli::AddClientCommand(CLI::App& app, const std::string& name,
                                const std::string& description, bool takes_id,
                                bool json, ClientAction action) {
  CLI::App* sub = AddCommand(app, name, description,
                             [this, action] { return WithClient(action); });
  if (takes_id) {
    sub->add_option("ID", flags_->id, "Experiment id")
        ->required()
        ->check(ExperimentId());
  }
  if (json) {
    sub->add_flag("--json", flags_->json,
                  "Print the response as JSON (proto3 JSON mapping)");
  }
  return sub;
}

absl::Status Cli::WithClient(const ClientAction& action) {
  FNPROBE_ASSIGN_OR_RETURN(settings_,
                           ResolveConnectionSettings(flags_->connection, env_));
  FNPROBE_ASSIGN_OR_RETURN(auto client, ExperimentClient::Connect(settings_));
  return action(*client);
}

absl::Status Cli::Submit() {
  FNPROBE_ASSIGN_OR_RETURN(v1::ExperimentSpec spec,
                           ReadSpecFile(flags_->spec_path));
  return WithClient([this, &spec](ExperimentClient& client) {
    CommandOutput output{&out_, &err_, flags_->json, env_.stdout_is_tty()};
    return ExperimentCommands(client, output)
        .Submit(spec, flags_->spec_path, flags_->watch);
  });
}

void Cli::AddExperimentCommands(CLI::App& app) {
  Flags& f = *flags_;
  auto output = [this] {
    return CommandOutput{&out_, &err_, flags_->json, env_.stdout_is_tty()};
  };
  auto* submit = AddCommand(
      app, "submit",
      "Submit an experiment spec (JSON, or YAML for .yaml/.yml files)",
      [this] { return Submit(); });
  submit->add_option("SPEC", f.spec_path, "Spec file")->required();
  submit->add_flag("--watch", f.watch, "Follow its progress until it ends");
  submit->add_flag("--json", f.json, "Print the stored experiment as JSON");

  AddClientCommand(
      app, "watch",
      "Follow an experiment's progress until it ends (runs, tokens, rate, "
      "ETA); exit 0 when done, 1 when failed, 8 when cancelled",
      true, true, [this, output](ExperimentClient& c) {
        return ExperimentCommands(c, output()).Watch(flags_->id);
      });
  auto* list = AddClientCommand(
      app, "list", "List your experiments, newest first", false, true,
      [this, output](ExperimentClient& c) {
        return ExperimentCommands(c, output()).List(flags_->list);
      });
  list->add_option("--limit", f.list.limit, "How many to show; 0: all")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  AddClientCommand(app, "show", "Show an experiment: spec, progress and runs",
                   true, true, [this, output](ExperimentClient& c) {
                     return ExperimentCommands(c, output()).Show(flags_->id);
                   });
  AddClientCommand(app, "cancel",
                   "Cancel an experiment; finished runs stay stored", true,
                   true, [this, output](ExperimentClient& c) {
                     return ExperimentCommands(c, output()).Cancel(flags_->id);
                   });
  auto* remove = AddClientCommand(
      app, "delete",
      "Delete an experiment of yours: its rows and files (a running one is "
      "cancelled first); --activations-only keeps the results",
      true, true, [this, output](ExperimentClient& c) {
        return ExperimentCommands(c, output())
            .Delete(flags_->id, flags_->activations_only);
      });
  remove->add_flag("--activations-only", f.activations_only,
                   "Delete only the raw activations; results stay readable "
                   "but the experiment can no longer be re-analysed");
  AddClientCommand(app, "usage",
                   "Your stored raw activation bytes, experiments and quota",
                   false, true, [this, output](ExperimentClient& c) {
                     return ExperimentCommands(c, output()).Usage();
                   });
  auto* reanalyze = AddClientCommand(
      app, "reanalyze",
      "Fit a finished experiment again with another inference, noise model "
      "or threshold, replacing its maps and networks",
      true, true, [this, output](ExperimentClient& c) {
        flags_->reanalyze.experiment_id = flags_->id;
        flags_->reanalyze.watch = flags_->watch;
        return ExperimentCommands(c, output()).Reanalyze(flags_->reanalyze);
      });
  reanalyze->add_option("--noise", f.reanalyze.noise, "Noise model: OLS|AR1")
      ->check(CLI::IsMember({"OLS", "AR1"}, CLI::ignore_case));
  reanalyze
      ->add_option("--threshold", f.reanalyze.threshold,
                   "Threshold method: fdr|bonferroni|permutation")
      ->check(CLI::IsMember({"fdr", "bonferroni", "permutation"},
                            CLI::ignore_case));
  reanalyze
      ->add_option("--inference", f.reanalyze.inference,
                   "Unit of inference: prompt (two-level, the default) or "
                   "token (descriptive)")
      ->check(CLI::IsMember({"prompt", "token"}, CLI::ignore_case));
  reanalyze
      ->add_option("--level-two", f.reanalyze.level_two,
                   "Prompt-level model: run_ols (task + run intercepts) or "
                   "welch")
      ->check(CLI::IsMember({"run_ols", "welch"}, CLI::ignore_case));
  reanalyze->add_option("--alpha", f.reanalyze.alpha, "Significance level")
      ->check(CLI::Range(0.0, 1.0));
  reanalyze
      ->add_option("--permutations", f.reanalyze.permutations,
                   "Permutations for --threshold permutation")
      ->check(CLI::PositiveNumber);
  reanalyze->add_flag("--watch", f.watch,
                      "Follow the analysis until it is done");
  AddClientCommand(app, "models",
                   "List the models the worker's inference servers serve",
                   false, true, [this, output](ExperimentClient& c) {
                     return ExperimentCommands(c, output()).Models();
                   });
}

void Cli::AddResultCommands(CLI::App& app) {
  Flags& f = *flags_;
  auto results = [this](ExperimentClient& c) {
    return ResultCommands(
        c, CommandOutput{&out_, &err_, flags_->json, env_.stdout_is_tty()});
  };
  const auto kinds = CLI::IsMember(
      {"condition", "run", "leave-one-out", "loo", "ica"}, CLI::ignore_case);
  auto* networks = AddClientCommand(
      app, "networks",
      "List an experiment's networks and each one's strongest units", true,
      true, [this, results](ExperimentClient& c) {
        flags_->networks.experiment_id = flags_->id;
        return results(c).Networks(flags_->networks);
      });
  networks->add_option("--condition", f.networks.condition,
                       "Only this condition's networks");
  networks->add_option("--hook", f.networks.hook,
                       "Only units of this hook point or glob, e.g. "
                       "'blocks.*.mlp_post'");
  networks
      ->add_option("--top", f.networks.top,
                   "Units listed per network, by |t|; 0: none")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  networks
      ->add_option("--kind", f.networks.kind, "condition|run|leave-one-out|ica")
      ->check(kinds)
      ->capture_default_str();
  auto* compare = AddClientCommand(
      app, "compare",
      "Overlap matrix (Dice or Jaccard) between networks; with --methods "
      "glm,ica each ICA component against the conditions",
      true, true, [this, results](ExperimentClient& c) -> absl::Status {
        if (flags_->compare_methods == "glm,ica" ||
            flags_->compare_methods == "ica,glm") {
          return IcaCommands(c, CommandOutput{&out_, &err_, flags_->json,
                                              env_.stdout_is_tty()})
              .CompareMethods(flags_->id);
        }
        if (flags_->compare_methods != "glm") {
          return absl::InvalidArgumentError(
              absl::StrCat("--methods ", flags_->compare_methods,
                           ": glm (networks against each other) or glm,ica "
                           "(ICA components against conditions)"));
        }
        flags_->compare.experiment_id = flags_->id;
        return results(c).Compare(flags_->compare);
      });
  compare
      ->add_option("--methods", f.compare_methods,
                   "glm: GLM networks against each other; glm,ica: each "
                   "ICA component's time course against its run's task "
                   "regressor and its network against each condition's")
      ->capture_default_str();
  compare
      ->add_option("--kind", f.compare.kind, "condition|run|leave-one-out|ica")
      ->check(kinds)
      ->capture_default_str();
  compare->add_option("--metric", f.compare.metric, "dice|jaccard")
      ->check(CLI::IsMember({"dice", "jaccard"}, CLI::ignore_case))
      ->capture_default_str();
  AddClientCommand(app, "repeatability",
                   "Dice overlap between repeats of each condition", true, true,
                   [this, results](ExperimentClient& c) {
                     return results(c).Repeatability(flags_->id);
                   });
  AddClientCommand(app, "classify",
                   "Held-out identification: accuracy and confusion matrix",
                   true, true, [this, results](ExperimentClient& c) {
                     return results(c).Classify(flags_->id);
                   });
  auto* events = AddClientCommand(
      app, "events", "A run's BIDS events (onset, duration, trial_type)", true,
      true, [this, results](ExperimentClient& c) {
        return results(c).Events(flags_->id, flags_->run_index);
      });
  events->add_option("RUN", f.run_index, "Run index (see `fnprobe show`)")
      ->required()
      ->check(CLI::NonNegativeNumber);
  auto* unit =
      AddClientCommand(app, "unit", "Which networks hold a unit", true, true,
                       [this, results](ExperimentClient& c) {
                         return results(c).Unit(flags_->id, flags_->unit);
                       });
  unit->add_option("UNIT", f.unit,
                   "Unit name, e.g. blocks.7.mlp_post[1203], or index")
      ->required();
  auto* masking = AddClientCommand(
      app, "masking",
      "A masking experiment's results: each network's effect on each "
      "evaluation set (nll, top1) against random controls",
      true, true, [this](ExperimentClient& c) {
        MaskingOptions options;
        options.experiment_id = flags_->id;
        options.csv_path = flags_->masking_csv;
        return MaskingCommands(c, CommandOutput{&out_, &err_, flags_->json,
                                                env_.stdout_is_tty()})
            .Show(options);
      });
  masking->add_option("--csv", f.masking_csv,
                      "Also write every result (each control's value "
                      "included) to this CSV file");
}

void Cli::AddIcaCommands(CLI::App& app) {
  Flags& f = *flags_;
  auto ica = [this](ExperimentClient& c) {
    return IcaCommands(
        c, CommandOutput{&out_, &err_, flags_->json, env_.stdout_is_tty()});
  };
  auto* decompose = AddClientCommand(
      app, "ica",
      "Spatial ICA of a finished experiment's stored runs, per hook point "
      "(Liu et al. 2025): decomposes again when options are given (or none "
      "was done), then lists each component's network (units with |z| > z)",
      true, true, [this, ica](ExperimentClient& c) {
        flags_->ica.experiment_id = flags_->id;
        return ica(c).Ica(flags_->ica);
      });
  decompose
      ->add_option("--components", f.ica.components,
                   "Components per decomposition (K; default 20)")
      ->check(CLI::Range(1, 500));
  decompose
      ->add_option("--fun", f.ica.fun, "FastICA contrast: logcosh|cube|exp")
      ->check(CLI::IsMember({"logcosh", "cube", "exp"}, CLI::ignore_case));
  decompose
      ->add_option("--z", f.ica.z, "Network threshold on |z| (default 3.6)")
      ->check(CLI::PositiveNumber);
  decompose->add_option("--hooks", f.ica.hooks,
                        "Hook points (names or globs) to decompose, each on "
                        "its own; default every captured one");
  decompose->add_flag("--joint", f.ica.joint,
                      "Decompose the selected hook points together");
  decompose
      ->add_option("--scope", f.ica.scope,
                   "group|run: each run (a corpus's group) on its own, as "
                   "Liu et al. do (default); experiment: every run's time "
                   "points concatenated, one decomposition")
      ->check(CLI::IsMember({"group", "run", "experiment"}, CLI::ignore_case));
  decompose
      ->add_option("--restarts", f.ica.restarts,
                   "ICASSO restarts (stability indices need 2 or more)")
      ->check(CLI::Range(1, 100));
  decompose->add_option("--seed", f.ica.seed,
                        "Seed (default the spec's generation seed)");
  decompose->add_option("--hook", f.ica.hook,
                        "List only this hook point's components");
  decompose->add_option("--top", f.ica.top, "Units listed per component")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  decompose->add_flag("--watch", f.ica.watch,
                      "Show the decomposition's progress");
  auto* recurrence = AddClientCommand(
      app, "recurrence",
      "ICA networks that recur across groups (runs): components matched by "
      "Jaccard overlap (Hungarian), each with its frequency and units",
      true, true, [this, ica](ExperimentClient& c) {
        flags_->recurrence.experiment_id = flags_->id;
        return ica(c).Recurrence(flags_->recurrence);
      });
  recurrence
      ->add_option("--min-jaccard", f.recurrence.min_jaccard,
                   "Jaccard overlap a match needs")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  recurrence
      ->add_option("--min-frequency", f.recurrence.min_frequency,
                   "Only networks in at least this fraction of groups")
      ->check(CLI::Range(0.0, 1.0));
  recurrence->add_option("--hook", f.recurrence.hook, "Only this hook point");
  auto* key = AddClientCommand(
      app, "key-neurons",
      "Key neurons: units of recurring ICA networks in at least a fraction "
      "of the groups (--json: a list of unit names)",
      true, true, [this, ica](ExperimentClient& c) {
        return ica(c).KeyNeurons(flags_->id, flags_->min_frequency);
      });
  key->add_option("--min-frequency", f.min_frequency,
                  "Fraction of groups a unit must recur in")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
}

void Cli::AddOutputCommands(CLI::App& app) {
  Flags& f = *flags_;
  auto* report = AddClientCommand(
      app, "report",
      "Plain-text summary: network sizes by layer, overlap, repeatability, "
      "held-out accuracy; with --html, a self-contained HTML page of charts",
      true, true, [this](ExperimentClient& c) -> absl::Status {
        if (!flags_->html_path.empty()) return WriteHtml(c);
        FNPROBE_ASSIGN_OR_RETURN(auto report,
                                 FetchExperimentReport(c, flags_->id));
        if (flags_->json) return PrintExperimentReportJson(report, out_);
        PrintExperimentReport(report, out_);
        return absl::OkStatus();
      });
  auto* html = report->add_option(
      "--html", f.html_path,
      "Write the report as one HTML file (charts drawn with Vega-Lite, "
      "inlined: it opens without network access)");
  report->add_flag("--open", f.open_html, "Open the HTML file in a browser")
      ->needs(html);
  auto* exporter = AddClientCommand(
      app, "export",
      "Write t-maps, networks, events.tsv and layout.json to a directory", true,
      false, [this](ExperimentClient& c) -> absl::Status {
        ExportOptions options;
        options.experiment_id = flags_->id;
        options.format = *ParseExportFormat(flags_->export_format);
        options.out_dir = flags_->export_dir;
        options.runs = flags_->export_runs;
        if (!flags_->plots_dir.empty()) FNPROBE_RETURN_IF_ERROR(WritePlots(c));
        if (flags_->export_dir.empty()) return absl::OkStatus();
        return ExperimentExporter(c, out_).Export(options).status();
      });
  exporter->add_option("--format", f.export_format, "csv|json|npy")
      ->check(CLI::IsMember({"csv", "json", "npy"}, CLI::ignore_case))
      ->capture_default_str();
  auto* out_dir =
      exporter->add_option("--out", f.export_dir, "Directory (created)");
  exporter->add_option(
      "--plots", f.plots_dir,
      "Write each chart of the HTML report to this directory "
      "(created) as Vega-Lite JSON and SVG; the SVGs need node "
      "(Node.js) on PATH");
  exporter->callback([exporter, out_dir] {
    if (out_dir->count() == 0 && exporter->get_option("--plots")->count() == 0)
      throw CLI::RequiredError("--out or --plots");
  });
  exporter->add_flag("--runs", f.export_runs, "Also each run's t-map");
  auto* demo = AddCommand(
      app, "demo",
      "Run the whole pipeline on a tiny planted-response model: start "
      "fnprobe-inference and fnprobe-worker, submit the example spec, "
      "report, export, compare with the planted truth, stop",
      [this] {
        CommandOutput output{&out_, &err_, false, env_.stdout_is_tty()};
        return DemoRunner(env_, output).Run(flags_->demo);
      });
  demo->add_option("--work-dir", f.demo.work_dir,
                   "Model, logs, database and exports go here")
      ->capture_default_str();
  demo->add_option(
      "--spec", f.demo.spec_path,
      "Experiment spec (default: " + DemoRunner::DefaultDemoSpecPath() + ")");
  demo->add_option("--bin-dir", f.demo.bin_dir,
                   "Directory of fnprobe-make-model, fnprobe-inference and "
                   "fnprobe-worker (default: next to fnprobe, then the "
                   "build tree)");
  demo->add_flag("--keep", f.demo.keep,
                 "Leave the servers running after the report, until Ctrl-C");
}

absl::Status Cli::WriteHtml(ExperimentClient& client) {
  FNPROBE_ASSIGN_OR_RETURN(
      int charts,
      report::FetchAndWriteHtmlReport(client, flags_->id, flags_->html_path));
  out_ << "wrote " << flags_->html_path << " (" << charts << " charts)\n";
  if (flags_->open_html) return report::OpenInBrowser(flags_->html_path);
  return absl::OkStatus();
}

absl::Status Cli::WritePlots(ExperimentClient& client) {
  FNPROBE_ASSIGN_OR_RETURN(report::ReportData data,
                           report::FetchReportData(client, flags_->id));
  FNPROBE_ASSIGN_OR_RETURN(auto files,
                           report::WritePlots(data, flags_->plots_dir));
  out_ << "wrote " << files.size() << " chart files to " << flags_->plots_dir
       << "\n";
  return absl::OkStatus();
}

int Cli::Finish(const absl::Status& status) {
  out_.flush();
  if (status.ok()) return kExitOk;
  ErrorContext context;
  context.server = settings_.server;
  context.server_source = settings_.server_source;
  context.tls = !settings_.ca_cert.empty();
  context.call_timeout_s = settings_.call_timeout_s;
  ErrorReport report = DescribeError(status, context);
  PrintErrorReport(report, err_);
  return report.exit_code;
}

int Cli::Run(int argc, const char* const* argv) {
  CLI::App app(kDescription, "fnprobe");
  app.footer(kFooter);
  app.require_subcommand(1);
  app.fallthrough();
  app.failure_message(FailureMessage);
  AddGlobalOptions(app);
  AddExperimentCommands(app);
  AddResultCommands(app);
  AddIcaCommands(app);
  AddOutputCommands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e, out_, err_);
    return code == 0 ? kExitOk : kExitUsage;
  }
  settings_.server = flags_->connection.server.empty()
                         ? kDefaultServer
                         : flags_->connection.server;
  for (const CLI::App* sub : app.get_subcommands()) {
    return Finish(actions_.at(sub)());
  }
  return kExitUsage;  // require_subcommand(1) makes this unreachable
}

}  // namespace fnprobe::client
