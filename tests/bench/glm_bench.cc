// GLM fit speed, T = 4000 time points x V units (f32 data, p = 8 design
// columns), against numpy on the same data in the same run:
//   - fnprobe from the activation store: open, visit every chunk (read,
//     checksum, GlmAccumulator::AddRows), fit and a t map; with the file in
//     the page cache ("warm") and evicted from it first ("cold",
//     posix_fadvise DONTNEED after an fsync'd write; the disk may still
//     cache it);
//   - fnprobe in memory: the same from rows already in memory (one AddRows
//     over all T rows), and streaming, one Add per frame as a run produces
//     them;
//   - numpy (Debian's python3-numpy): `pinv(X) @ Y` with residuals, and
//     sufficient statistics (X'Y, sum y^2, then solve), with X float64 as
//     nipy builds it (numpy then widens Y to float64) and, for sufficient
//     statistics, with X float32 as well (no widening).
// Every figure is the median of FNPROBE_GLM_BENCH_REPS runs (numpy's of
// FNPROBE_GLM_BENCH_NUMPY_REPS); the data files are written once per size.
// Also prints the accumulation cost per frame against a generated token's.
//
// Issue target: at least 2x faster than numpy's sufficient statistics; the
// streaming accumulation adds under 5% to a run's wall time.
//
// Environment: FNPROBE_GLM_BENCH_V (default "55296,200000"),
// FNPROBE_GLM_BENCH_DIR (scratch dir for the data files, default /tmp),
// FNPROBE_GLM_BENCH_REPS (default 3), FNPROBE_GLM_BENCH_NUMPY_REPS (default
// 1; 0 skips numpy), FNPROBE_GLM_BENCH_THREADS (GlmAccumulator threads for
// the batch paths, default 0 = one per hardware thread), FNPROBE_TOKEN_MS
// (default 4.9, engine_bench galactica-125m batch 16).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "server/analysis/contrast.h"
#include "server/analysis/glm_accumulator.h"
#include "server/analysis/ols_fit.h"
#include "server/analysis/storage/activation_store.h"
#include "tests/bench/bench_model.h"

