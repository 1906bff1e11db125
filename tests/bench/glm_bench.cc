// GLM fit speed, T = 4000 time points x V units (f32 data, p = 8 design
// columns), against numpy on the same data in the same run:
//   - fnprobe: streaming accumulation (X'Y, sum y^2 per row as frames
//     arrive), then the fit and a t map; once from rows in memory and once
//     read back from the activation store;
//   - numpy (python3-numpy): `pinv(X) @ Y` with residuals, and sufficient
//     statistics (X'Y, sum y^2, then solve).
// Also prints the accumulation cost per frame.
//
// Issue target: at least 2x faster than numpy's sufficient statistics; the
// streaming accumulation adds under 5% to a run's wall time.
//
// Environment: FNPROBE_GLM_BENCH_V (default "55296,200000"),
// FNPROBE_GLM_BENCH_DIR (scratch dir for the data files, default /tmp).
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "server/analysis/contrast.h"
#include "server/analysis/glm_accumulator.h"
#include "server/analysis/storage/activation_store.h"
#include "tests/bench/bench_model.h"

namespace fnprobe {
namespace {

constexpr int64_t kT = 4000;
constexpr int kP = 8;

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

// Intercept, a 40-point on/off boxcar, six cosine drifts.
arma::mat Design() {
  arma::mat x(kT, kP);
  for (int64_t t = 0; t < kT; ++t) {
    x(t, 0) = 1;
    x(t, 1) = (t / 40) % 2;
    for (int k = 1; k <= 6; ++k) {
      x(t, 1 + k) = std::cos(M_PI * k * (t + 0.5) / kT);
    }
  }
  return x;
}

// Noise plus a response in every tenth unit; xorshift for speed.
void FillData(std::vector<float>& y, int64_t v) {
  uint64_t s = 88172645463325252ULL;
  for (int64_t t = 0; t < kT; ++t) {
    const float on = (t / 40) % 2;
    float* row = y.data() + t * v;
    for (int64_t u = 0; u < v; ++u) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      const float noise = (static_cast<float>(s >> 40) / (1 << 24)) - 0.5f;
      row[u] = noise + (u % 10 == 0 ? 0.3f * on : 0.0f);
    }
  }
}

struct FnprobeTimes {
  double accumulate = 0, fit = 0;
};

FnprobeTimes FitFromRows(const arma::mat& x, const float* rows, int64_t v) {
  FnprobeTimes out;
  auto acc = *analysis::GlmAccumulator::Create(x, v);
  auto start = std::chrono::steady_clock::now();
  for (int64_t t = 0; t < kT; ++t) (void)acc.Add(t, rows + t * v, v);
  out.accumulate = Seconds(start);
  start = std::chrono::steady_clock::now();
  auto fit = *acc.Fit();
  arma::vec c(kP, arma::fill::zeros);
  c(1) = 1;
  auto t_map = *analysis::TStatistic(fit, c);
  out.fit = Seconds(start);
  if (t_map.n_elem != static_cast<arma::uword>(v)) std::abort();
  return out;
}

double FitFromStore(const arma::mat& x, const std::string& path, int64_t v) {
  auto start = std::chrono::steady_clock::now();
  auto reader = *ActivationReader::Open(path);
  auto acc = *analysis::GlmAccumulator::Create(x, v);
  (void)reader->VisitChunks([&](const ActivationReader::Chunk& chunk) {
    for (int64_t r = 0; r < chunk.rows; ++r) {
      (void)acc.Add(chunk.time_points[r], chunk.values + r * v, v);
    }
    return absl::OkStatus();
  });
  auto fit = *acc.Fit();
  arma::vec c(kP, arma::fill::zeros);
  c(1) = 1;
  (void)*analysis::TStatistic(fit, c);
  return Seconds(start);
}

// Runs numpy on the raw files; returns "pinv_s suffstats_s" or empty.
std::string NumpyTimes(const std::string& dir, int64_t v) {
  const std::string script = dir + "/glm_bench_numpy.py";
  std::ofstream(script) << R"(import sys, time, numpy as np
T, V, d = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
X = np.fromfile(d + "/X.f64", dtype=np.float64).reshape(T, -1)
Y = np.fromfile(d + "/Y.f32", dtype=np.float32).reshape(T, V)
t0 = time.perf_counter()
beta = np.linalg.pinv(X) @ Y
resid = Y - X @ beta
rss = np.einsum("ij,ij->j", resid, resid)
t1 = time.perf_counter()
XtY = X.T @ Y
sy2 = np.einsum("ij,ij->j", Y, Y, dtype=np.float64)
beta2 = np.linalg.solve(X.T @ X, XtY)
rss2 = sy2 - np.einsum("ij,ij->j", beta2, XtY)
t2 = time.perf_counter()
print(t1 - t0, t2 - t1)
)";
  // Debian's interpreter, which has python3-numpy (a PATH python may not).
  const std::string python = std::filesystem::exists("/usr/bin/python3")
                                 ? "/usr/bin/python3"
                                 : "python3";
  const std::string cmd = python + " " + script + " " + std::to_string(kT) +
                          " " + std::to_string(v) + " " + dir;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return "";
  char buf[256] = {0};
  std::string out = fgets(buf, sizeof(buf), pipe) ? buf : "";
  pclose(pipe);
  return out;
}

