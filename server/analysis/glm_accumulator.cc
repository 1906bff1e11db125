#include "server/analysis/glm_accumulator.h"

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/cpu_count.h"
#include "common/status_util.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define FNPROBE_GLM_X86 1
#else
#define FNPROBE_GLM_X86 0
#endif

namespace fnprobe::analysis {
namespace {

// --- The fold kernel ---
//
// Folds `count` rows into the statistics of units [begin, end):
//   yt_x[k * acc_ld + v] += sum_r y_r[v] * x_r[k]   (k < p)
//   sum_y2[v]            += sum_r y_r[v]^2
// where y_r = rows + r * ld and x_r = x + r * p (the design row of row r).
// Units are taken in strips of one or two vector registers; a strip's sums
// over a block of rows stay in registers, in float64, and are added to the
// accumulators once per block. Columns go in groups of at most 8 (the
// register budget); sum y^2 rides with the first group.
template <typename In>
struct FoldArgs {
  const In* rows;
  int64_t ld;
  int64_t count;
  const double* x;
  int p;
  double* yt_x;
  int64_t acc_ld;
  double* sum_y2;
};

// Units per tile: a tile's accumulators (tile x (p + 1) doubles, 288 KiB
// for p = 8) stay in L2 while all rows of a fold stream through, in blocks
// of kRowBlock rows (kRowBlock rows x kTileUnits units, 1 MiB of float32).
// Tuned on Zen 5 at V = 200k (tiles of 2048 and 4096 units and row blocks
// of 16 to 64 are within 15% of each other; 64 x 4096 was the best).
constexpr int64_t kTileUnits = 4096;
constexpr int64_t kRowBlock = 64;
constexpr int kMaxGroup = 8;

// Scalar reference for the last units that do not fill a strip.
template <typename In>
void FoldUnitsScalar(const FoldArgs<In>& a, int64_t begin, int64_t end) {
  for (int64_t v = begin; v < end; ++v) {
    double sq = 0;
    for (int64_t r = 0; r < a.count; ++r) {
      const double y = static_cast<double>(a.rows[r * a.ld + v]);
      sq += y * y;
      const double* xr = a.x + r * a.p;
      for (int k = 0; k < a.p; ++k) a.yt_x[k * a.acc_ld + v] += y * xr[k];
    }
    a.sum_y2[v] += sq;
  }
}

// Portable strips of 8 units; the compiler vectorizes the inner loops for
// the baseline instruction set.
constexpr int64_t kPortableStrip = 8;
constexpr int64_t kPortablePrefetchUnits = 256;

template <int G, bool kSq, typename In>
void StripsPortable(const In* rows, int64_t ld, int64_t count, const double* x,
                    int p, int64_t begin, int64_t end, double* acc,
                    int64_t acc_ld, double* sum_y2) {
  for (int64_t v = begin; v < end; v += kPortableStrip) {
    double a[G][kPortableStrip] = {};
    double s[kPortableStrip] = {};
    const In* y = rows + v;
    const double* xr = x;
    for (int64_t r = 0; r < count; ++r, y += ld, xr += p) {
      __builtin_prefetch(y + kPortablePrefetchUnits);
      double yv[kPortableStrip];
      for (int i = 0; i < kPortableStrip; ++i) yv[i] = y[i];
      if (kSq) {
        for (int i = 0; i < kPortableStrip; ++i) s[i] += yv[i] * yv[i];
      }
      for (int k = 0; k < G; ++k) {
        const double xk = xr[k];
        for (int i = 0; i < kPortableStrip; ++i) a[k][i] += yv[i] * xk;
      }
    }
    for (int k = 0; k < G; ++k) {
      double* dst = acc + k * acc_ld + v;
      for (int i = 0; i < kPortableStrip; ++i) dst[i] += a[k][i];
    }
    if (kSq) {
      for (int i = 0; i < kPortableStrip; ++i) sum_y2[v + i] += s[i];
    }
  }
}

template <typename In>
using StripFn = void (*)(const In*, int64_t, int64_t, const double*, int,
                         int64_t, int64_t, double*, int64_t, double*);

template <typename In, bool kSq>
StripFn<In> PortableStrip(int g) {
  switch (g) {
    case 1:
      return &StripsPortable<1, kSq, In>;
    case 2:
      return &StripsPortable<2, kSq, In>;
    case 3:
      return &StripsPortable<3, kSq, In>;
    case 4:
      return &StripsPortable<4, kSq, In>;
    case 5:
      return &StripsPortable<5, kSq, In>;
    case 6:
      return &StripsPortable<6, kSq, In>;
    case 7:
      return &StripsPortable<7, kSq, In>;
    default:
      return &StripsPortable<8, kSq, In>;
  }
}

#if FNPROBE_GLM_X86
// AVX2 + FMA strips of 4 units (one register of 4 doubles): 9 accumulators
// for 8 columns and sum y^2, within the 16 registers.
#pragma GCC push_options
#pragma GCC target("avx2,fma")

constexpr int64_t kAvx2Strip = 4;
constexpr int64_t kAvx2PrefetchUnits = 256;

inline __m256d Load4(const float* p) {
  return _mm256_cvtps_pd(_mm_loadu_ps(p));
}
inline __m256d Load4(const double* p) { return _mm256_loadu_pd(p); }

template <int G, bool kSq, typename In>
void StripsAvx2(const In* rows, int64_t ld, int64_t count, const double* x,
                int p, int64_t begin, int64_t end, double* acc, int64_t acc_ld,
                double* sum_y2) {
  for (int64_t v = begin; v < end; v += kAvx2Strip) {
    __m256d a[G];
    for (int k = 0; k < G; ++k) a[k] = _mm256_setzero_pd();
    __m256d s = _mm256_setzero_pd();
    const In* y = rows + v;
    const double* xr = x;
    for (int64_t r = 0; r < count; ++r, y += ld, xr += p) {
      // One line in four (float32) or two (float64) strips is new.
      if ((v * static_cast<int64_t>(sizeof(In))) % 64 == 0) {
        _mm_prefetch(reinterpret_cast<const char*>(y + kAvx2PrefetchUnits),
                     _MM_HINT_T0);
      }
      const __m256d y0 = Load4(y);
      if (kSq) s = _mm256_fmadd_pd(y0, y0, s);
      for (int k = 0; k < G; ++k) {
        a[k] = _mm256_fmadd_pd(y0, _mm256_broadcast_sd(xr + k), a[k]);
      }
    }
    for (int k = 0; k < G; ++k) {
      double* dst = acc + k * acc_ld + v;
      _mm256_storeu_pd(dst, _mm256_add_pd(_mm256_loadu_pd(dst), a[k]));
    }
    if (kSq) {
      double* dst = sum_y2 + v;
      _mm256_storeu_pd(dst, _mm256_add_pd(_mm256_loadu_pd(dst), s));
    }
  }
}

#pragma GCC pop_options

template <typename In, bool kSq>
StripFn<In> Avx2Strip(int g) {
  switch (g) {
    case 1:
      return &StripsAvx2<1, kSq, In>;
    case 2:
      return &StripsAvx2<2, kSq, In>;
    case 3:
      return &StripsAvx2<3, kSq, In>;
    case 4:
      return &StripsAvx2<4, kSq, In>;
    case 5:
      return &StripsAvx2<5, kSq, In>;
    case 6:
      return &StripsAvx2<6, kSq, In>;
    case 7:
      return &StripsAvx2<7, kSq, In>;
    default:
      return &StripsAvx2<8, kSq, In>;
  }
}

// AVX-512 strips of 16 units (two registers of 8 doubles): with 8 columns
// and sum y^2, 18 accumulators. Like the AVX2 region, compiled for its
// instruction set only here and called only when the CPU has it; nothing
// outside the region may be inlined or instantiated inside it (no std:: or
// arma:: calls).
#pragma GCC push_options
#pragma GCC target("avx512f")

constexpr int64_t kAvx512Strip = 16;
// Prefetch distance along each row, in units (bytes: x sizeof(In)). The
// rows of a block are separate streams the hardware prefetchers do not
// follow well: without it the fold runs at a third of the speed; 64 to 512
// units ahead perform alike.
constexpr int64_t kPrefetchUnits = 256;

inline __m512d Load8(const float* p) {
  return _mm512_cvtps_pd(_mm256_loadu_ps(p));
}
inline __m512d Load8(const double* p) { return _mm512_loadu_pd(p); }

template <int G, bool kSq, typename In>
void StripsAvx512(const In* rows, int64_t ld, int64_t count, const double* x,
                  int p, int64_t begin, int64_t end, double* acc,
                  int64_t acc_ld, double* sum_y2) {
  for (int64_t v = begin; v < end; v += kAvx512Strip) {
    __m512d a0[G], a1[G];
    for (int k = 0; k < G; ++k) a0[k] = a1[k] = _mm512_setzero_pd();
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    const In* y = rows + v;
    const double* xr = x;
    for (int64_t r = 0; r < count; ++r, y += ld, xr += p) {
      _mm_prefetch(reinterpret_cast<const char*>(y + kPrefetchUnits),
                   _MM_HINT_T0);
      if (sizeof(In) == 8) {
        _mm_prefetch(reinterpret_cast<const char*>(y + kPrefetchUnits + 8),
                     _MM_HINT_T0);
      }
      const __m512d y0 = Load8(y);
      const __m512d y1 = Load8(y + 8);
      if (kSq) {
        s0 = _mm512_fmadd_pd(y0, y0, s0);
        s1 = _mm512_fmadd_pd(y1, y1, s1);
      }
      for (int k = 0; k < G; ++k) {
        const __m512d xk = _mm512_set1_pd(xr[k]);
        a0[k] = _mm512_fmadd_pd(y0, xk, a0[k]);
        a1[k] = _mm512_fmadd_pd(y1, xk, a1[k]);
      }
    }
    for (int k = 0; k < G; ++k) {
      double* dst = acc + k * acc_ld + v;
      _mm512_storeu_pd(dst, _mm512_add_pd(_mm512_loadu_pd(dst), a0[k]));
      _mm512_storeu_pd(dst + 8, _mm512_add_pd(_mm512_loadu_pd(dst + 8), a1[k]));
    }
    if (kSq) {
      double* dst = sum_y2 + v;
      _mm512_storeu_pd(dst, _mm512_add_pd(_mm512_loadu_pd(dst), s0));
      _mm512_storeu_pd(dst + 8, _mm512_add_pd(_mm512_loadu_pd(dst + 8), s1));
    }
  }
}

#pragma GCC pop_options

template <typename In, bool kSq>
StripFn<In> Avx512Strip(int g) {
  switch (g) {
    case 1:
      return &StripsAvx512<1, kSq, In>;
    case 2:
      return &StripsAvx512<2, kSq, In>;
    case 3:
      return &StripsAvx512<3, kSq, In>;
    case 4:
      return &StripsAvx512<4, kSq, In>;
    case 5:
      return &StripsAvx512<5, kSq, In>;
    case 6:
      return &StripsAvx512<6, kSq, In>;
    case 7:
      return &StripsAvx512<7, kSq, In>;
    default:
      return &StripsAvx512<8, kSq, In>;
  }
}

#endif  // FNPROBE_GLM_X86

// The kernels, best last; folds use the best the CPU has, or a lower one
// chosen for tests.
enum Kernel { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

Kernel BestKernel() {
#if FNPROBE_GLM_X86
  static const Kernel best = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return kAvx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      return kAvx2;
    }
    return kPortable;
  }();
  return best;
#else
  return kPortable;
#endif
}

std::atomic<int> kernel_cap{kAvx512};

// Folds units [begin, end) (begin a multiple of the strip width).
template <typename In>
void FoldUnits(const FoldArgs<In>& a, int64_t begin, int64_t end) {
  const int kernel =
      std::min<int>(BestKernel(), kernel_cap.load(std::memory_order_relaxed));
  int64_t strip = kPortableStrip;
#if FNPROBE_GLM_X86
  if (kernel == kAvx512) strip = kAvx512Strip;
  if (kernel == kAvx2) strip = kAvx2Strip;
#endif
  const int64_t strips_end = begin + (end - begin) / strip * strip;
  for (int64_t tile = begin; tile < strips_end; tile += kTileUnits) {
    const int64_t tile_end = std::min(tile + kTileUnits, strips_end);
    for (int64_t r0 = 0; r0 < a.count; r0 += kRowBlock) {
      const int64_t rows = std::min(kRowBlock, a.count - r0);
      for (int g = 0; g < a.p; g += kMaxGroup) {
        const int group = std::min(kMaxGroup, a.p - g);
        StripFn<In> fn = g == 0 ? PortableStrip<In, true>(group)
                                : PortableStrip<In, false>(group);
#if FNPROBE_GLM_X86
        if (kernel == kAvx512) {
          fn = g == 0 ? Avx512Strip<In, true>(group)
                      : Avx512Strip<In, false>(group);
        } else if (kernel == kAvx2) {
          fn =
              g == 0 ? Avx2Strip<In, true>(group) : Avx2Strip<In, false>(group);
        }
#endif
        fn(a.rows + r0 * a.ld, a.ld, rows, a.x + r0 * a.p + g, a.p, tile,
           tile_end, a.yt_x + g * a.acc_ld, a.acc_ld, a.sum_y2);
      }
    }
  }
  FoldUnitsScalar(a, strips_end, end);
}

// Below this many values a fold stays on the calling thread.
constexpr int64_t kMinValuesPerThread = int64_t{1} << 18;

template <typename In>
void FoldParallel(const FoldArgs<In>& a, int64_t num_units, int threads) {
  const int64_t by_size =
      std::max<int64_t>(1, a.count * num_units / kMinValuesPerThread);
  const int n = static_cast<int>(std::min<int64_t>(threads, by_size));
  if (n <= 1) {
    FoldUnits(a, 0, num_units);
    return;
  }
  // Shares of whole 16-unit strips (a multiple of every strip width).
  const int64_t strips = (num_units + 15) / 16;
  auto share_begin = [&](int i) {
    return std::min(num_units, strips * i / n * 16);
  };
  std::vector<std::thread> workers;
  workers.reserve(n - 1);
  int started = 1;
  for (; started < n; ++started) {
    try {
      workers.emplace_back(
          [&a, b = share_begin(started), e = share_begin(started + 1)] {
            FoldUnits(a, b, e);
          });
    } catch (const std::system_error&) {
      break;  // No more threads to be had: the caller does the rest.
    }
  }
  FoldUnits(a, 0, share_begin(1));
  if (started < n) FoldUnits(a, share_begin(started), num_units);
  for (std::thread& w : workers) w.join();
}

// Blocks of 2 MiB and more are 2 MiB aligned and advised as huge pages,
// since first-touch page faults on 4 KiB pages otherwise dominate the cost
// of a fresh block (about 13 us each on the benchmark VM); smaller ones are
// cache-line aligned.
constexpr size_t kHugePage = size_t{2} << 20;

void* AllocateBlock(size_t bytes) {
  const size_t align = bytes >= kHugePage ? kHugePage : 64;
  const size_t rounded = std::max(align, (bytes + align - 1) / align * align);
  void* p = std::aligned_alloc(align, rounded);
  if (p == nullptr) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  if (align == kHugePage) madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return p;
}

}  // namespace

