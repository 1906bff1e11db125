#include "client/demo_runner.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "client/atomic_file.h"
#include "client/experiment_exporter.h"
#include "client/experiment_report.h"
#include "client/experiment_watcher.h"
#include "client/interrupt_handler.h"
#include "client/number_format.h"
#include "client/planted_truth.h"
#include "client/report/report_fetch.h"
#include "client/spec_reader.h"
#include "common/layout_proto.h"
#include "common/status_util.h"

#ifndef FNPROBE_DEMO_SPEC
#define FNPROBE_DEMO_SPEC "client/examples/planted-demo.json"
#endif
#ifndef FNPROBE_DEMO_PLANT
#define FNPROBE_DEMO_PLANT "client/examples/planted-demo.plant.json"
#endif
#ifndef FNPROBE_TOOL_DIRS
#define FNPROBE_TOOL_DIRS ""
#endif

namespace fnprobe::client {
namespace {

namespace fs = std::filesystem;

constexpr int kLogTailLines = 8;

// What the null audit measured on a random tiny model (README, "The null
// audit": null_audit_test, 20 null experiments of 4 conditions, prompt-level
// inference, FDR 0.05). Quoted rather than rerun: it takes minutes.
constexpr char kNullAuditLine[] =
    "on a random model with nothing planted, the null audit (README, "
    "fnprobe-null-audit) finds units in 3 of 80 null condition networks "
    "(0.01% of units) and identifies 63 of 240 held-out runs, chance 60";

bool IsExecutable(const std::string& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec) &&
         (fs::status(path, ec).permissions() & fs::perms::owner_exec) !=
             fs::perms::none;
}

// The last lines of a log file, for errors about a child that died.
std::vector<std::string> LogTail(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (lines.size() > kLogTailLines) {
    lines.erase(lines.begin(), lines.end() - kLogTailLines);
  }
  return lines;
}

absl::Status ChildFailed(const ChildProcess& child, const std::string& what) {
  std::string message =
      absl::StrCat(child.name(), " ", what, "; see ", child.log_path(), ":");
  for (const std::string& line : LogTail(child.log_path())) {
    absl::StrAppend(&message, "\n", line);
  }
  return absl::InternalError(message);
}

std::optional<int> ReadPort(const std::string& path) {
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  int port = 0;
  if (absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) && port > 0) {
    return port;
  }
  return std::nullopt;
}

}  // namespace

DemoRunner::DemoRunner(const Environment& env, const CommandOutput& output)
    : env_(env), output_(output) {}

DemoRunner::~DemoRunner() { StopAll(); }

std::string DemoRunner::DefaultDemoSpecPath() { return FNPROBE_DEMO_SPEC; }

std::string DemoRunner::DefaultDemoPlantPath() { return FNPROBE_DEMO_PLANT; }

std::vector<std::string> DemoRunner::BinarySearchPath(
    const std::string& bin_dir) const {
  if (!bin_dir.empty()) return {bin_dir};
  std::vector<std::string> dirs;
  if (!env_.executable_path().empty()) {
    dirs.push_back(fs::path(env_.executable_path()).parent_path().string());
  }
  for (absl::string_view dir :
       absl::StrSplit(FNPROBE_TOOL_DIRS, ':', absl::SkipEmpty())) {
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) {
      dirs.emplace_back(dir);
    }
  }
  return dirs;
}

absl::StatusOr<std::string> DemoRunner::FindBinary(
    const std::string& name) const {
  const std::vector<std::string> dirs = BinarySearchPath(options_.bin_dir);
  for (const std::string& dir : dirs) {
    const std::string path = (fs::path(dir) / name).string();
    if (IsExecutable(path)) return path;
  }
  return absl::NotFoundError(absl::StrCat(
      "cannot find ", name, " (looked in ", absl::StrJoin(dirs, ", "),
      "); build it, or name its directory with --bin-dir"));
}

std::string DemoRunner::Path(const std::string& name) const {
  return (fs::path(work_dir_) / name).string();
}

std::string DemoRunner::StopAll() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> stopped;
  while (!children_.empty()) {
    ChildProcess& child = *children_.back();
    const int code = child.Stop(absl::Seconds(15));
    stopped.push_back(absl::StrCat(child.name(), " (exit ", code, ")"));
    children_.pop_back();
  }
  return absl::StrJoin(stopped, ", ");
}

