// fnprobe-inference throughput on the galactica-125m shape (random weights),
// in process on loopback: 1, 4, 16 and 64 concurrent clients each sending 4
// prompts x 16 tokens with capture `standard` (f16 frames); beside each,
// the engine alone (no gRPC, no encoding) on the same sequences at the
// batch the server runs them at (max_batch_sequences, 64), and the same
// clients served one at a time (what a FIFO service gives); the peak RSS
// of each concurrent run (memory flat from 16 to 64 clients).
//
// Targets (issue 20): 16 and 64 clients >= 90% of the engine's throughput
// at that batch, with memory flat; 16 concurrent clients >= 3x one at a
// time (issue 13's figure, kept for comparison).
//
// Environment: FNPROBE_BENCH_MODEL_DIR (default
// ./bench-models/galactica-125m, made on first use), FNPROBE_BENCH_DEVICE.
// Repetitions: --benchmark_repetitions=N (default 1; medians when N > 1).
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "fnprobe/v1/inference.grpc.pb.h"
#include "server/inference/model/batch_generator.h"
#include "server/inference/model/hook_points.h"
#include "server/inference/model/torch_engine.h"
#include "server/inference/serving/inference_server.h"
#include "tests/bench/bench_model.h"

namespace fnprobe {
namespace {

constexpr int kPromptsPerClient = 4;
constexpr int kTokens = 16;
// The server's batch limit (SchedulerOptions' default): the batch the
// engine-alone figures run at.
const int kMaxBatch = SchedulerOptions().max_batch_sequences;

// Resets the process's peak RSS (VmHWM), so that each run reports its own.
void ResetPeakRss() { std::ofstream("/proc/self/clear_refs") << "5"; }

// The process's peak RSS in MB since the last reset.
double PeakRssMb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return 0;
}

// The 1-minute load average: the machine's load beside every figure.
double LoadAverage() {
  std::ifstream loadavg("/proc/loadavg");
  double load = 0;
  loadavg >> load;
  return load;
}

struct Bench {
  std::unique_ptr<InferenceServer> server;
  std::shared_ptr<grpc::Channel> channel;
};

Bench& Shared() {
  static Bench* bench = [] {
    auto* b = new Bench();
    InferenceServerOptions o;
    o.model_dir = BenchModelDir();
    o.model.device = BenchDevice();
    auto server = InferenceServer::Start(o);
    if (!server.ok()) {
      std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
      std::exit(1);
    }
    b->server = *std::move(server);
    b->channel =
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", b->server->port()),
                            grpc::InsecureChannelCredentials());
    return b;
  }();
  return *bench;
}

v1::GenerateRequest ClientRequest(int client) {
  v1::GenerateRequest r;
  for (int k = 0; k < kPromptsPerClient; ++k) {
    r.add_prompts()->set_text(absl::StrCat("Client ", client, " asks question ",
                                           k,
                                           " about the history of medicine."));
  }
  r.set_tokens_per_prompt(kTokens);
  r.mutable_capture()->add_hooks("standard");
  return r;
}

struct Totals {
  std::atomic<int64_t> tokens{0};
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> errors{0};
};

void RunClient(int client, Totals& totals) {
  auto stub = v1::InferenceService::NewStub(Shared().channel);
  grpc::ClientContext context;
  auto reader = stub->Generate(&context, ClientRequest(client));
  v1::GenerateResponse response;
  while (reader->Read(&response)) {
    if (!response.has_frame()) continue;
    ++totals.tokens;
    totals.bytes += response.frame().values().size();
  }
  if (!reader->Finish().ok()) ++totals.errors;
}

void Report(benchmark::State& state, const Totals& totals) {
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(totals.tokens), benchmark::Counter::kIsRate);
  state.counters["frame_MB_per_s"] =
      benchmark::Counter(totals.bytes / 1e6, benchmark::Counter::kIsRate);
  state.counters["peak_rss_MB"] = PeakRssMb();
  state.counters["load1"] = LoadAverage();
  if (totals.errors > 0) state.SkipWithError("a call failed");
}

// N clients at once, each with 4 prompts.
void BM_Concurrent(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  Totals totals;
  ResetPeakRss();
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([c, &totals] { RunClient(c, totals); });
    }
    for (auto& t : threads) t.join();
  }
  Report(state, totals);
}

// N clients one after another: what a FIFO service gives. One at a time
// the rate does not depend on N, so 16 stands for 64 too.
void BM_Sequential(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  Totals totals;
  ResetPeakRss();
  for (auto _ : state) {
    for (int c = 0; c < clients; ++c) RunClient(c, totals);
  }
  Report(state, totals);
}