namespace glm_internal {

void SetKernelForTesting(KernelForTesting kernel) {
  kernel_cap.store(kernel == KernelForTesting::kPortable ? kPortable
                   : kernel == KernelForTesting::kAvx2   ? kAvx2
                                                         : kAvx512,
                   std::memory_order_relaxed);
}

}  // namespace glm_internal

void GlmAccumulator::FreeBlock::operator()(void* p) const { std::free(p); }

absl::StatusOr<GlmAccumulator> GlmAccumulator::Create(const arma::mat& x,
                                                      int64_t num_units) {
  if (num_units <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "glm accumulator: num_units must be > 0, got ", num_units));
  }
  FNPROBE_ASSIGN_OR_RETURN(DesignFactor design, FactorDesign(x));
  return GlmAccumulator(x, std::move(design), num_units);
}

GlmAccumulator::GlmAccumulator(const arma::mat& x, DesignFactor design,
                               int64_t num_units)
    : x_(x),
      xt_(x.t()),
      design_(std::move(design)),
      num_units_(num_units),
      seen_(x.n_rows, false) {
  const size_t v = static_cast<size_t>(num_units);
  yt_x_.reset(static_cast<double*>(AllocateBlock(v * x.n_cols * 8)));
  sum_y2_.reset(static_cast<double*>(AllocateBlock(v * 8)));
  std::memset(yt_x_.get(), 0, v * x.n_cols * sizeof(double));
  std::memset(sum_y2_.get(), 0, v * sizeof(double));
}

