// Builds a safetensors file in memory and writes it atomically (to a
// temporary file in the same directory, fsync, rename: WriteFileAtomically
// in common/env.h), so a reader never sees a half-written file.
//
// Tensors are laid out as the reference (Rust) writer does: ordered by
// (dtype size descending, name), contiguous, header JSON padded with spaces
// to a multiple of 8 bytes. "__metadata__" comes first (omitted when empty),
// with "format" as its first key and the rest ordered by key, as transformers
// writes it; files written so reproduce the reference files byte for byte.
//
// Not thread-safe.
#ifndef FNPROBE_COMMON_SAFETENSORS_WRITER_H_
#define FNPROBE_COMMON_SAFETENSORS_WRITER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "common/dtype.h"
#include "common/env.h"

namespace fnprobe {

class SafetensorsWriter {
 public:
  SafetensorsWriter() = default;

  // Adds a tensor, taking its raw little-endian bytes. INVALID_ARGUMENT if
  // the name is empty, not valid UTF-8, "__metadata__" or already added, a
  // dimension is negative, or bytes.size() != numel * DTypeSize(dtype).
  absl::Status Add(std::string name, DType dtype, std::vector<int64_t> shape,
                   std::vector<uint8_t> bytes);

  // Convenience forms copying typed data.
  absl::Status AddFloat32(std::string name, std::vector<int64_t> shape,
                          absl::Span<const float> values);
  absl::Status AddInt64(std::string name, std::vector<int64_t> shape,
                        absl::Span<const int64_t> values);

  // Sets (or replaces) one "__metadata__" entry. Invalid UTF-8 in the key
  // or value is written as U+FFFD.
  void SetMetadata(std::string key, std::string value);

  // Writes the file atomically through `env` (WriteFileAtomically in
  // common/env.h). On failure nothing is left at `path` (an existing file
  // there is untouched) and the error names the path.
  absl::Status WriteFile(Env& env, const std::string& path) const;
  // The same through a PosixEnv.
  absl::Status WriteFile(const std::string& path) const;

  // The serialized file, for tests and in-memory use.
  std::string Serialize() const;

 private:
  struct Entry {
    DType dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
  };
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_SAFETENSORS_WRITER_H_
