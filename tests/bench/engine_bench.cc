// Engine throughput on the galactica-125m shape (random weights made by
// fnprobe-make-model's library), generating with and without capture.
//
// Figures: generated tokens per second for batch 1 and batch 16, with no
// capture, capture `standard` and capture `all`; values captured per token.
// The summary prints each figure beside its baseline and the target:
//   capture `all` costs at most 15% over no capture, `standard` 5%;
//   batch 16 gives at least 4x the tokens per second of batch 1 (set when
//   batch 1 ran at a quarter of its bound; with both near their bounds the
//   ratio cannot pass the bounds' ratio, printed with them);
// the same without capture with batch-invariant products
// (--batch-invariant) beside the default, for their cost; and, measured in
// the same run (hardware_bounds.h), each throughput as a share of what the
// machine allows: batch 1 against read bandwidth / weight bytes, batch 16
// against the BLAS's GEMM rate on the model's shapes / FLOPs per token,
// with Hugging Face's figure for this shape beside batch 1 (issue 20).
//
// Environment: FNPROBE_BENCH_MODEL_DIR (default ./bench-models/galactica-125m,
// made on first use), FNPROBE_BENCH_DEVICE (default auto),
// FNPROBE_BENCH_TOKENS (default 16 generated tokens per prompt),
// FNPROBE_BENCH_DTYPE (compute dtype, default f32; bf16 for half the weight
// bytes), FNPROBE_BENCH_THREADS (ModelOptions::threads, set once at load;
// default 0: every CPU, the BLAS on one thread inside them, cpu_threads.h).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <memory>
#include <string>

#include "common/dtype.h"
#include "server/inference/model/batch_generator.h"
#include "server/inference/model/hook_points.h"
#include "server/inference/model/model.h"
#include "server/inference/model/torch_engine.h"
#include "tests/bench/bench_model.h"
#include "tests/bench/hardware_bounds.h"