template <typename T>
GlmAccumulator::Stage<T>& GlmAccumulator::StageFor() {
  if constexpr (std::is_same_v<T, float>) {
    return stage_f32_;
  } else {
    return stage_f64_;
  }
}

template <typename T>
int64_t GlmAccumulator::StageCapacity() const {
  const int64_t rows =
      kStageBytes / (num_units_ * static_cast<int64_t>(sizeof(T)));
  return std::min<int64_t>(std::clamp(rows, kMinStageRows, kMaxStageRows),
                           static_cast<int64_t>(x_.n_rows));
}

absl::Status GlmAccumulator::CheckRow(int64_t t, int64_t n) const {
  if (t < 0 || t >= static_cast<int64_t>(x_.n_rows)) {
    return absl::OutOfRangeError(absl::StrCat("glm accumulator: time point ", t,
                                              " outside [0, ", x_.n_rows, ")"));
  }
  if (n != num_units()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "glm accumulator: row has ", n, " units, expected ", num_units()));
  }
  if (seen_[t]) {
    return absl::AlreadyExistsError(
        absl::StrCat("glm accumulator: time point ", t, " already added"));
  }
  return absl::OkStatus();
}

template <typename T>
void GlmAccumulator::StageRow(int64_t t, const T* y) {
  Stage<T>& stage = StageFor<T>();
  const int64_t capacity = StageCapacity<T>();
  if (stage.rows == nullptr) {
    stage.rows.reset(static_cast<T*>(
        AllocateBlock(static_cast<size_t>(capacity * num_units_) * sizeof(T))));
    stage.time_points.reserve(capacity);
  }
  const int64_t slot = static_cast<int64_t>(stage.time_points.size());
  std::memcpy(stage.rows.get() + slot * num_units_, y,
              static_cast<size_t>(num_units_) * sizeof(T));
  stage.time_points.push_back(t);
  seen_[t] = true;
  ++rows_added_;
  if (slot + 1 == capacity) FlushStage<T>();
}

