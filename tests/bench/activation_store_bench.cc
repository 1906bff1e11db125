// Activation store compression (issue 18): bytes per token raw against
// stored, and write and read throughput with compression off and on, for
// the galactica-125m shape under `standard` capture (blocks.*.{attn_out,
// mlp_post, mlp_out, resid_post}: 12 x (768 + 3072 + 768 + 768) = 64512
// units per token, stored as F16, 64 rows per chunk as the worker writes).
//
// The values are synthetic, not captured: a random-weights checkpoint's
// activations would be no more realistic and cost minutes of CPU here. Each
// unit gets its own scale (log-normal) and offset; attn_out, mlp_out and
// resid_post draw heavy-tailed Student-t(4) values, mlp_post the GELU of a
// Gaussian pre-activation (mostly small negatives and zeros, as GELU makes),
// and every value is rounded to F16 by the writer. Beside the store's
// figures it prints what plain zstd (no byte shuffle) makes of the same
// chunks, the baseline the shuffle is kept against.
//
// Writes use sync = true, as the worker does; reads are VisitChunks (what
// the stored-run fitter does) with the page cache warm.
//
// Environment: FNPROBE_ACT_BENCH_TOKENS (512), FNPROBE_ACT_BENCH_REPS (3),
// FNPROBE_ACT_BENCH_DIR (scratch directory, default /tmp).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "common/half_float.h"
#include "server/analysis/storage/activation_store.h"
#include "server/analysis/storage/chunk_codec.h"
#include "server/inference/model/hook_points.h"
#include "server/inference/model/model_config.h"
#include "tests/bench/bench_model.h"
#include "zstd.h"