absl::Status DemoRunner::EnsureModel() {
  const std::string model_dir = Path("demo-model");
  std::error_code ec;
  // A model without planted.json is an older demo's random model: remade.
  if (fs::exists(fs::path(model_dir) / "planted.json", ec)) {
    *output_.out << "model: reusing " << model_dir << "\n";
    return absl::OkStatus();
  }
  FNPROBE_ASSIGN_OR_RETURN(std::string binary,
                           FindBinary("fnprobe-make-model"));
  *output_.out << "model: making a tiny planted-response model in " << model_dir
               << " (units that respond to the words of "
               << DefaultDemoPlantPath() << "; the truth goes to planted.json)"
               << std::endl;
  FNPROBE_ASSIGN_OR_RETURN(
      auto spawned, ChildProcess::Spawn(
                        binary,
                        {"--shape", "tiny", "--planted", DefaultDemoPlantPath(),
                         "--out", model_dir, "--force"},
                        Path("make-model.log")));
  ChildProcess* maker = Adopt(std::move(spawned));
  std::optional<int> code = maker->Wait(absl::Minutes(10));
  absl::Status status =
      code == 0
          ? absl::OkStatus()
          : ChildFailed(*maker, code ? absl::StrCat("failed (exit ", *code, ")")
                                     : "did not finish in 10 minutes");
  StopAll();  // only the maker runs yet
  return status;
}

ChildProcess* DemoRunner::Adopt(std::unique_ptr<ChildProcess> child) {
  absl::MutexLock lock(&mu_);
  children_.push_back(std::move(child));
  return children_.back().get();
}