template <typename T>
absl::Status GlmAccumulator::AddRow(int64_t t, const T* y, int64_t n) {
  FNPROBE_RETURN_IF_ERROR(CheckRow(t, n));
  StageRow(t, y);
  return absl::OkStatus();
}

absl::Status GlmAccumulator::Add(int64_t t, const float* y, int64_t n) {
  return AddRow(t, y, n);
}

absl::Status GlmAccumulator::Add(int64_t t, const double* y, int64_t n) {
  return AddRow(t, y, n);
}

template <typename T>
absl::Status GlmAccumulator::AddBlock(const int64_t* t, const T* rows,
                                      int64_t count, int64_t n) {
  if (count < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("glm accumulator: negative row count ", count));
  }
  // Validate every row first, marking time points so that repeats within
  // the block are caught; undo the marks on error.
  for (int64_t r = 0; r < count; ++r) {
    absl::Status status = CheckRow(t[r], n);
    if (!status.ok()) {
      for (int64_t q = 0; q < r; ++q) seen_[t[q]] = false;
      return status;
    }
    seen_[t[r]] = true;
  }
  if (count < kMinStageRows) {
    for (int64_t r = 0; r < count; ++r) {
      seen_[t[r]] = false;  // StageRow marks it again.
      StageRow(t[r], rows + r * n);
    }
    return absl::OkStatus();
  }
  Fold(t, rows, count, yt_x_.get(), sum_y2_.get());
  rows_added_ += count;
  return absl::OkStatus();
}

