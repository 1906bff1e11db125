// Masking runs' cost (issue 15): one run of a masking experiment scores a
// batch of texts under the network's intervention and under each of its 10
// random controls' (masking_runner.h). Sent together, the 11 Forward
// streams share the inference server's forward steps; this prints their
// wall time beside one masked Forward alone and beside the 11 sent one at a
// time.
//
// Target (issue): the network and 10 controls batched cost at most 3x one
// masked run. That needs a device with compute to spare for the extra
// sequences (a GPU): on CPU cores a forward step costs in proportion to its
// tokens, and batching saves only per-step overhead.
//
// In process, on loopback. Model: FNPROBE_BENCH_MODEL_DIR when set (e.g.
// the galactica-125m shape of the other benchmarks), else a tiny model made
// in a temporary directory; FNPROBE_BENCH_DEVICE (default auto). Texts:
// FNPROBE_MASKING_BENCH_TEXTS (default 8) of 24 words; repetitions:
// FNPROBE_MASKING_BENCH_REPS (default 5), the median is printed.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "fnprobe/v1/inference.grpc.pb.h"
#include "server/analysis/masking_spec.h"
#include "server/analysis/worker/masking_runner.h"
#include "server/inference/serving/inference_server.h"
#include "server/inference/tools/model_maker.h"
#include "tests/bench/bench_model.h"

namespace fnprobe {
namespace {

std::string ModelDir() {
  const char* dir = std::getenv("FNPROBE_BENCH_MODEL_DIR");
  if (dir != nullptr && *dir != '\0') return BenchModelDir();
  const std::string out =
      (std::filesystem::temp_directory_path() / "fnprobe-masking-bench-tiny")
          .string();
  if (!std::filesystem::exists(out + "/config.json")) {
    MakeModelOptions options;
    options.shape = "tiny";
    options.out_dir = out;
    auto made = MakeModel(options);
    if (!made.ok()) {
      std::fprintf(stderr, "%s\n", made.status().ToString().c_str());
      std::exit(1);
    }
  }
  return out;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Run() {
  InferenceServerOptions o;
  o.model_dir = ModelDir();
  o.model.device = BenchDevice();
  auto server = InferenceServer::Start(o);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  auto channel =
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                          grpc::InsecureChannelCredentials());
  auto stub = v1::InferenceService::NewStub(channel);
  const int texts =
      std::atoi(BenchEnv("FNPROBE_MASKING_BENCH_TEXTS", "8").c_str());
  const int reps =
      std::atoi(BenchEnv("FNPROBE_MASKING_BENCH_REPS", "5").c_str());

  // A spec of one network of 8 MLP units, 10 controls, one batch of texts.
  v1::ExperimentSpec spec;
  spec.set_name("bench");
  spec.set_model("bench");
  v1::MaskingSpec* m = spec.mutable_masking();
  m->add_operations(v1::MaskingOperation::ZERO);
  m->set_controls(10);
  m->set_batch_texts(texts);
  v1::MaskingEvaluation* set = m->add_evaluation();
  set->set_name("texts");
  const char* const words[] = {"river",  "stone",  "garden", "window", "candle",
                               "market", "forest", "bridge", "letter"};
  std::mt19937 rng(1);
  for (int i = 0; i < texts; ++i) {
    std::vector<std::string> t;
    for (int w = 0; w < 24; ++w) t.push_back(words[rng() % 9]);
    set->add_texts(absl::StrJoin(t, " "));
  }
  MaskingPlan plan;
  MaskedNetwork network;
  network.name = "network";
  network.units = {{"blocks.0.mlp_post", {1, 5, 9, 13, 17, 21, 25, 29}}};
  // The MLP of every shape the makers write is wider than 64.
  network.controls =
      DrawControls(network.units, {{"blocks.0.mlp_post", 64}}, 10, 1, 0);
  plan.networks.push_back(network);
  plan.runs = PlanMaskingRuns(spec, 1, 10);
  const int masked_run = 1;  // run 0 is the unmasked one
  const MaskingRun& run = plan.runs[masked_run];

  auto attempt = [&](int members) {
    MaskingPlan p = plan;
    p.runs[masked_run].members = members;
    worker::MaskingAttempt a;
    a.spec = &spec;
    a.plan = &p;
    a.run_index = masked_run;
    const absl::Time start = absl::Now();
    auto scores = worker::ExecuteMaskingAttempt(stub.get(), a);
    if (!scores.ok()) {
      std::fprintf(stderr, "%s\n", scores.status().ToString().c_str());
      std::exit(1);
    }
    return absl::ToDoubleSeconds(absl::Now() - start);
  };
  attempt(1);  // warm up
  std::vector<double> one, batched, serial;
  for (int r = 0; r < reps; ++r) {
    one.push_back(attempt(1));
    batched.push_back(attempt(run.members));
    double sum = 0;
    for (int k = 0; k < run.members; ++k) sum += attempt(1);
    serial.push_back(sum);
  }
  const double t1 = Median(one), tb = Median(batched), ts = Median(serial);
  std::printf(
      "masking bench: %d texts x 24 words, network + 10 controls, device %s, "
      "median of %d\n"
      "  one masked run (1 Forward)            %8.1f ms\n"
      "  network + 10 controls, batched        %8.1f ms  (%.2fx one run; "
      "target <= 3x)\n"
      "  network + 10 controls, one at a time  %8.1f ms  (%.2fx one run)\n",
      texts, o.model.device.c_str(), reps, 1e3 * t1, 1e3 * tb, tb / t1,
      1e3 * ts, ts / t1);
  std::printf("  target %s on this device\n", tb <= 3 * t1 ? "met" : "NOT met");
  (*server)->Shutdown(absl::Seconds(1));
  return 0;
}

}  // namespace
}  // namespace fnprobe

int main() { return fnprobe::Run(); }