namespace fnprobe {
namespace {

std::vector<Prompt> Prompts(const Tokenizer& tokenizer, int n) {
  const char* topics[] = {"the separation of powers", "magnetic resonance",
                          "dinosaur fossils",         "ancient pottery",
                          "tissue biopsies",          "sailing knots",
                          "the water cycle",          "baroque music"};
  std::vector<Prompt> prompts;
  for (int i = 0; i < n; ++i) {
    std::string text = std::string("Tell me about ") + topics[i % 8] + ".";
    prompts.push_back(*tokenizer.Encode(text));
  }
  return prompts;
}

// The model and engine shared by every benchmark.
struct BenchModel {
  std::shared_ptr<const Model> model;
  std::unique_ptr<Engine> engine;
  // The same checkpoint with batch-invariant products (--batch-invariant).
  std::shared_ptr<const Model> invariant_model;
  std::unique_ptr<Engine> invariant_engine;
  Layout all;
  Layout standard;
  int64_t tokens = 16;
};

BenchModel& Shared() {
  static BenchModel* bench = [] {
    auto* b = new BenchModel();
    std::string dir = BenchModelDir();
    ModelOptions options;
    options.device = BenchDevice();
    options.threads = std::atoi(BenchEnv("FNPROBE_BENCH_THREADS", "0").c_str());
    auto dtype = ParseFloatDTypeFlag(BenchEnv("FNPROBE_BENCH_DTYPE", "f32"));
    if (!dtype.ok()) {
      std::fprintf(stderr, "%s\n", dtype.status().ToString().c_str());
      std::exit(1);
    }
    options.dtype = *dtype;
    auto model = Model::Load(dir, options);
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      std::exit(1);
    }
    b->model = *model;
    b->engine = NewTorchEngine(b->model);
    options.batch_invariant = true;
    auto invariant = Model::Load(dir, options);
    if (!invariant.ok()) {
      std::fprintf(stderr, "%s\n", invariant.status().ToString().c_str());
      std::exit(1);
    }
    b->invariant_model = *invariant;
    b->invariant_engine = NewTorchEngine(b->invariant_model);
    b->all = *SelectLayout(b->model->config(), {"all"});
    b->standard = *SelectLayout(b->model->config(), {"standard"});
    b->tokens = std::atoll(BenchEnv("FNPROBE_BENCH_TOKENS", "16").c_str());
    // Warm up allocators and thread pools before anything is timed.
    GenerationOptions warm;
    warm.max_new_tokens = 4;
    (void)GenerateBatch(*b->engine, Prompts(b->model->tokenizer(), 16), b->all,
                        warm,
                        [](const GeneratedToken&) { return absl::OkStatus(); });
    return b;
  }();
  return *bench;
}

void BM_Generate(benchmark::State& state) {
  BenchModel& b = Shared();
  const int batch = static_cast<int>(state.range(0));
  // capture: 0 none, 1 `all`, 2 `standard`.
  const int64_t capture = state.range(1);
  Engine& engine = state.range(2) != 0 ? *b.invariant_engine : *b.engine;
  const Layout layout = capture == 1   ? b.all
                        : capture == 2 ? b.standard
                                       : Layout();
  const std::vector<Prompt> prompts = Prompts(b.model->tokenizer(), batch);
  GenerationOptions options;
  options.max_new_tokens = b.tokens;
  int64_t generated = 0;
  double checksum = 0;
  for (auto _ : state) {
    absl::Status s = GenerateBatch(engine, prompts, layout, options,
                                   [&](const GeneratedToken& t) {
                                     ++generated;
                                     if (!t.values.empty()) {
                                       checksum += t.values[0];
                                     }
                                     return absl::OkStatus();
                                   });
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  }
  benchmark::DoNotOptimize(checksum);
  state.counters["tokens_per_s"] = benchmark::Counter(
      static_cast<double>(generated), benchmark::Counter::kIsRate);
  state.counters["values_per_token"] = static_cast<double>(layout.width());
  state.SetLabel(b.model->device());
}

BENCHMARK(BM_Generate)
    ->ArgNames({"batch", "capture_all", "batch_invariant"})
    ->Args({1, 0, 0})
    ->Args({1, 1, 0})
    ->Args({16, 0, 0})
    ->Args({16, 1, 0})
    ->Args({1, 2, 0})
    ->Args({16, 2, 0})
    ->Args({1, 0, 1})
    ->Args({16, 0, 1})
    ->Iterations(2)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Records the median tokens/s of each benchmark so that the summary can set
// figures side by side.
class SummaryReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      auto it = run.counters.find("tokens_per_s");
      if (it != run.counters.end() && run.aggregate_name == "median") {
        rates_[run.run_name.str()] = it->second;
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void PrintSummary() const {
    auto rate = [&](int batch, int capture, int invariant = 0) {
      std::string key = "BM_Generate/batch:" + std::to_string(batch) +
                        "/capture_all:" + std::to_string(capture) +
                        "/batch_invariant:" + std::to_string(invariant) +
                        "/iterations:2/repeats:5/real_time";
      auto it = rates_.find(key);
      return it == rates_.end() ? 0.0 : it->second;
    };
    std::printf("\n== engine summary (galactica-125m shape, %s, %s) ==\n",
                Shared().model->device().c_str(),
                std::string(DTypeName(Shared().model->dtype())).c_str());
    std::printf("values captured per token with `all`: %lld\n",
                static_cast<long long>(Shared().all.width()));
    for (int batch : {1, 16}) {
      const double none = rate(batch, 0), all = rate(batch, 1);
      std::printf(
          "batch %2d: %8.1f tok/s no capture | %8.1f tok/s capture all | "
          "capture cost %+.1f%% (target <= 15%%)\n",
          batch, none, all, none > 0 ? 100.0 * (none / all - 1.0) : 0.0);
    }
    for (int capture : {0, 1}) {
      const double one = rate(1, capture), sixteen = rate(16, capture);
      std::printf(
          "%s: batch 16 %8.1f tok/s vs batch 1 %8.1f tok/s = %.2fx "
          "(target >= 4x; at most the bounds' ratio, below)\n",
          capture ? "capture all" : "no capture ", sixteen, one,
          one > 0 ? sixteen / one : 0.0);
    }
    for (int batch : {1, 16}) {
      const double none = rate(batch, 0), standard = rate(batch, 2);
      std::printf(
          "batch %2d: %8.1f tok/s capture standard | capture cost %+.1f%% "
          "(target <= 5%%)\n",
          batch, standard, none > 0 ? 100.0 * (none / standard - 1.0) : 0.0);
    }
    for (int batch : {1, 16}) {
      const double plain = rate(batch, 0), invariant = rate(batch, 0, 1);
      std::printf(
          "batch-invariant products, batch %2d: %8.1f tok/s vs %8.1f tok/s "
          "default = %.0f%%\n",
          batch, invariant, plain, plain > 0 ? 100.0 * invariant / plain : 0.0);
    }
    PrintBounds();
  }

  // Each throughput against what this machine allows, measured now.
  void PrintBounds() const {
    const ModelConfig& c = Shared().model->config();
    const std::vector<ProjectionShape> shapes = DecoderProjections(
        c.num_layers, c.hidden_size, c.intermediate_size, c.vocab_size);
    const double weight_bytes =
        static_cast<double>(CheckpointWeightBytes(BenchModelDir()));
    const std::string device = Shared().model->device();
    const double bandwidth = MeasureReadBandwidth();
    const double flops_per_token = FlopsPerToken(shapes);
    std::printf("\n== bounds on this machine (measured in this run) ==\n");
    std::printf(
        "read bandwidth %.1f GB/s over 1 GiB; weights %.2f GB: batch-1 "
        "bound %.1f tok/s\n",
        bandwidth / 1e9, weight_bytes / 1e9, bandwidth / weight_bytes);
    double bounds[2] = {0, 0};
    for (int batch : {1, 16}) {
      const double gemm = MeasureGemmFlops(shapes, batch, device);
      std::printf(
          "GEMM (libtorch mm, the model's projections, %2d rows): %.1f "
          "GFLOP/s; %.0f MFLOP per token: bound %.1f tok/s\n",
          batch, gemm / 1e9, flops_per_token / 1e6, gemm / flops_per_token);
      // The bounds: batch 1 reads every weight once per step
      // (bandwidth / weight bytes); batch 16 is the GEMM rate's. The 1-row
      // GEMM line above shows what the BLAS itself reaches on a
      // matrix-vector product, which may be below the bandwidth bound.
      const double bound =
          batch == 1 ? bandwidth / weight_bytes : gemm / flops_per_token;
      bounds[batch == 1 ? 0 : 1] = bound;
      const auto rate = [&](int capture) {
        std::string key = "BM_Generate/batch:" + std::to_string(batch) +
                          "/capture_all:" + std::to_string(capture) +
                          "/batch_invariant:0/iterations:2/repeats:5/real_time";
        auto it = rates_.find(key);
        return it == rates_.end() ? 0.0 : it->second;
      };
      std::printf(
          "batch %2d decode: %8.1f tok/s = %3.0f%% of the %.1f tok/s bound "
          "(goal: %s); capture standard %8.1f tok/s = %3.0f%%%s\n",
          batch, rate(0), 100 * rate(0) / bound, bound,
          batch == 1 ? ">= 60%, 75%" : ">= 75%, 85%", rate(2),
          100 * rate(2) / bound,
          batch == 1 ? "; Hugging Face (transformers 4.38 eager, same shape, "
                       "this kind of machine): 25.4 tok/s"
                     : "");
    }
    std::printf(
        "bounds' ratio, batch 16 / batch 1: %.2fx (what batch 16 can give "
        "over batch 1 once both reach their bounds)\n",
        bounds[0] > 0 ? bounds[1] / bounds[0] : 0.0);
  }

 private:
  std::map<std::string, double> rates_;
};

}  // namespace