// The engine alone on the same sequences as N clients (4 each), run at the
// batch the server runs them at: groups of up to kMaxBatch, one after
// another. No gRPC, no encoding.
void BM_EngineAlone(benchmark::State& state) {
  static std::unique_ptr<Engine> engine = [] {
    ModelOptions options;
    options.device = BenchDevice();
    return NewTorchEngine(*Model::Load(BenchModelDir(), options));
  }();
  const int clients = static_cast<int>(state.range(0));
  const Model& model = Shared().server->model();
  std::vector<Prompt> prompts;
  for (int c = 0; c < clients; ++c) {
    v1::GenerateRequest r = ClientRequest(c);
    for (const auto& p : r.prompts()) {
      prompts.push_back(*model.tokenizer().Encode(p.text()));
    }
  }
  Layout layout = *SelectLayout(model.config(), {"standard"});
  GenerationOptions options;
  options.max_new_tokens = kTokens;
  Totals totals;
  ResetPeakRss();
  for (auto _ : state) {
    for (size_t begin = 0; begin < prompts.size(); begin += kMaxBatch) {
      const size_t end = std::min(prompts.size(), begin + kMaxBatch);
      const std::vector<Prompt> group(prompts.begin() + begin,
                                      prompts.begin() + end);
      absl::Status status = GenerateBatch(
          *engine, group, layout, options, [&](const GeneratedToken& t) {
            ++totals.tokens;
            totals.bytes += 2 * t.values.size();  // as f16
            return absl::OkStatus();
          });
      if (!status.ok()) ++totals.errors;
    }
  }
  Report(state, totals);
}

BENCHMARK(BM_Concurrent)
    ->ArgName("clients")
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Arg(64)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Sequential)
    ->ArgName("clients")
    ->Arg(16)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_EngineAlone)
    ->ArgName("clients")
    ->Arg(1)
    ->Arg(16)
    ->Arg(64)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  // Keeps each run's counters: the median when repeated, else the run.
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      const bool median = run.aggregate_name == "median";
      if (!median && !run.aggregate_name.empty()) continue;
      const std::string name =
          run.run_name.function_name + "/" + run.run_name.args;
      if (!median && medians_.count(name) > 0) continue;
      if (median) medians_.insert(name);
      for (const auto& [counter, value] : run.counters) {
        values_[name + "/" + counter] = value;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  double Get(const std::string& run, const std::string& counter) const {
    auto it = values_.find(run + "/" + counter);
    return it == values_.end() ? 0 : it->second;
  }

  void PrintSummary(double load_before, double load_after) const {
    std::printf(
        "\n== inference server summary (galactica-125m shape, %s, "
        "%d prompts x %d tokens per client, capture standard, f16, "
        "max_batch_sequences %d) ==\n",
        Shared().server->model().device().c_str(), kPromptsPerClient, kTokens,
        kMaxBatch);
    std::printf("machine load (1-min average): %.2f at start, %.2f at end\n",
                load_before, load_after);
    const double fifo = Get("BM_Sequential/clients:16", "tokens_per_s");
    std::printf(
        "clients  seqs  batch  server tok/s  engine tok/s@batch  share  "
        "target  FIFO tok/s  vs FIFO  peak RSS MB  load\n");
    for (int clients : {1, 16, 64}) {
      const std::string n = std::to_string(clients);
      const std::string server = "BM_Concurrent/clients:" + n;
      const double tok = Get(server, "tokens_per_s");
      const double eng = Get("BM_EngineAlone/clients:" + n, "tokens_per_s");
      const int seqs = clients * kPromptsPerClient;
      std::printf(
          "%7d  %4d  %5d  %12.1f  %18.1f  %4.0f%%  %6s  %10.1f  %6.2fx  "
          "%11.0f  %4.1f\n",
          clients, seqs, std::min(seqs, kMaxBatch), tok, eng,
          eng > 0 ? 100 * tok / eng : 0.0, clients == 1 ? "-" : ">=90%", fifo,
          fifo > 0 ? tok / fifo : 0.0, Get(server, "peak_rss_MB"),
          Get(server, "load1"));
    }
    const double rss16 = Get("BM_Concurrent/clients:16", "peak_rss_MB");
    const double rss64 = Get("BM_Concurrent/clients:64", "peak_rss_MB");
    std::printf(
        "memory flat: peak RSS at 64 clients %.0f MB vs 16 clients %.0f MB "
        "(%+.1f%%)\n",
        rss64, rss16, rss16 > 0 ? 100 * (rss64 / rss16 - 1) : 0.0);
    std::printf(
        "FIFO: the 16 clients one at a time (one at a time, the rate does not "
        "depend on how many wait)\n");
    const double c4 = Get("BM_Concurrent/clients:4", "tokens_per_s");
    const double c16 = Get("BM_Concurrent/clients:16", "tokens_per_s");
    std::printf(
        "issue 13 figures: 4 clients %.1f tok/s; 16 concurrent vs one at a "
        "time %.2fx (target >= 3x)\n",
        c4, fifo > 0 ? c16 / fifo : 0.0);
  }

 private:
  std::map<std::string, double> values_;
  std::set<std::string> medians_;
};

}  // namespace
}  // namespace fnprobe

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  fnprobe::Shared();
  // Warm-up round, not timed.
  fnprobe::Totals warm;
  fnprobe::RunClient(0, warm);
  const double load_before = fnprobe::LoadAverage();
  fnprobe::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary(load_before, fnprobe::LoadAverage());
  benchmark::Shutdown();
  return 0;
}
