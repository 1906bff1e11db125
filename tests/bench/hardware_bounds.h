// What this machine allows a decoder (issue 20), measured in the same run
// as the figures they bound:
//   - read bandwidth: a sum over a buffer far larger than the caches (a
//     STREAM-like read with libtorch's own vectorized, threaded reduction);
//     batch-1 decoding reads every weight once per step, so its bound is
//     bandwidth / weight bytes;
//   - GEMM throughput: libtorch's matrix product (the BLAS the engine uses)
//     on a decoder's projection shapes at a given number of rows (the
//     sequences of one step); batched decoding's bound is that FLOP rate /
//     FLOPs per token.
// Thread-compatible; each call allocates and times on its own.
#ifndef FNPROBE_TESTS_BENCH_HARDWARE_BOUNDS_H_
#define FNPROBE_TESTS_BENCH_HARDWARE_BOUNDS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace fnprobe {

// One projection of the forward pass: an [rows x in] by [in x out] product,
// `count` times per token (e.g. 12 layers' fc1).
struct ProjectionShape {
  int64_t in = 0;
  int64_t out = 0;
  int64_t count = 1;
};

// The projections of a pre-LayerNorm decoder with `layers` layers (Q, K, V
// and output H x H; fc1 H x F; fc2 F x H) and its LM head (H x vocab).
std::vector<ProjectionShape> DecoderProjections(int64_t layers, int64_t hidden,
                                                int64_t intermediate,
                                                int64_t vocab);

// FLOPs of one token through `shapes` (2 per multiply-add).
double FlopsPerToken(const std::vector<ProjectionShape>& shapes);

// Best-of-`repeats` read bandwidth in bytes/s over a `bytes` buffer, on
// every hardware thread (so is MeasureGemmFlops).
double MeasureReadBandwidth(int64_t bytes = int64_t{1} << 30, int repeats = 5);

// FLOP/s of libtorch's mm over `shapes` with `rows` rows, weighted by each
// shape's count (the time of one token-step's projections), best of
// `repeats`. `device` as torch names it ("cpu", "cuda").
double MeasureGemmFlops(const std::vector<ProjectionShape>& shapes,
                        int64_t rows, const std::string& device = "cpu",
                        int repeats = 5);

// The bytes of a checkpoint's weights: the size of its *.safetensors files.
int64_t CheckpointWeightBytes(const std::string& model_dir);

}  // namespace fnprobe

#endif  // FNPROBE_TESTS_BENCH_HARDWARE_BOUNDS_H_