void RunOne(int64_t v, const std::string& scratch) {
  const std::string dir = scratch + "/fnprobe_glm_bench_" +
                          std::to_string(getpid()) + "_" + std::to_string(v);
  std::filesystem::create_directories(dir);
  const arma::mat x = Design();
  std::vector<float> y(static_cast<size_t>(kT * v));
  FillData(y, v);
  std::ofstream(dir + "/Y.f32", std::ios::binary)
      .write(reinterpret_cast<const char*>(y.data()), y.size() * 4);
  std::ofstream(dir + "/X.f64", std::ios::binary)
      .write(reinterpret_cast<const char*>(arma::mat(x.t()).memptr()),
             x.n_elem * 8);  // row-major
  ActivationWriterOptions wo;
  wo.dtype = DType::kF32;
  wo.sync = false;
  auto writer = *ActivationWriter::Create(dir + "/run.fnpact", v, wo);
  for (int64_t t = 0; t < kT; ++t) (void)writer->Append(t, y.data() + t * v);
  (void)writer->Finish();

  FnprobeTimes mem = FitFromRows(x, y.data(), v);
  const double store = FitFromStore(x, dir + "/run.fnpact", v);
  y.clear();
  y.shrink_to_fit();
  double np_pinv = 0, np_suff = 0;
  std::string numpy = NumpyTimes(dir, v);
  std::vector<std::string> parts = absl::StrSplit(numpy, ' ');
  if (parts.size() == 2) {
    (void)absl::SimpleAtod(parts[0], &np_pinv);
    (void)absl::SimpleAtod(absl::StripTrailingAsciiWhitespace(parts[1]),
                           &np_suff);
  }
  std::filesystem::remove_all(dir);
  const double ours = mem.accumulate + mem.fit;
  std::printf(
      "T=%lld V=%lld p=%d (f32, %.2f GB)\n"
      "  fnprobe, rows in memory : %6.3f s (accumulate %.3f s = %.1f us/frame, "
      "fit + t %.3f s)\n"
      "  fnprobe, activation store: %6.3f s (read + accumulate + fit)\n"
      "  numpy pinv(X) @ Y + resid: %6.3f s -> fnprobe %.2fx faster\n"
      "  numpy sufficient stats   : %6.3f s -> fnprobe %.2fx faster "
      "(target >= 2x), from store %.2fx\n",
      static_cast<long long>(kT), static_cast<long long>(v), kP,
      kT * v * 4 / 1e9, ours, mem.accumulate, 1e6 * mem.accumulate / kT,
      mem.fit, store, np_pinv, np_pinv / ours, np_suff, np_suff / ours,
      np_suff / store);
  const double token_ms =
      std::atof(BenchEnv("FNPROBE_TOKEN_MS", "4.9").c_str());
  std::printf(
      "  accumulation per frame %.1f us = %.1f%% of a generated token's %.1f "
      "ms (engine_bench, galactica-125m, batch 16; target < 5%%)\n",
      1e6 * mem.accumulate / kT, 100 * (1e3 * mem.accumulate / kT) / token_ms,
      token_ms);
}

}  // namespace
}  // namespace fnprobe

int main() {
  const std::string sizes =
      fnprobe::BenchEnv("FNPROBE_GLM_BENCH_V", "55296,200000");
  const std::string scratch =
      fnprobe::BenchEnv("FNPROBE_GLM_BENCH_DIR", "/tmp");
  for (absl::string_view s : absl::StrSplit(sizes, ',')) {
    int64_t v = 0;
    if (absl::SimpleAtoi(s, &v) && v > 0) fnprobe::RunOne(v, scratch);
  }
  return 0;
}
