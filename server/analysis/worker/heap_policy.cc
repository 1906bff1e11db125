#include "server/analysis/worker/heap_policy.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_format.h"

namespace fnprobe::worker {
namespace {

// Resident set size of this process in MB, from /proc/self/status; 0 if
// unreadable.
double ResidentMb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atof(line.c_str() + 6) / 1024;
  }
  return 0;
}

}  // namespace

void KeepFreedMemoryWhileBusy() {
#ifdef __GLIBC__
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

std::string HeapRelease::ToString() const {
  return absl::StrFormat(
      "idle: malloc in use %.1f MB, held %.1f MB; RSS %.1f MB%s", in_use, held,
      rss_before,
      trimmed ? absl::StrFormat(", %.1f MB after trim", rss_after)
              : std::string(" (not trimmed)"));
}

HeapRelease ReleaseFreeMemory(bool trim) {
  HeapRelease r;
  r.rss_before = ResidentMb();
#ifdef __GLIBC__
  const struct mallinfo2 info = mallinfo2();
  r.in_use = (info.uordblks + info.hblkhd) / 1048576.0;
  r.held = (info.arena + info.hblkhd) / 1048576.0;
  if (trim) {
    malloc_trim(0);
    r.trimmed = true;
  }
#endif
  r.rss_after = r.trimmed ? ResidentMb() : r.rss_before;
  return r;
}

}  // namespace fnprobe::worker
