// worker_load_bench: the worker's memory under load (issue 13, item 5).
// Makes a random model (tiny by default, or galactica-125m-shaped), starts
// fnprobe-inference and fnprobe-worker on loopback with a tokens file of 4
// users, and
//   1. submits --experiments experiments from the 4 users in batches of
//      --batch, waits for each batch, and prints the idle worker's resident
//      set (VmRSS) after each batch beside its level at start and the
//      150 MB budget;
//   2. submits --concurrent experiments at once (different seeds and
//      prompt orders), then runs each spec again alone, and compares the
//      condition maps (t, beta, p) and network units exactly.
// It is a figure printer, not a pass/fail test; it exits 1 when the budget
// is exceeded, an experiment fails, or results differ.
//
//   build/tests/bench/worker_load_bench [--shape galactica-125m]
//       [--hooks residual] [--worker-flag=--max-concurrent-runs=1]
//       [--inference-flag=--max-batch-sequences=1]
#include <grpcpp/grpcpp.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/status_util.h"
#include "server/analysis/experiment_spec.h"
#include "server/inference/tools/model_maker.h"
#include "tests/e2e/worker_cluster.h"
#include "tests/support/reference_data.h"

namespace fnprobe {
namespace {

using testing::CallContext;
using testing::WorkerCluster;
using testing::WorkerClusterOptions;

constexpr double kBudgetMb = 150.0;

struct Options {
  std::string shape = "tiny";
  std::vector<std::string> hooks;  // empty: the spec's ("standard")
  int tokens_per_prompt = 0;       // 0: the spec's
  int experiments = 64;
  int batch = 16;
  int users = 4;
  int concurrent = 32;
  std::string work_dir;
  std::vector<std::string> worker_flags, inference_flags;
};

std::string Token(int user) {
  return absl::StrFormat("load-bench-token-%02d-0123456789abcdef", user);
}

double Mb(int64_t bytes) { return bytes / (1024.0 * 1024.0); }

absl::StatusOr<v1::ExperimentSpec> BaseSpec(const Options& o) {
  const std::string path = std::string(FNPROBE_SOURCE_DIR) +
                           "/client/examples/nencka2023-small.json";
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  FNPROBE_ASSIGN_OR_RETURN(v1::ExperimentSpec spec,
                           ParseSpecJson(text.str(), path));
  spec.set_model("model");
  if (!o.hooks.empty()) {
    spec.mutable_capture()->clear_hooks();
    for (const std::string& h : o.hooks) spec.mutable_capture()->add_hooks(h);
  }
  if (o.tokens_per_prompt > 0) {
    spec.mutable_generation()->set_tokens_per_prompt(o.tokens_per_prompt);
  }
  return spec;
}

// Experiment `i`: its own seed (the planner's prompt draw and order follow
// it) and name.
v1::ExperimentSpec SpecFor(const v1::ExperimentSpec& base, int i) {
  v1::ExperimentSpec spec = base;
  spec.set_name(absl::StrCat("load-", i));
  spec.mutable_generation()->set_seed(1000 + i);
  return spec;
}

absl::StatusOr<int64_t> Submit(v1::ExperimentService::Stub* stub,
                               const std::string& token,
                               const v1::ExperimentSpec& spec) {
  v1::SubmitExperimentRequest request;
  *request.mutable_spec() = spec;
  v1::Experiment e;
  grpc::Status s =
      stub->SubmitExperiment(CallContext(token).get(), request, &e);
  if (!s.ok()) return ToAbslStatus(s);
  return e.id();
}

absl::Status WaitDone(v1::ExperimentService::Stub* stub,
                      const std::string& token, int64_t id) {
  FNPROBE_ASSIGN_OR_RETURN(
      v1::Experiment e,
      testing::WaitForExperiment(stub, token, id, absl::Minutes(30)));
  if (e.phase() != v1::PHASE_DONE) {
    return absl::InternalError(absl::StrCat("experiment ", id, " ended ",
                                            v1::ExperimentPhase_Name(e.phase()),
                                            ": ", e.error()));
  }
  return absl::OkStatus();
}

// What an experiment's results are compared on: per condition, its map and
// its network's units.
struct Results {
  std::map<std::string, v1::StatMap> maps;
  std::map<std::string, std::vector<int64_t>> units;  // sorted unit indices
};

absl::StatusOr<Results> Fetch(v1::ExperimentService::Stub* stub,
                              const std::string& token, int64_t id) {
  Results r;
  v1::ListNetworksRequest list;
  list.set_experiment_id(id);
  v1::ListNetworksResponse networks;
  grpc::Status s =
      stub->ListNetworks(CallContext(token).get(), list, &networks);
  if (!s.ok()) return ToAbslStatus(s);
  for (const v1::NetworkSummary& n : networks.networks()) {
    v1::GetStatMapRequest get;
    get.set_experiment_id(id);
    get.set_condition(n.condition());
    s = stub->GetStatMap(CallContext(token).get(), get, &r.maps[n.condition()]);
    if (!s.ok()) return ToAbslStatus(s);
    std::vector<int64_t>& units = r.units[n.condition()];
    std::string page;
    do {
      v1::GetNetworkRequest req;
      req.set_network_id(n.id());
      req.set_page_size(10000);
      req.set_page_token(page);
      v1::GetNetworkResponse resp;
      s = stub->GetNetwork(CallContext(token).get(), req, &resp);
      if (!s.ok()) return ToAbslStatus(s);
      for (const v1::NetworkUnit& u : resp.units()) units.push_back(u.unit());
      page = resp.next_page_token();
    } while (!page.empty());
    std::sort(units.begin(), units.end());
  }
  return r;
}

// Counts the values that differ and the largest difference.
struct Diff {
  int64_t values = 0, differ = 0;
  double max_abs = 0;
  void Add(const google::protobuf::RepeatedField<double>& a,
           const google::protobuf::RepeatedField<double>& b) {
    if (a.size() != b.size()) {
      differ += std::max(a.size(), b.size());
      values += std::max(a.size(), b.size());
      max_abs = INFINITY;
      return;
    }
    for (int i = 0; i < a.size(); ++i) {
      ++values;
      if (a[i] == b[i] || (std::isnan(a[i]) && std::isnan(b[i]))) continue;
      ++differ;
      max_abs = std::max(max_abs, std::abs(a[i] - b[i]));
    }
  }
};

// One line per differing experiment; returns whether all were identical.
bool Compare(int i, const Results& together, const Results& alone, Diff& t,
             Diff& beta, Diff& p, int64_t& unit_sets_differ) {
  Diff et, eb, ep;
  int sets = 0;
  if (together.maps.size() != alone.maps.size()) ++sets;
  for (const auto& [condition, map] : alone.maps) {
    auto it = together.maps.find(condition);
    if (it == together.maps.end()) {
      ++sets;
      continue;
    }
    et.Add(it->second.t(), map.t());
    eb.Add(it->second.beta(), map.beta());
    ep.Add(it->second.p(), map.p());
    if (together.units.at(condition) != alone.units.at(condition)) ++sets;
  }
  for (auto [all, one] :
       {std::pair(&t, &et), std::pair(&beta, &eb), std::pair(&p, &ep)}) {
    all->values += one->values;
    all->differ += one->differ;
    all->max_abs = std::max(all->max_abs, one->max_abs);
  }
  unit_sets_differ += sets;
  const bool same =
      et.differ == 0 && eb.differ == 0 && ep.differ == 0 && sets == 0;
  if (!same) {
    std::cout << absl::StrFormat(
        "  experiment %2d differs: t %d of %d (max |d| %.3g), beta %d (max "
        "%.3g), p %d (max %.3g), network unit sets differing %d\n",
        i, et.differ, et.values, et.max_abs, eb.differ, eb.max_abs, ep.differ,
        ep.max_abs, sets);
  }
  return same;
}

// The worker's last "idle: malloc in use ..." log line (ExperimentRunner
// writes one whenever its last job ends), or "".
std::string LastIdleLine(const std::string& log) {
  std::ifstream in(log);
  std::string line, last;
  while (std::getline(in, line)) {
    const size_t at = line.find("idle: malloc");
    if (at != std::string::npos) last = line.substr(at + 6);
  }
  return last;
}

void PrintRss(const std::string& label, int64_t rss, int64_t start,
              const std::string& log) {
  const double grew = Mb(rss - start);
  std::cout << absl::StrFormat(
                   "%-32s RSS %7.1f MB  %+7.1f MB vs start (budget +%.0f MB: "
                   "%s)",
                   label, Mb(rss), grew, kBudgetMb,
                   grew <= kBudgetMb ? "within" : "OVER")
            << std::endl;
  const std::string idle = LastIdleLine(log);
  if (!idle.empty()) std::cout << "    worker: " << idle << std::endl;
}

// Lets the worker settle (its last job ends just after the experiment is
// stored as done) before reading its resident set.
int64_t IdleRss(WorkerCluster& cluster) {
  absl::SleepFor(absl::Seconds(2));
  return cluster.worker()->RssBytes();
}

absl::Status Run(const Options& o) {
  const std::string root = o.work_dir.empty()
                               ? testing::MakeTempDir("worker_load_bench")
                               : o.work_dir;
  MakeModelOptions make;
  make.shape = o.shape;
  make.out_dir = root + "/model";
  make.force = true;
  const absl::Time made = absl::Now();
  FNPROBE_RETURN_IF_ERROR(MakeModel(make).status());
  std::cout << "model " << o.shape << " made in "
            << absl::FormatDuration(absl::Now() - made) << " at "
            << make.out_dir << std::endl;
  FNPROBE_ASSIGN_OR_RETURN(const v1::ExperimentSpec base, BaseSpec(o));

  WorkerClusterOptions c;
  c.dir = root;
  c.model_dir = make.out_dir;
  for (int u = 0; u < o.users; ++u) {
    c.tokens.push_back(absl::StrCat(Token(u), " user", u));
  }
  c.worker_flags = o.worker_flags;
  c.inference_flags = o.inference_flags;
  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<WorkerCluster> cluster,
                           WorkerCluster::Start(c));
  auto stub = cluster->Stub();
  std::cout << "worker pid " << cluster->worker()->pid() << ", log "
            << cluster->worker_log() << std::endl;

