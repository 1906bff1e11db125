// fnprobe-inference throughput on the galactica-125m shape (random weights),
// in process on loopback: 1, 4 and 16 concurrent clients each sending 4
// prompts x 16 tokens with capture `standard` (f16 frames), against the same
// 16 clients served one at a time, and against the engine alone running the
// same 64 sequences as one batch (no gRPC, no encoding).
//
// Targets (issue): 16 concurrent clients get >= 3x the aggregate tokens/s of
// serving them one at a time; frame encoding and transport add <= 10% over
// the engine alone.
//
// Environment: FNPROBE_BENCH_MODEL_DIR (default
// ./bench-models/galactica-125m, made on first use), FNPROBE_BENCH_DEVICE.
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <map>
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
  if (totals.errors > 0) state.SkipWithError("a call failed");
}

// N clients at once, each with 4 prompts.
void BM_Concurrent(benchmark::State& state) {
  const int clients = static_cast<int>(state.range(0));
  Totals totals;
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([c, &totals] { RunClient(c, totals); });
    }
    for (auto& t : threads) t.join();
  }
  Report(state, totals);
}

// The same 16 clients, one after another.
void BM_Sequential16(benchmark::State& state) {
  Totals totals;
  for (auto _ : state) {
    for (int c = 0; c < 16; ++c) RunClient(c, totals);
  }
  Report(state, totals);
}

// The engine alone on the same 64 sequences in one batch, no gRPC.
void BM_EngineAlone64(benchmark::State& state) {
  static std::unique_ptr<Engine> engine = [] {
    ModelOptions options;
    options.device = BenchDevice();
    return NewTorchEngine(*Model::Load(BenchModelDir(), options));
  }();
  const Model& model = Shared().server->model();
  std::vector<Prompt> prompts;
  for (int c = 0; c < 16; ++c) {
    v1::GenerateRequest r = ClientRequest(c);
    for (const auto& p : r.prompts()) {
      prompts.push_back(*model.tokenizer().Encode(p.text()));
    }
  }
  Layout layout = *SelectLayout(model.config(), {"standard"});
  GenerationOptions options;
  options.max_new_tokens = kTokens;
  Totals totals;
  for (auto _ : state) {
    (void)GenerateBatch(*engine, prompts, layout, options,
                        [&](const GeneratedToken& t) {
                          ++totals.tokens;
                          totals.bytes += 2 * t.values.size();  // as f16
                          return absl::OkStatus();
                        });
  }
  Report(state, totals);
}

BENCHMARK(BM_Concurrent)
    ->ArgName("clients")
    ->Arg(1)
    ->Arg(4)
    ->Arg(16)
    ->Iterations(1)
    ->Repetitions(2)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_Sequential16)
    ->Iterations(1)
    ->Repetitions(2)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_EngineAlone64)
    ->Iterations(1)
    ->Repetitions(2)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.aggregate_name != "median") continue;
      for (const char* c : {"tokens_per_s", "frame_MB_per_s"}) {
        auto it = run.counters.find(c);
        if (it != run.counters.end()) {
          values_[run.run_name.function_name + "/" + run.run_name.args + "/" +
                  c] = it->second;
        }
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  double Get(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? 0 : it->second;
  }

  void PrintSummary() const {
    std::printf(
        "\n== inference server summary (galactica-125m shape, %s, "
        "%d prompts x %d tokens per client, capture standard, f16) ==\n",
        Shared().server->model().device().c_str(), kPromptsPerClient, kTokens);
    for (const char* n : {"1", "4", "16"}) {
      std::printf(
          "%2s concurrent clients: %8.1f tok/s  %8.1f frame MB/s\n", n,
          Get(std::string("BM_Concurrent/clients:") + n + "/tokens_per_s"),
          Get(std::string("BM_Concurrent/clients:") + n + "/frame_MB_per_s"));
    }
    const double c16 = Get("BM_Concurrent/clients:16/tokens_per_s");
    const double seq = Get("BM_Sequential16//tokens_per_s");
    const double eng = Get("BM_EngineAlone64//tokens_per_s");
    std::printf(
        "16 clients one at a time: %8.1f tok/s -> concurrent is %.2fx "
        "(target >= 3x)\n",
        seq, seq > 0 ? c16 / seq : 0.0);
    std::printf(
        "engine alone, same 64 sequences: %8.1f tok/s -> encoding + "
        "transport cost %+.1f%% (target <= 10%%)\n",
        eng, c16 > 0 ? 100.0 * (eng / c16 - 1.0) : 0.0);
  }

 private:
  std::map<std::string, double> values_;
};

}  // namespace
}  // namespace fnprobe

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  fnprobe::Shared();
  // Warm-up round, not timed.
  fnprobe::Totals warm;
  fnprobe::RunClient(0, warm);
  fnprobe::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  benchmark::Shutdown();
  return 0;
}
