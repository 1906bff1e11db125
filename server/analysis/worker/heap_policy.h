// What the worker does with freed heap memory: keep it for reuse while jobs
// run, give it all back to the system when the worker goes idle.
//
// Both are process-wide settings and actions of glibc's malloc; the
// ExperimentRunner, which knows when jobs run, is their one caller. On
// other C libraries both do nothing. Thread-safe (glibc takes its arena
// locks).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_HEAP_POLICY_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_HEAP_POLICY_H_

#include <string>

namespace fnprobe::worker {

// While jobs run, the worker frees and allocates the same large blocks over
// and over (a run's per-prompt matrices: 30 prompts x 54k units of doubles,
// 13 MB, for the galactica-125m shape; frame and chunk buffers). glibc
// hands blocks past its mmap threshold back to the system at once and trims
// the heap's top past its trim threshold, so each new block faulted its
// pages in again: page faults took 14% of the worker's CPU in the full
// design (perf), 10.6% with this. Sets glibc's largest fixed mmap threshold
// (32 MiB) and no automatic trim, so that freed blocks are reused. Only
// for a process that also calls ReleaseFreeMemory when idle: otherwise it
// would keep its high-water mark for good.
void KeepFreedMemoryWhileBusy();

// What ReleaseFreeMemory saw, in MB.
struct HeapRelease {
  double in_use = 0;      // allocated and not freed
  double held = 0;        // taken from the system by malloc
  double rss_before = 0;  // resident set size
  double rss_after = 0;   // ... after the trim (rss_before without one)
  bool trimmed = false;

  // "idle: malloc in use 12.0 MB, held 80.0 MB; RSS 95.0 MB, 30.0 MB after
  // trim": a real leak shows as in-use bytes growing from idle to idle.
  std::string ToString() const;
};

// Returns the free memory of every malloc arena to the system (when `trim`)
// and says what was live, held and resident. glibc gives back only the top
// of the main heap by itself: what worker threads freed stays in their
// arenas, so RSS would otherwise stay at the busiest moment's level.
// malloc_trim(0) walks all arenas and releases their free pages.
HeapRelease ReleaseFreeMemory(bool trim);

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_HEAP_POLICY_H_