absl::Status GlmAccumulator::AddRows(const int64_t* t, const float* rows,
                                     int64_t count, int64_t n) {
  return AddBlock(t, rows, count, n);
}

absl::Status GlmAccumulator::AddRows(const int64_t* t, const double* rows,
                                     int64_t count, int64_t n) {
  return AddBlock(t, rows, count, n);
}

template <typename T>
void GlmAccumulator::Fold(const int64_t* t, const T* rows, int64_t count,
                          double* yt_x, double* sum_y2) const {
  if (count == 0) return;
  const int p = static_cast<int>(x_.n_cols);
  // The rows' design rows, gathered: count x p.
  std::vector<double> x(static_cast<size_t>(count) * p);
  for (int64_t r = 0; r < count; ++r) {
    std::memcpy(x.data() + r * p, xt_.colptr(t[r]), p * sizeof(double));
  }
  FoldArgs<T> args{rows, num_units_, count,      x.data(),
                   p,    yt_x,       num_units_, sum_y2};
  int threads = num_threads_;
  if (threads <= 0) {
    threads = AvailableCpus();
  }
  FoldParallel(args, num_units_, threads);
}

template <typename T>
void GlmAccumulator::FlushStage() {
  Stage<T>& stage = StageFor<T>();
  Fold(stage.time_points.data(), stage.rows.get(),
       static_cast<int64_t>(stage.time_points.size()), yt_x_.get(),
       sum_y2_.get());
  stage.time_points.clear();
}

