#include "server/inference/model/small_rows_linear.h"

#include <ATen/ATen.h>

#include <algorithm>

#include "server/inference/model/cpu_threads.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FNPROBE_SMALL_ROWS_KERNEL 1
#endif

namespace fnprobe {
namespace {

// Rows of x multiplied per pass over the weight.
constexpr int64_t kRowBlock = 32;

#ifdef FNPROBE_SMALL_ROWS_KERNEL

#define FNPROBE_AVX512 __attribute__((target("avx512f")))

// y[r, o] for rows [0, RT) of x and weight rows [0, OT): RT * OT
// accumulators, each a 16-lane partial sum over k, reduced once at the end.
// The last partial 16 of `in` is read with a mask (zeros past the end).
template <int RT, int OT>
FNPROBE_AVX512 inline void Tile(const float* x, int64_t in, const float* w,
                                const float* bias, float* y, int64_t ldy) {
  __m512 acc[RT][OT];
  for (int i = 0; i < RT; ++i) {
    for (int j = 0; j < OT; ++j) acc[i][j] = _mm512_setzero_ps();
  }
  int64_t k = 0;
  for (; k + 16 <= in; k += 16) {
    __m512 wv[OT];
    for (int j = 0; j < OT; ++j) wv[j] = _mm512_loadu_ps(w + j * in + k);
    for (int i = 0; i < RT; ++i) {
      const __m512 xv = _mm512_loadu_ps(x + i * in + k);
      for (int j = 0; j < OT; ++j) {
        acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
      }
    }
  }
  if (k < in) {
    const __mmask16 mask = static_cast<__mmask16>((1u << (in - k)) - 1);
    __m512 wv[OT];
    for (int j = 0; j < OT; ++j) {
      wv[j] = _mm512_maskz_loadu_ps(mask, w + j * in + k);
    }
    for (int i = 0; i < RT; ++i) {
      const __m512 xv = _mm512_maskz_loadu_ps(mask, x + i * in + k);
      for (int j = 0; j < OT; ++j) {
        acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
      }
    }
  }
  for (int i = 0; i < RT; ++i) {
    for (int j = 0; j < OT; ++j) {
      const float sum = _mm512_reduce_add_ps(acc[i][j]);
      y[i * ldy + j] = bias != nullptr ? sum + bias[j] : sum;
    }
  }
}

// Rows of x in tiles of 4 (the rest 1..3) against OT weight rows.
template <int OT>
FNPROBE_AVX512 void RowTiles(const float* x, int64_t rows, int64_t in,
                             const float* w, const float* bias, float* y,
                             int64_t ldy) {
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    Tile<4, OT>(x + r * in, in, w, bias, y + r * ldy, ldy);
  }
  switch (rows - r) {
    case 3:
      Tile<3, OT>(x + r * in, in, w, bias, y + r * ldy, ldy);
      break;
    case 2:
      Tile<2, OT>(x + r * in, in, w, bias, y + r * ldy, ldy);
      break;
    case 1:
      Tile<1, OT>(x + r * in, in, w, bias, y + r * ldy, ldy);
      break;
    default:
      break;
  }
}

// Weight rows [begin, end) against every row of x. One row of x reads 8
// weight rows at a time (more loads in flight for a bandwidth-bound
// product); several rows of x share 4 (16 accumulators, register-bound).
FNPROBE_AVX512 void Columns(const float* x, int64_t rows, int64_t in,
                            const float* w, const float* bias, float* y,
                            int64_t ldy, int64_t begin, int64_t end) {
  const float* b = bias;
  int64_t o = begin;
  if (rows == 1) {
    for (; o + 8 <= end; o += 8) {
      Tile<1, 8>(x, in, w + o * in, b ? b + o : nullptr, y + o, ldy);
    }
  } else {
    for (; o + 4 <= end; o += 4) {
      RowTiles<4>(x, rows, in, w + o * in, b ? b + o : nullptr, y + o, ldy);
    }
  }
  for (; o < end; ++o) {
    RowTiles<1>(x, rows, in, w + o * in, b ? b + o : nullptr, y + o, ldy);
  }
}

bool HasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f");
  return has;
}
#else
// Other CPUs (or compilers): callers keep at::linear.
bool HasAvx512() { return false; }
void Columns(const float*, int64_t, int64_t, const float*, const float*, float*,
             int64_t, int64_t, int64_t) {}
#endif

}  // namespace

bool SmallRowsLinearApplies(const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& bias) {
  return x.dim() == 2 && x.size(0) >= 1 && x.size(0) <= kSmallRowsMax &&
         weight.dim() == 2 && x.size(1) == weight.size(1) &&
         x.device().is_cpu() && weight.device().is_cpu() &&
         x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat &&
         weight.is_contiguous() &&
         (!bias.defined() ||
          (bias.scalar_type() == at::kFloat && bias.is_contiguous() &&
           bias.dim() == 1 && bias.size(0) == weight.size(0))) &&
         HasAvx512();
}

at::Tensor SmallRowsLinear(const at::Tensor& x_in, const at::Tensor& weight,
                           const at::Tensor& bias) {
  const at::Tensor x = x_in.contiguous();
  const int64_t rows = x.size(0), in = x.size(1), out = weight.size(0);
  at::Tensor y = at::empty({rows, out}, x.options());
  const float* xp = x.data_ptr<float>();
  const float* wp = weight.data_ptr<float>();
  const float* bp = bias.defined() ? bias.data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();
  // Chunks of whole 8-column tiles, at least ~64 KiB of weight each, so
  // that small products stay on one thread.
  const int64_t grain =
      std::max<int64_t>(8, (int64_t{16384} / std::max<int64_t>(in, 1)) / 8 * 8);
  ParallelFor(0, out, grain, [&](int64_t begin, int64_t end) {
    // Blocks of kRowBlock rows keep x's block in L2 while the weight rows
    // stream past it (one weight pass per block).
    for (int64_t r = 0; r < rows; r += kRowBlock) {
      Columns(xp + r * in, std::min(kRowBlock, rows - r), in, wp, bp,
              yp + r * out, out, begin, end);
    }
  });
  return y;
}

}  // namespace fnprobe
