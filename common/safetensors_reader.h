// Reads a safetensors file (https://github.com/huggingface/safetensors)
// through a read-only memory mapping: tensor data is never copied.
//
// Format: u64 little-endian header length N, N bytes of UTF-8 JSON
// {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}},
// then the data; offsets count from the end of the header.
//
// Open() validates everything before returning: header length within the
// file, valid UTF-8 JSON of the right shape, known dtypes, non-negative
// shapes whose byte count equals end - begin, offsets inside the data
// region and not overlapping. Any violation is INVALID_ARGUMENT (or
// DATA_LOSS for a truncated file) with a message naming the file and, where
// there is one, the tensor. Never crashes on malformed input.
//
// Thread-safe: immutable after Open.
#ifndef FNPROBE_COMMON_SAFETENSORS_READER_H_
#define FNPROBE_COMMON_SAFETENSORS_READER_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/dtype.h"
#include "common/mapped_file.h"

namespace fnprobe {

// One tensor inside a mapped file. `data` points into the mapping and lives
// as long as the reader that produced it.
struct TensorView {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // may be unaligned
  size_t nbytes = 0;

  int64_t numel() const;
};

class SafetensorsReader {
 public:
  static absl::StatusOr<std::unique_ptr<SafetensorsReader>> Open(
      const std::string& path);

  const std::string& path() const { return file_->path(); }

  // Tensor names in data-offset order.
  const std::vector<std::string>& names() const { return names_; }

  // nullptr when absent.
  const TensorView* Find(absl::string_view name) const;

  // NOT_FOUND "<path>: no tensor '<name>'" when absent.
  absl::StatusOr<const TensorView*> Get(absl::string_view name) const;

  // The "__metadata__" map (empty if the file has none).
  const std::map<std::string, std::string>& metadata() const {
    return metadata_;
  }

  // Copies a floating tensor (F32, F16, BF16, F64) into float32.
  // INVALID_ARGUMENT naming the tensor for other dtypes.
  absl::StatusOr<std::vector<float>> ReadFloat32(absl::string_view name) const;

  // Copies an integer tensor (I64, I32, I16, I8, U8) into int64.
  absl::StatusOr<std::vector<int64_t>> ReadInt64(absl::string_view name) const;

 private:
  SafetensorsReader() = default;

  std::unique_ptr<MappedFile> file_;
  std::vector<std::string> names_;
  absl::flat_hash_map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_SAFETENSORS_READER_H_
