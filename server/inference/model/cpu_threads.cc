#include "server/inference/model/cpu_threads.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <dlfcn.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <exception>

namespace fnprobe {
namespace {

// OpenBLAS's thread control, looked up at run time: libtorch links the BLAS
// privately, and a PyTorch build with MKL has no such symbols.
using SetThreadsFn = void (*)(int);
using GetThreadsFn = int (*)();

SetThreadsFn OpenBlasSetThreads() {
  return reinterpret_cast<SetThreadsFn>(
      dlsym(RTLD_DEFAULT, "openblas_set_num_threads"));
}

GetThreadsFn OpenBlasGetThreads() {
  return reinterpret_cast<GetThreadsFn>(
      dlsym(RTLD_DEFAULT, "openblas_get_num_threads"));
}

}  // namespace

int BlasThreads() {
  const GetThreadsFn get = OpenBlasGetThreads();
  return get != nullptr ? get() : 0;
}

bool SetBlasThreads(int n) {
  const SetThreadsFn set = OpenBlasSetThreads();
  if (set == nullptr || n < 1) return false;
  set(n);
  return true;
}

int UseCpuThreads(int threads) {
  const int n = threads > 0 ? threads : AvailableCpus();
  at::set_num_threads(n);
  SetBlasThreads(1);
  return n;
}

void ParallelFor(int64_t begin, int64_t end, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& f) {
  if (end <= begin) return;
  const bool inference_mode = c10::InferenceMode::is_enabled();
  const int64_t n = end - begin;
  grain = std::max<int64_t>(grain, 1);
  const int64_t threads = at::get_num_threads();
  // Chunks of whole grains, up to kChunksPerThread per thread.
  const int64_t grains = (n + grain - 1) / grain;
  const int64_t chunks = std::min(grains, threads * kChunksPerThread);
  if (threads <= 1 || chunks <= 1 || omp_in_parallel()) {
    c10::InferenceMode inference(inference_mode);
    f(begin, end);
    return;
  }
  const int64_t chunk = (grains + chunks - 1) / chunks * grain;
  const int64_t count = (n + chunk - 1) / chunk;
  std::atomic<int64_t> next{0};
  std::exception_ptr error;
  std::atomic<bool> failed{false};
#pragma omp parallel num_threads(static_cast <int>(std::min(threads, count)))
  {
    c10::InferenceMode inference(inference_mode);
    for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < count;
         i = next.fetch_add(1, std::memory_order_relaxed)) {
      try {
        f(begin + i * chunk, std::min(end, begin + (i + 1) * chunk));
      } catch (...) {
        // The first error is rethrown after the region; the rest of the
        // chunks are skipped (an exception must not leave the region).
        if (!failed.exchange(true)) error = std::current_exception();
        next.store(count, std::memory_order_relaxed);
      }
    }
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace fnprobe