void GlmAccumulator::Totals(double* xty, double* sum_y2) const {
  const size_t v = static_cast<size_t>(num_units_);
  const size_t p = x_.n_cols;
  std::memcpy(sum_y2, sum_y2_.get(), v * sizeof(double));
  const double* yt_x = yt_x_.get();
  Block<double> staged;
  if (!stage_f32_.time_points.empty() || !stage_f64_.time_points.empty()) {
    staged.reset(static_cast<double*>(AllocateBlock(v * p * sizeof(double))));
    std::memcpy(staged.get(), yt_x, v * p * sizeof(double));
    Fold(stage_f32_.time_points.data(), stage_f32_.rows.get(),
         static_cast<int64_t>(stage_f32_.time_points.size()), staged.get(),
         sum_y2);
    Fold(stage_f64_.time_points.data(), stage_f64_.rows.get(),
         static_cast<int64_t>(stage_f64_.time_points.size()), staged.get(),
         sum_y2);
    yt_x = staged.get();
  }
  // Transpose V x p into p x V, a block of units at a time.
  constexpr size_t kUnits = 512;
  for (size_t u0 = 0; u0 < v; u0 += kUnits) {
    const size_t u1 = std::min(v, u0 + kUnits);
    for (size_t k = 0; k < p; ++k) {
      const double* src = yt_x + k * v;
      for (size_t u = u0; u < u1; ++u) xty[u * p + k] = src[u];
    }
  }
}

arma::mat GlmAccumulator::XtY() const {
  arma::mat xty(x_.n_cols, num_units_);
  arma::vec sum_y2(num_units_);
  Totals(xty.memptr(), sum_y2.memptr());
  return xty;
}

arma::vec GlmAccumulator::SumSquares() const {
  const size_t values = static_cast<size_t>(num_units_) * x_.n_cols;
  Block<double> xty(static_cast<double*>(AllocateBlock(values * 8)));
  arma::vec sum_y2(num_units_);
  Totals(xty.get(), sum_y2.memptr());
  return sum_y2;
}

absl::StatusOr<OlsFit> GlmAccumulator::Fit() const {
  if (rows_added_ != static_cast<int64_t>(x_.n_rows)) {
    return absl::FailedPreconditionError(
        absl::StrCat("glm accumulator: ", rows_added_, " of ", x_.n_rows,
                     " time points added"));
  }
  const size_t v = static_cast<size_t>(num_units_);
  const size_t p = x_.n_cols;
  // The statistics, staged rows folded into copies if there are any.
  const double* yt_x = yt_x_.get();
  const double* sum_y2 = sum_y2_.get();
  Block<double> staged_yt_x, staged_sum_y2;
  if (!stage_f32_.time_points.empty() || !stage_f64_.time_points.empty()) {
    staged_yt_x.reset(
        static_cast<double*>(AllocateBlock(v * p * sizeof(double))));
    staged_sum_y2.reset(static_cast<double*>(AllocateBlock(v * 8)));
    std::memcpy(staged_yt_x.get(), yt_x, v * p * sizeof(double));
    std::memcpy(staged_sum_y2.get(), sum_y2, v * sizeof(double));
    Fold(stage_f32_.time_points.data(), stage_f32_.rows.get(),
         static_cast<int64_t>(stage_f32_.time_points.size()), staged_yt_x.get(),
         staged_sum_y2.get());
    Fold(stage_f64_.time_points.data(), stage_f64_.rows.get(),
         static_cast<int64_t>(stage_f64_.time_points.size()), staged_yt_x.get(),
         staged_sum_y2.get());
    yt_x = staged_yt_x.get();
    sum_y2 = staged_sum_y2.get();
  }
  return SolveFromSufficientStatistics(design_, yt_x, sum_y2, v);
}

}  // namespace fnprobe::analysis