namespace fnprobe {
namespace {

constexpr int64_t kT = 4000;
constexpr int kP = 8;

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

int EnvInt(const char* name, const char* dflt) {
  int value = 0;
  return absl::SimpleAtoi(BenchEnv(name, dflt), &value) ? value : 0;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
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

// The T x V data, the only copy in this process: huge-page advised, since
// first-touch faults on 4 KiB pages make filling 3.2 GB take seconds here.
struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
std::unique_ptr<float[], FreeDeleter> AllocateData(int64_t v) {
  constexpr size_t kHuge = size_t{2} << 20;
  const size_t bytes =
      (static_cast<size_t>(kT * v) * 4 + kHuge - 1) / kHuge * kHuge;
  float* p = static_cast<float*>(std::aligned_alloc(kHuge, bytes));
  if (p == nullptr) std::abort();
  madvise(p, bytes, MADV_HUGEPAGE);
  return std::unique_ptr<float[], FreeDeleter>(p);
}

// Noise plus a response in every tenth unit; xorshift for speed.
void FillData(float* y, int64_t v) {
  uint64_t s = 88172645463325252ULL;
  for (int64_t t = 0; t < kT; ++t) {
    const float on = (t / 40) % 2;
    float* row = y + t * v;
    for (int64_t u = 0; u < v; ++u) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      const float noise = (static_cast<float>(s >> 40) / (1 << 24)) - 0.5f;
      row[u] = noise + (u % 10 == 0 ? 0.3f * on : 0.0f);
    }
  }
}

// Drops `path` from the page cache (it was fsync'd, so nothing is dirty).
void EvictFromPageCache(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return;
  fdatasync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

arma::vec FitAndT(const analysis::GlmAccumulator& acc) {
  auto fit = acc.Fit();
  if (!fit.ok()) std::abort();
  arma::vec c(kP, arma::fill::zeros);
  c(1) = 1;
  auto t_map = analysis::TStatistic(*fit, c);
  if (!t_map.ok()) std::abort();
  return *std::move(t_map);
}

struct InMemory {
  double total = 0;  // Create, AddRows, Fit and t.
  double fit = 0;    // Fit and t.
};

// All T rows in memory, one AddRows (and the t map).
InMemory FitInMemory(const arma::mat& x, const float* y, int64_t v, int threads,
                     arma::vec* t_map) {
  InMemory out;
  const auto start = Clock::now();
  auto acc = *analysis::GlmAccumulator::Create(x, v);
  acc.set_num_threads(threads);
  std::vector<int64_t> t(kT);
  for (int64_t i = 0; i < kT; ++i) t[i] = i;
  if (!acc.AddRows(t.data(), y, kT, v).ok()) std::abort();
  const auto fit_start = Clock::now();
  *t_map = FitAndT(acc);
  out.fit = Seconds(fit_start);
  out.total = Seconds(start);
  return out;
}

struct Streaming {
  double total = 0;      // Add of all T frames, seconds.
  double max_frame = 0;  // Slowest single Add (one that folds the stage).
};

// One Add per frame, as a run streams them; the fit is not included.
Streaming StreamFrames(const arma::mat& x, const float* y, int64_t v,
                       int threads) {
  auto acc = *analysis::GlmAccumulator::Create(x, v);
  acc.set_num_threads(threads);
  Streaming out;
  const auto start = Clock::now();
  for (int64_t t = 0; t < kT; ++t) {
    const auto frame = Clock::now();
    if (!acc.Add(t, y + t * v, v).ok()) std::abort();
    out.max_frame = std::max(out.max_frame, Seconds(frame));
  }
  out.total = Seconds(start);
  return out;
}

double FitFromStore(const arma::mat& x, const std::string& path, int64_t v,
                    int threads, arma::vec* t_map) {
  const auto start = Clock::now();
  auto reader = *ActivationReader::Open(path);
  auto acc = *analysis::GlmAccumulator::Create(x, v);
  acc.set_num_threads(threads);
  absl::Status status =
      reader->VisitChunks([&](const ActivationReader::Chunk& chunk) {
        return acc.AddRows(chunk.time_points, chunk.values, chunk.rows, v);
      });
  if (!status.ok()) std::abort();
  *t_map = FitAndT(acc);
  return Seconds(start);
}

// Only reads and checksums the store (VisitChunks with an empty visitor).
double ReadStore(const std::string& path) {
  const auto start = Clock::now();
  auto reader = *ActivationReader::Open(path);
  int64_t rows = 0;
  absl::Status status =
      reader->VisitChunks([&](const ActivationReader::Chunk& chunk) {
        rows += chunk.rows;
        return absl::OkStatus();
      });
  if (!status.ok() || rows != kT) std::abort();
  return Seconds(start);
}

// Runs numpy on the raw files; returns its medians by name (empty on
// failure).
std::map<std::string, double> NumpyTimes(const std::string& dir, int64_t v,
                                         int reps) {
  const std::string script = dir + "/glm_bench_numpy.py";
  std::ofstream(script) << R"(import sys, time, statistics, numpy as np
T, V, d, reps = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
X = np.fromfile(d + "/X.f64", dtype=np.float64).reshape(T, -1)
Y = np.fromfile(d + "/Y.f32", dtype=np.float32).reshape(T, V)

def pinv(X):
    beta = np.linalg.pinv(X) @ Y
    resid = X @ beta
    np.subtract(Y, resid, out=resid)  # Y - X beta without a second T x V.
    rss = np.einsum("ij,ij->j", resid, resid)

def suffstats(X):
    XtY = X.T @ Y
    sy2 = np.einsum("ij,ij->j", Y, Y, dtype=np.float64)
    beta = np.linalg.solve(X.T @ X, XtY)
    rss = sy2 - np.einsum("ij,ij->j", beta, XtY)

for name, f, x in (("pinv_f64", pinv, X), ("suff_f64", suffstats, X),
                   ("suff_f32", suffstats, X.astype(np.float32))):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f(x)
        times.append(time.perf_counter() - t0)
    print(name, statistics.median(times), flush=True)
)";
  // Debian's interpreter, which has python3-numpy (a PATH python may not).
  const std::string python = std::filesystem::exists("/usr/bin/python3")
                                 ? "/usr/bin/python3"
                                 : "python3";
  const std::string cmd = python + " " + script + " " + std::to_string(kT) +
                          " " + std::to_string(v) + " " + dir + " " +
                          std::to_string(reps);
  std::map<std::string, double> out;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[256];
  while (fgets(buf, sizeof(buf), pipe) != nullptr) {
    std::vector<std::string> parts =
        absl::StrSplit(absl::StripTrailingAsciiWhitespace(buf), ' ');
    double seconds = 0;
    if (parts.size() == 2 && absl::SimpleAtod(parts[1], &seconds)) {
      out[parts[0]] = seconds;
    }
  }
  pclose(pipe);
  return out;
}

void RunOne(int64_t v, const std::string& scratch) {
  const int reps = std::max(1, EnvInt("FNPROBE_GLM_BENCH_REPS", "3"));
  const int numpy_reps = EnvInt("FNPROBE_GLM_BENCH_NUMPY_REPS", "1");
  const int threads = EnvInt("FNPROBE_GLM_BENCH_THREADS", "0");
  const double token_ms =
      std::atof(BenchEnv("FNPROBE_TOKEN_MS", "4.9").c_str());
  const std::string dir = scratch + "/fnprobe_glm_bench_" +
                          std::to_string(getpid()) + "_" + std::to_string(v);
  std::filesystem::create_directories(dir);
  const std::string store = dir + "/run.fnpact";
  const arma::mat x = Design();

  // The data, written once: raw files for numpy, the activation store.
  auto y = AllocateData(v);
  FillData(y.get(), v);
  if (numpy_reps > 0) {
    std::ofstream(dir + "/Y.f32", std::ios::binary)
        .write(reinterpret_cast<const char*>(y.get()), kT * v * 4);
    std::ofstream(dir + "/X.f64", std::ios::binary)
        .write(reinterpret_cast<const char*>(arma::mat(x.t()).memptr()),
               x.n_elem * 8);  // row-major
  }
  {
    ActivationWriterOptions wo;
    wo.dtype = DType::kF32;
    wo.sync = true;
    auto writer = *ActivationWriter::Create(store, v, wo);
    for (int64_t t = 0; t < kT; ++t) {
      if (!writer->Append(t, y.get() + t * v).ok()) std::abort();
    }
    if (!writer->Finish().ok()) std::abort();
  }

  std::vector<double> mem, mem_fit, store_warm, store_cold, read_only, stream1,
      stream_n, max1, max_n;
  arma::vec t_mem, t_store;
  for (int i = 0; i < reps; ++i) {
    const InMemory m = FitInMemory(x, y.get(), v, threads, &t_mem);
    mem.push_back(m.total);
    mem_fit.push_back(m.fit);
    Streaming s1 = StreamFrames(x, y.get(), v, 1);
    stream1.push_back(s1.total);
    max1.push_back(s1.max_frame);
    Streaming sn = StreamFrames(x, y.get(), v, threads);
    stream_n.push_back(sn.total);
    max_n.push_back(sn.max_frame);
  }
  // Accuracy: the t map against a float64 batch fit (residuals formed from
  // the data, not from sufficient statistics) of the first units.
  const int64_t check_units = std::min<int64_t>(v, 2000);
  double t_error = NAN;
  {
    arma::mat ys(kT, check_units);
    for (int64_t t = 0; t < kT; ++t) {
      for (int64_t u = 0; u < check_units; ++u) ys(t, u) = y[t * v + u];
    }
    auto batch = analysis::FitOls(x, ys);
    arma::vec c(kP, arma::fill::zeros);
    c(1) = 1;
    if (batch.ok()) {
      auto want = analysis::TStatistic(*batch, c);
      if (want.ok()) {
        const arma::vec got = t_mem.head(check_units);
        t_error = arma::max(arma::abs(got - *want) /
                            arma::clamp(arma::abs(*want), 1e-12, 1e300));
      }
    }
  }
  y.reset();  // The store and numpy's files hold the data from here on.
  for (int i = 0; i < reps; ++i) {
    EvictFromPageCache(store);
    store_cold.push_back(FitFromStore(x, store, v, threads, &t_store));
    store_warm.push_back(FitFromStore(x, store, v, threads, &t_store));
    read_only.push_back(ReadStore(store));
  }
  const double same = arma::abs(t_mem - t_store).max();
  std::map<std::string, double> np;
  if (numpy_reps > 0) np = NumpyTimes(dir, v, numpy_reps);
  std::filesystem::remove_all(dir);

  auto numpy = [&](const char* key) {
    auto it = np.find(key);
    return it == np.end() ? NAN : it->second;
  };
  const double suff = numpy("suff_f64");
  const double suff32 = numpy("suff_f32");
  std::printf(
      "T=%lld V=%lld p=%d, f32 data %.2f GB; medians of %d (numpy %d); "
      "load average %s\n",
      static_cast<long long>(kT), static_cast<long long>(v), kP,
      kT * v * 4 / 1e9, reps, numpy_reps, LoadAverage().c_str());
  std::printf("  %-46s %8s %12s %12s\n", "", "seconds", "numpy suff /",
              "numpy suff32 /");
  auto row = [&](const char* name, double s) {
    std::printf("  %-46s %8.3f %11.2fx %11.2fx\n", name, s, suff / s,
                suff32 / s);
  };
  row("fnprobe from store, page cache warm", Median(store_warm));
  row("fnprobe from store, evicted (cold-ish)", Median(store_cold));
  row("  of which: read + checksum only (warm)", Median(read_only));
  row("fnprobe in memory (AddRows, fit, t)", Median(mem));
  row("  of which: fit + t map", Median(mem_fit));
  row("fnprobe streaming Add x T, 1 thread (no fit)", Median(stream1));
  row("numpy pinv(X) @ Y + residuals (X f64)", numpy("pinv_f64"));
  row("numpy sufficient statistics (X f64)", suff);
  row("numpy sufficient statistics (X f32)", suff32);
  std::printf(
      "  t maps from store and memory differ by %.3g at most; against a "
      "float64 batch OLS (first %lld units) by %.2g relative at most\n",
      same, static_cast<long long>(check_units), t_error);
  const double us1 = 1e6 * Median(stream1) / kT;
  const double usn = 1e6 * Median(stream_n) / kT;
  std::printf(
      "  accumulation per frame: %.1f us on 1 thread (slowest frame %.2f ms, "
      "one that folds the stage), %.1f us with FNPROBE_GLM_BENCH_THREADS=%d "
      "(slowest %.2f ms)\n"
      "  = %.2f%% / %.2f%% of a generated token's %.1f ms (engine_bench, "
      "galactica-125m, batch 16; target < 5%%)\n",
      us1, 1e3 * Median(max1), usn, threads, 1e3 * Median(max_n),
      100 * us1 / (1e3 * token_ms), 100 * usn / (1e3 * token_ms), token_ms);
  std::fflush(stdout);
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