// Decodes `batch` prompts with `capture` (0 none, 1 all, 2 standard) over and
// over for `seconds`, printing tokens/s; nothing else runs after the load.
int ProfileDecode(int batch, int capture, double seconds) {
  BenchModel& b = Shared();
  const Layout layout = capture == 1   ? b.all
                        : capture == 2 ? b.standard
                                       : Layout();
  const std::vector<Prompt> prompts = Prompts(b.model->tokenizer(), batch);
  GenerationOptions options;
  options.max_new_tokens = b.tokens;
  std::fprintf(stderr, "profiling batch %d capture %d ...\n", batch, capture);
  // perf record --control=fifo:CTL -D -1 samples from here on only.
  const std::string control = BenchEnv("FNPROBE_BENCH_PERF_CTL", "");
  if (!control.empty()) {
    if (FILE* f = std::fopen(control.c_str(), "w")) {
      std::fputs("enable\n", f);
      std::fclose(f);
    }
  }
  int64_t generated = 0;
  const auto start = std::chrono::steady_clock::now();
  const std::clock_t cpu_start = std::clock();
  double elapsed = 0;
  while (elapsed < seconds) {
    absl::Status s = GenerateBatch(*b.engine, prompts, layout, options,
                                   [&](const GeneratedToken&) {
                                     ++generated;
                                     return absl::OkStatus();
                                   });
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count();
  }
  // Per CPU-second too: on a machine shared with other work, this process's
  // CPU time is steadier than the wall clock.
  const double cpu =
      static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;
  std::printf(
      "batch %d capture %d: %.1f tok/s over %.1f s; %.1f tok per CPU-second\n",
      batch, capture, generated / elapsed, elapsed, generated / cpu);
  return 0;
}

}  // namespace fnprobe

int main(int argc, char** argv) {
  // FNPROBE_BENCH_PROFILE=BATCH[,CAPTURE]: only decode that batch (capture 0
  // none, 1 all, 2 standard) for FNPROBE_BENCH_PROFILE_SECONDS (default 20)
  // and exit, for a profiler (perf record -g) to see decode alone.
  const std::string profile = fnprobe::BenchEnv("FNPROBE_BENCH_PROFILE", "");
  if (!profile.empty()) {
    return fnprobe::ProfileDecode(
        std::atoi(profile.c_str()),
        profile.find(',') == std::string::npos
            ? 0
            : std::atoi(profile.c_str() + profile.find(',') + 1),
        std::atof(
            fnprobe::BenchEnv("FNPROBE_BENCH_PROFILE_SECONDS", "20").c_str()));
  }
  // Repetitions of the configurations interleaved in random order (unless
  // the command line says otherwise), so that load from other processes
  // falls on the figures compared in the summary alike; medians of 5.
  std::vector<char*> args(argv, argv + argc);
  std::string interleave = "--benchmark_enable_random_interleaving=true";
  bool given = false;
  for (int i = 1; i < argc; ++i) {
    given |= std::string(argv[i]).rfind(
                 "--benchmark_enable_random_interleaving", 0) == 0;
  }
  if (!given) args.push_back(interleave.data());
  argc = static_cast<int>(args.size());
  argv = args.data();
  benchmark::Initialize(&argc, argv);
  fnprobe::SummaryReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  reporter.PrintSummary();
  benchmark::Shutdown();
  return 0;
}
