// FUZZ_CHECK for the fuzz targets in this directory: an invariant of a
// parser's output that ASan and UBSan cannot see (a round trip, a promised
// status), reported as a crash so that libFuzzer saves the input.
#ifndef FNPROBE_TESTS_FUZZ_FUZZ_CHECK_H_
#define FNPROBE_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(condition, what)                                        \
  do {                                                                     \
    if (!(condition)) {                                                    \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", __FILE__, \
                   __LINE__, #condition, std::string(what).c_str());       \
      std::abort();                                                        \
    }                                                                      \
  } while (0)

#endif  // FNPROBE_TESTS_FUZZ_FUZZ_CHECK_H_