namespace fnprobe {
namespace {

constexpr int kRowsPerChunk = 64;

int EnvInt(const char* name, const char* dflt) {
  int value = 0;
  return absl::SimpleAtoi(BenchEnv(name, dflt), &value) ? value : 0;
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

// The `standard` layout of the galactica-125m shape (facebook/galactica-125m's
// dimensions, as fnprobe-make-model --shape galactica-125m writes them).
Layout StandardLayout() {
  const char* kConfig = R"({
    "model_type": "opt", "hidden_size": 768, "num_hidden_layers": 12,
    "num_attention_heads": 12, "ffn_dim": 3072, "vocab_size": 50000,
    "max_position_embeddings": 2048, "activation_function": "gelu",
    "do_layer_norm_before": true, "enable_bias": true,
    "word_embed_proj_dim": 768, "layer_norm_elementwise_affine": true})";
  auto config = ModelConfig::FromJson(kConfig, "galactica-125m config");
  if (!config.ok()) {
    std::fprintf(stderr, "%s\n", config.status().ToString().c_str());
    std::exit(1);
  }
  auto layout = SelectLayout(*config, {"standard"});
  if (!layout.ok()) {
    std::fprintf(stderr, "%s\n", layout.status().ToString().c_str());
    std::exit(1);
  }
  return *layout;
}

// tokens x width float32 values, row-major (see the file comment).
std::vector<float> MakeActivations(const Layout& layout, int64_t tokens) {
  const int64_t width = layout.width();
  std::mt19937 rng(18);
  std::lognormal_distribution<float> log_scale(0.0f, 0.7f);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::student_t_distribution<float> heavy(4.0f);
  std::vector<float> scale(width), offset(width);
  std::vector<bool> gelu(width);
  for (size_t h = 0; h < layout.size(); ++h) {
    const std::string& name = layout.hooks()[h].name;
    const bool is_gelu = absl::EndsWith(name, "mlp_post");
    const float base = is_gelu                              ? 1.0f
                       : absl::EndsWith(name, "resid_post") ? 2.0f
                                                            : 0.4f;
    for (int64_t u = layout.offset(h);
         u < layout.offset(h) + layout.hooks()[h].width; ++u) {
      gelu[u] = is_gelu;
      scale[u] = base * log_scale(rng);
      offset[u] = is_gelu ? -1.0f + 0.5f * normal(rng) : 0.3f * normal(rng);
    }
  }
  std::vector<float> values(static_cast<size_t>(tokens * width));
  for (int64_t t = 0; t < tokens; ++t) {
    float* row = values.data() + t * width;
    for (int64_t u = 0; u < width; ++u) {
      if (gelu[u]) {
        const float x = offset[u] + scale[u] * normal(rng);
        row[u] = 0.5f * x * (1.0f + std::erf(x / std::sqrt(2.0f)));
      } else {
        row[u] = offset[u] + scale[u] * heavy(rng);
      }
    }
  }
  return values;
}

struct Figures {
  uint64_t bytes = 0;
  uint64_t raw_bytes = 0;
  int64_t compressed_chunks = 0;
  int64_t chunks = 0;
  double write_s = 0;
  double read_s = 0;
};

Figures Measure(const std::string& dir, const std::vector<float>& values,
                int64_t tokens, int64_t width, int level, int reps) {
  std::vector<double> writes, reads;
  Figures f;
  for (int rep = 0; rep < reps; ++rep) {
    const std::string path = dir + "/level" + std::to_string(level) + ".fnpact";
    std::filesystem::remove(path);
    ActivationWriterOptions options;
    options.dtype = DType::kF16;
    options.rows_per_chunk = kRowsPerChunk;
    options.compression_level = level;
    auto start = std::chrono::steady_clock::now();
    auto writer = ActivationWriter::Create(path, width, options);
    if (!writer.ok()) std::abort();
    for (int64_t t = 0; t < tokens; ++t) {
      if (!(*writer)->Append(t, values.data() + t * width).ok()) std::abort();
    }
    auto info = (*writer)->Finish();
    if (!info.ok()) std::abort();
    writes.push_back(Seconds(start));
    f.bytes = info->bytes;
    f.raw_bytes = info->raw_bytes;
    f.chunks = info->chunks;
    f.compressed_chunks = info->compressed_chunks;

    start = std::chrono::steady_clock::now();
    auto reader = ActivationReader::Open(path);
    if (!reader.ok()) std::abort();
    double sum = 0;  // Touch the values so that nothing is skipped.
    absl::Status status =
        (*reader)->VisitChunks([&](const ActivationReader::Chunk& c) {
          sum += c.values[0] + c.values[c.rows * width - 1];
          return absl::OkStatus();
        });
    if (!status.ok() || std::isnan(sum)) std::abort();
    reads.push_back(Seconds(start));
    std::filesystem::remove(path);
  }
  f.write_s = Median(writes);
  f.read_s = Median(reads);
  return f;
}

// Plain zstd (level 1, values not shuffled) over the same F16 chunks: the
// fraction of raw it stores, and its compression speed in MB/s.
void PlainZstdBaseline(const std::vector<float>& values, int64_t tokens,
                       int64_t width) {
  const size_t chunk_values = static_cast<size_t>(kRowsPerChunk * width);
  std::vector<uint16_t> halfs(chunk_values);
  std::vector<char> shuffled(chunk_values * 2);
  std::vector<char> out(ZSTD_compressBound(chunk_values * 2));
  uint64_t raw = 0, plain = 0, shuffled_total = 0;
  double plain_s = 0;
  for (int64_t t = 0; t + kRowsPerChunk <= tokens; t += kRowsPerChunk) {
    FloatsToHalf(values.data() + t * width, chunk_values, halfs.data());
    const char* bytes = reinterpret_cast<const char*>(halfs.data());
    const auto start = std::chrono::steady_clock::now();
    plain += ZSTD_compress(out.data(), out.size(), bytes, chunk_values * 2, 1);
    plain_s += Seconds(start);
    ShuffleBytes(bytes, chunk_values, 2, shuffled.data());
    shuffled_total += ZSTD_compress(out.data(), out.size(), shuffled.data(),
                                    chunk_values * 2, 1);
    raw += chunk_values * 2;
  }
  if (raw == 0) return;
  std::printf(
      "baseline, values only, zstd level 1: plain %.3f of raw (%.0f MB/s), "
      "byte-shuffled %.3f of raw\n",
      static_cast<double>(plain) / raw, raw / plain_s / 1e6,
      static_cast<double>(shuffled_total) / raw);
}

void Run() {
  const int64_t tokens =
      std::max(kRowsPerChunk, EnvInt("FNPROBE_ACT_BENCH_TOKENS", "512"));
  const int reps = std::max(1, EnvInt("FNPROBE_ACT_BENCH_REPS", "3"));
  const std::string dir = BenchEnv("FNPROBE_ACT_BENCH_DIR", "/tmp") +
                          "/fnprobe_activation_bench_" +
                          std::to_string(getpid());
  std::filesystem::create_directories(dir);
  const Layout layout = StandardLayout();
  const int64_t width = layout.width();
  std::printf(
      "activation store, galactica-125m shape, standard capture: %zu hooks, "
      "%lld units per token, F16, %d rows per chunk, %lld tokens, median of "
      "%d\n",
      layout.size(), static_cast<long long>(width), kRowsPerChunk,
      static_cast<long long>(tokens), reps);
  std::printf(
      "values: synthetic (per-unit log-normal scale and offset; Student-t(4) "
      "for attn_out/mlp_out/resid_post, GELU of a Gaussian for mlp_post), "
      "not captured from a model\n");
  const std::vector<float> values = MakeActivations(layout, tokens);
  PlainZstdBaseline(values, tokens, width);

  std::printf("%-22s %12s %12s %8s %8s %10s %10s %10s %10s\n", "compression",
              "raw B/tok", "stored B/tok", "stored", "chunks", "write MB/s",
              "write tok/s", "read MB/s", "read tok/s");
  Figures off;
  for (int level : {0, 1, 3}) {
    const Figures f = Measure(dir, values, tokens, width, level, reps);
    if (level == 0) off = f;
    // MB/s of raw (F16) activations, so that the rows compare.
    const double raw_mb = static_cast<double>(f.raw_bytes) / 1e6;
    std::printf(
        "%-22s %12.0f %12.0f %7.1f%% %3lld/%-4lld %10.0f %10.0f %10.0f "
        "%10.0f\n",
        level == 0
            ? "off (format 1)"
            : ("zstd level " + std::to_string(level) + ", shuffled").c_str(),
        static_cast<double>(f.raw_bytes) / tokens,
        static_cast<double>(f.bytes) / tokens,
        100.0 * static_cast<double>(f.bytes) / f.raw_bytes,
        static_cast<long long>(f.compressed_chunks),
        static_cast<long long>(f.chunks), raw_mb / f.write_s,
        tokens / f.write_s, raw_mb / f.read_s, tokens / f.read_s);
    if (level != 0) {
      std::printf("%-22s write %+.0f%% time, read %+.0f%% time against off\n",
                  "", 100.0 * (f.write_s / off.write_s - 1),
                  100.0 * (f.read_s / off.read_s - 1));
    }
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fnprobe

int main() {
  fnprobe::Run();
  return 0;
}
