#include "tests/bench/bench_model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "server/inference/tools/model_maker.h"

namespace fnprobe {

std::string BenchEnv(const char* name, const char* dflt) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : dflt;
}

std::string BenchModelDir() {
  std::string dir =
      BenchEnv("FNPROBE_BENCH_MODEL_DIR", "bench-models/galactica-125m");
  if (!std::filesystem::exists(dir + "/config.json")) {
    std::fprintf(stderr, "making galactica-125m shape in %s ...\n",
                 dir.c_str());
    MakeModelOptions options;
    options.shape = "galactica-125m";
    options.out_dir = dir;
    auto made = MakeModel(options);
    if (!made.ok()) {
      std::fprintf(stderr, "%s\n", made.status().ToString().c_str());
      std::exit(1);
    }
  }
  return dir;
}

std::string BenchDevice() { return BenchEnv("FNPROBE_BENCH_DEVICE", "auto"); }

double Median(std::vector<double> values) {
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

}  // namespace fnprobe
