// Helpers shared by the activation store's tests (activation_store_test,
// activation_compression_test): temporary directories, whole-file byte
// access for corruption tests, and writing a set of rows as one file.
//
// Header-only; each function is independent and thread-compatible.
#ifndef FNPROBE_TESTS_ANALYSIS_STORAGE_ACTIVATION_TEST_UTIL_H_
#define FNPROBE_TESTS_ANALYSIS_STORAGE_ACTIVATION_TEST_UTIL_H_

#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/analysis/storage/activation_store.h"
#include "tests/support/reference_data.h"

namespace fnprobe::testing {

// A fresh directory under the system temp dir, removed when destroyed.
class ActivationTempDir : public ScopedTempDir {
 public:
  ActivationTempDir() : ScopedTempDir("fnprobe_activations_") {}
};

// The bytes of `path` ("" if it cannot be read).
inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Replaces `path` with `data` (not atomically: tests corrupt files so).
inline void WriteAll(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// The `T` stored (host byte order) at `offset` of `data`.
template <typename T>
T GetAt(const std::string& data, size_t offset) {
  T value;
  std::memcpy(&value, data.data() + offset, sizeof(value));
  return value;
}

template <typename T>
void PutAt(std::string* data, size_t offset, T value) {
  std::memcpy(&(*data)[offset], &value, sizeof(value));
}

// Rows of values; row r has time point time_points[r] and the `width`
// values from values[r * width].
struct Frames {
  int64_t width = 0;
  std::vector<int64_t> time_points;
  std::vector<float> values;
};

// Writes `f` to a new activation file at `path` and finishes it.
inline absl::StatusOr<ActivationFileInfo> WriteFrames(
    const std::string& path, const Frames& f,
    const ActivationWriterOptions& options) {
  auto writer = ActivationWriter::Create(path, f.width, options);
  if (!writer.ok()) return writer.status();
  for (size_t r = 0; r < f.time_points.size(); ++r) {
    absl::Status s =
        (*writer)->Append(f.time_points[r], f.values.data() + r * f.width);
    if (!s.ok()) return s;
  }
  return (*writer)->Finish();
}

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_ANALYSIS_STORAGE_ACTIVATION_TEST_UTIL_H_