  // 1. Batches: idle RSS after each.
  const int64_t start = IdleRss(*cluster);
  PrintRss("idle at start", start, start, cluster->worker_log());
  bool within = true;
  for (int first = 0; first < o.experiments; first += o.batch) {
    const absl::Time t0 = absl::Now();
    std::vector<std::pair<int, int64_t>> ids;  // (user, id)
    for (int i = first; i < std::min(o.experiments, first + o.batch); ++i) {
      const int user = i % o.users;
      FNPROBE_ASSIGN_OR_RETURN(
          int64_t id, Submit(stub.get(), Token(user), SpecFor(base, i)));
      ids.emplace_back(user, id);
    }
    for (const auto& [user, id] : ids) {
      FNPROBE_RETURN_IF_ERROR(WaitDone(stub.get(), Token(user), id));
    }
    const int64_t rss = IdleRss(*cluster);
    within = within && rss - start <= kBudgetMb * 1024 * 1024;
    PrintRss(absl::StrFormat("idle after %d (batch %.1f s)",
                             first + static_cast<int>(ids.size()),
                             absl::ToDoubleSeconds(absl::Now() - t0)),
             rss, start, cluster->worker_log());
  }

  // 2. Concurrent against alone.
  bool identical = true;
  if (o.concurrent > 0) {
    const int offset = o.experiments;  // seeds the batches did not use
    std::vector<int64_t> together(o.concurrent);
    const absl::Time t0 = absl::Now();
    for (int i = 0; i < o.concurrent; ++i) {
      FNPROBE_ASSIGN_OR_RETURN(
          together[i],
          Submit(stub.get(), Token(i % o.users), SpecFor(base, offset + i)));
    }
    for (int i = 0; i < o.concurrent; ++i) {
      FNPROBE_RETURN_IF_ERROR(
          WaitDone(stub.get(), Token(i % o.users), together[i]));
    }
    std::cout << o.concurrent << " concurrent experiments done in "
              << absl::FormatDuration(absl::Now() - t0) << std::endl;
    PrintRss(absl::StrFormat("idle after %d concurrent", o.concurrent),
             IdleRss(*cluster), start, cluster->worker_log());
    Diff t, beta, p;
    int64_t unit_sets_differ = 0;
    int same = 0;
    for (int i = 0; i < o.concurrent; ++i) {
      const std::string& token = Token(i % o.users);
      FNPROBE_ASSIGN_OR_RETURN(
          int64_t alone, Submit(stub.get(), token, SpecFor(base, offset + i)));
      FNPROBE_RETURN_IF_ERROR(WaitDone(stub.get(), token, alone));
      FNPROBE_ASSIGN_OR_RETURN(Results a, Fetch(stub.get(), token, alone));
      FNPROBE_ASSIGN_OR_RETURN(Results b,
                               Fetch(stub.get(), token, together[i]));
      same += Compare(i, b, a, t, beta, p, unit_sets_differ);
    }
    identical = same == o.concurrent;
    std::cout << absl::StrFormat(
                     "concurrent vs alone: %d of %d experiments identical; "
                     "differing values: t %d of %d (max |d| %.3g), beta %d "
                     "(max %.3g), p %d (max %.3g); network unit sets "
                     "differing: %d",
                     same, o.concurrent, t.differ, t.values, t.max_abs,
                     beta.differ, beta.max_abs, p.differ, p.max_abs,
                     unit_sets_differ)
              << std::endl;
    PrintRss("idle at end", IdleRss(*cluster), start, cluster->worker_log());
  }
  cluster->StopWorker();
  if (!within) return absl::ResourceExhaustedError("idle RSS over budget");
  if (!identical) {
    return absl::DataLossError("concurrent results differ from alone");
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace fnprobe

int main(int argc, char** argv) {
  fnprobe::Options o;
  CLI::App app{"fnprobe-worker memory under load (issue 13, item 5)"};
  app.add_option("--shape", o.shape, "tiny or galactica-125m")
      ->capture_default_str();
  app.add_option("--hooks", o.hooks,
                 "capture hooks (default: the spec's, \"standard\")");
  app.add_option("--tokens-per-prompt", o.tokens_per_prompt,
                 "override the spec's tokens per prompt");
  app.add_option("--experiments", o.experiments)->capture_default_str();
  app.add_option("--batch", o.batch)->capture_default_str();
  app.add_option("--users", o.users)
      ->capture_default_str()
      ->check(CLI::Range(1, 99));
  app.add_option("--concurrent", o.concurrent,
                 "experiments submitted at once, then each alone (0: skip)")
      ->capture_default_str();
  app.add_option("--work-dir", o.work_dir, "default: a new temporary dir");
  app.add_option("--worker-flag", o.worker_flags,
                 "extra fnprobe-worker flag (repeat)");
  app.add_option("--inference-flag", o.inference_flags,
                 "extra fnprobe-inference flag (repeat)");
  CLI11_PARSE(app, argc, argv);
  absl::Status s = fnprobe::Run(o);
  if (!s.ok()) {
    std::cerr << "worker_load_bench: " << s << std::endl;
    return 1;
  }
  return 0;
}
