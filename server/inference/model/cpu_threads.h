// How the engine's CPU math is threaded, set once when a model loads.
//
// One pool does the work: libtorch's intra-op pool (OpenMP), which runs the
// small-rows decode kernel, the prefill products split by rows and the
// per-sequence attention. The BLAS (OpenBLAS in Debian's libtorch) runs
// single-threaded inside it. Why: OpenBLAS keeps its own threads, which
// spin in sched_yield after each call while OpenMP's workers spin waiting
// for the next parallel region; on a machine with as many cores as threads
// the two pools take each other's cores (perf: a third of batch-16 decode
// in libgomp's spin and the kernel's yield, and two threads slower than
// one).
//
// These are process-wide settings of libtorch and the BLAS, not state of
// this library: the caller that owns the process (a server's main, a
// benchmark) decides, once. No torch types here.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_CPU_THREADS_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_CPU_THREADS_H_

#include <cstdint>
#include <functional>

#include "common/cpu_count.h"  // AvailableCpus

namespace fnprobe {

// The BLAS's own thread count, or 0 when the BLAS offers no control (an
// MKL build: libtorch's set_num_threads covers it).
int BlasThreads();

// Sets the BLAS's own thread count (n >= 1) where it offers control;
// returns false where it does not.
bool SetBlasThreads(int n);

// libtorch's intra-op threads to `threads` (<= 0: AvailableCpus()) and the
// BLAS to one thread inside them. Returns the intra-op thread count set.
int UseCpuThreads(int threads);

// Runs f over [begin, end) in chunks of whole `grain`s, on libtorch's
// intra-op threads (OpenMP), each chunk with the caller's InferenceMode (the
// mode is per thread, and the pool's workers would otherwise make normal
// tensors and refuse to update the caller's inference tensors in place).
//
// The threads claim chunks one at a time, up to kChunksPerThread per
// thread, instead of at::parallel_for's one fixed share each. Why: on a
// machine shared with other processes (the worker beside the inference
// server on two cores), a thread the kernel takes off its core mid-region
// left the other waiting at the region's end for the whole of its share;
// with claiming, the thread still running takes the chunks the other has
// not begun. Chunk boundaries depend only on the range, grain and thread
// count, never on which thread runs a chunk, so results do not change from
// run to run. The first exception a chunk throws is rethrown here. Inside
// another parallel region, f runs on the calling thread.
inline constexpr int64_t kChunksPerThread = 4;
void ParallelFor(int64_t begin, int64_t end, int64_t grain,
                 const std::function<void(int64_t, int64_t)>& f);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_CPU_THREADS_H_
