#include "server/inference/model/cpu_threads.h"

#include <ATen/Parallel.h>
#include <c10/core/InferenceMode.h>
#include <dlfcn.h>
#include <sched.h>

#include <thread>

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

int AvailableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

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
  const bool inference_mode = c10::InferenceMode::is_enabled();
  at::parallel_for(begin, end, grain, [&](int64_t first, int64_t last) {
    c10::InferenceMode inference(inference_mode);
    f(first, last);
  });
}

}  // namespace fnprobe