absl::StatusOr<std::string> DemoRunner::StartServer(
    const std::string& name, const std::string& short_name,
    std::vector<std::string> args, absl::Duration startup_timeout) {
  FNPROBE_ASSIGN_OR_RETURN(std::string binary, FindBinary(name));
  const std::string port_file = Path(short_name + ".port");
  std::error_code ec;
  fs::remove(port_file, ec);
  args.insert(args.end(),
              {"--listen", "127.0.0.1:0", "--port-file", port_file});
  FNPROBE_ASSIGN_OR_RETURN(
      auto child, ChildProcess::Spawn(binary, args, Path(short_name + ".log")));
  ChildProcess* server = Adopt(std::move(child));
  const absl::Time deadline = absl::Now() + startup_timeout;
  while (absl::Now() < deadline) {
    if (std::optional<int> port = ReadPort(port_file)) {
      return absl::StrCat("127.0.0.1:", *port);
    }
    if (std::optional<int> code = server->Poll()) {
      return ChildFailed(*server,
                         absl::StrCat("exited (code ", *code, ") on start-up"));
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return ChildFailed(*server,
                     absl::StrCat("did not start within ",
                                  absl::FormatDuration(startup_timeout)));
}

absl::StatusOr<int64_t> DemoRunner::SubmitAndWatch(
    ExperimentClient& client, v1::ExperimentSpec spec,
    const std::string& spec_path) {
  FNPROBE_ASSIGN_OR_RETURN(v1::ListModelsResponse models, client.ListModels());
  for (const v1::ServedModel& m : models.models()) {
    if (m.reachable()) {
      spec.set_model(m.info().model());
      break;
    }
  }
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e, client.SubmitExperiment(spec));
  *output_.out << "experiment " << e.id() << ": " << e.name() << " from "
               << spec_path << ", " << e.progress().runs_total() << " runs on "
               << spec.model() << std::endl;
  FNPROBE_RETURN_IF_ERROR(ExperimentWatcher(client, output_).Watch(e.id()));
  return e.id();
}

absl::StatusOr<ExperimentReport> DemoRunner::ReportAndExport(
    ExperimentClient& client, int64_t id) {
  FNPROBE_ASSIGN_OR_RETURN(ExperimentReport report,
                           FetchExperimentReport(client, id));
  *output_.out << "\n";
  PrintExperimentReport(report, *output_.out);
  std::ostringstream quiet;
  ExportOptions options;
  options.experiment_id = id;
  options.out_dir = Path("export");
  FNPROBE_ASSIGN_OR_RETURN(auto files,
                           ExperimentExporter(client, quiet).Export(options));
  *output_.out << "\nexported " << files.size() << " files to "
               << options.out_dir << "\n";
  return report;
}

absl::Status DemoRunner::CompareWithPlantedTruth(
    ExperimentClient& client, const ExperimentReport& report) {
  const std::string planted_path = Path("demo-model/planted.json");
  FNPROBE_ASSIGN_OR_RETURN(PlantedUnits planted,
                           ReadPlantedUnits(planted_path));
  const std::string title =
      "planted truth beside what was found (" + planted_path + ")";
  *output_.out << "\n"
               << title << "\n"
               << std::string(title.size(), '-') << "\n";
  for (const v1::PromptPool& c : report.experiment.spec().conditions()) {
    if (planted.count(c.name()) == 0) {
      *output_.out << "condition " << c.name()
                   << " has no planted units: nothing to compare (the spec's "
                      "conditions are not the planted ones)\n";
      return absl::OkStatus();
    }
  }
  FNPROBE_ASSIGN_OR_RETURN(Layout layout,
                           LayoutFromProto(report.experiment.layout()));
  FNPROBE_ASSIGN_OR_RETURN(FoundUnits found,
                           FetchConditionUnits(client, report));
  const std::vector<PlantedScore> scores = ScorePlanted(planted, layout, found);
  const v1::GetClassificationResponse* classification =
      report.classification ? &*report.classification : nullptr;
  PrintPlantedTruth(scores, classification, *output_.out);
  *output_.out << "null: " << kNullAuditLine << "\n";
  absl::Status check = CheckPlantedTruth(scores, classification);
  *output_.out << (check.ok() ? "recovered: every condition has precision >= "
                              : "NOT recovered: the demo requires precision "
                                ">= ")
               << kPlantedMinPrecision << " and recall >= " << kPlantedMinRecall
               << ", and held-out accuracy >= "
               << FormatPercent(kPlantedMinAccuracy) << "\n";
  return check;
}

void DemoRunner::PrintWhere() const {
  *output_.out << "database: " << Path("data/fnprobe.db")
               << ", activation store: " << Path("data/activations") << "\n"
               << "exports (t-maps, networks.csv, events.tsv): "
               << Path("export") << "\n"
               << "server logs: " << Path("inference.log") << ", "
               << Path("worker.log") << "\n";
}

absl::Status DemoRunner::KeepServing(const std::string& worker_address) {
  keeping_ = true;
  *output_.out << "\nservers left running; try `fnprobe --server "
               << worker_address << " list`. Press Ctrl-C to stop them."
               << std::endl;
  while (true) {
    absl::SleepFor(absl::Milliseconds(500));
    absl::MutexLock lock(&mu_);
    for (auto& child : children_) {
      if (std::optional<int> code = child->Poll()) {
        return ChildFailed(*child, absl::StrCat("exited (code ", *code, ")"));
      }
    }
  }
}

absl::Status DemoRunner::Run(const DemoOptions& options) {
  options_ = options;
  const absl::Time start = absl::Now();
  const std::string spec_path =
      options.spec_path.empty() ? DefaultDemoSpecPath() : options.spec_path;
  FNPROBE_ASSIGN_OR_RETURN(v1::ExperimentSpec spec, ReadSpecFile(spec_path));
  std::error_code ec;
  work_dir_ = fs::absolute(options.work_dir, ec).lexically_normal().string();
  FNPROBE_RETURN_IF_ERROR(CreateDirectories(Path("data")));
  InterruptHandler interrupts([this](int) {
    *output_.log << "\nfnprobe demo: interrupted; stopping the servers"
                 << std::endl;
    StopAll();
    output_.out->flush();
    return keeping_ ? 0 : 130;
  });
  auto stop = absl::MakeCleanup([this] {
    const std::string stopped = StopAll();
    if (!stopped.empty()) *output_.out << "stopped " << stopped << "\n";
  });
  *output_.out << "fnprobe demo in " << work_dir_ << "\n";
  FNPROBE_RETURN_IF_ERROR(EnsureModel());
  FNPROBE_ASSIGN_OR_RETURN(
      std::string inference,
      StartServer("fnprobe-inference", "inference",
                  {"--model-dir", Path("demo-model")}, absl::Minutes(5)));
  *output_.out << "fnprobe-inference on " << inference << "\n";
  FNPROBE_ASSIGN_OR_RETURN(
      std::string worker,
      StartServer("fnprobe-worker", "worker",
                  {"--inference", inference, "--data-dir", Path("data")},
                  absl::Minutes(2)));
  *output_.out << "fnprobe-worker on " << worker << "\n";
  ConnectionSettings settings;
  settings.server = worker;
  settings.server_source = "fnprobe demo";
  settings.connect_timeout_s = 30;
  settings.call_timeout_s = 120;
  FNPROBE_ASSIGN_OR_RETURN(auto client, ExperimentClient::Connect(settings));
  FNPROBE_ASSIGN_OR_RETURN(int64_t id,
                           SubmitAndWatch(*client, std::move(spec), spec_path));
  FNPROBE_ASSIGN_OR_RETURN(ExperimentReport report,
                           ReportAndExport(*client, id));
  const absl::Status truth = CompareWithPlantedTruth(*client, report);
  *output_.out << "\n";
  PrintWhere();
  FNPROBE_ASSIGN_OR_RETURN(int charts, report::FetchAndWriteHtmlReport(
                                           *client, id, Path("report.html")));
  *output_.out << "HTML report (" << charts
               << " charts): " << Path("report.html") << "\n";
  *output_.out << "demo took "
               << FormatDuration(absl::ToDoubleSeconds(absl::Now() - start))
               << "\n";
  FNPROBE_RETURN_IF_ERROR(truth);
  if (options.keep) return KeepServing(worker);
  return absl::OkStatus();
}

}  // namespace fnprobe::client
