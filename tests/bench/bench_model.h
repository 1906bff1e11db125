// What the benchmarks share: environment settings and the galactica-125m
// shaped checkpoint (random weights), made on first use.
#ifndef FNPROBE_TESTS_BENCH_BENCH_MODEL_H_
#define FNPROBE_TESTS_BENCH_BENCH_MODEL_H_

#include <string>
#include <vector>

namespace fnprobe {

// The environment variable `name`, or `dflt` when unset or empty.
std::string BenchEnv(const char* name, const char* dflt);

// FNPROBE_BENCH_MODEL_DIR (default ./bench-models/galactica-125m), making
// the galactica-125m shape there if it holds no checkpoint yet. Exits with
// a message on failure.
std::string BenchModelDir();

// FNPROBE_BENCH_DEVICE (default auto).
std::string BenchDevice();

// The median of `values` (the mean of the middle two for an even count);
// NaN when empty.
double Median(std::vector<double> values);

}  // namespace fnprobe

#endif  // FNPROBE_TESTS_BENCH_BENCH_MODEL_H_
