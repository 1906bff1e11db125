// A read-only memory mapping of a whole file (POSIX mmap).
//
// Owns the mapping; data() stays valid for the object's lifetime.
// Thread-safe: immutable after Open.
#ifndef FNPROBE_COMMON_MAPPED_FILE_H_
#define FNPROBE_COMMON_MAPPED_FILE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace fnprobe {

class MappedFile {
 public:
  // Maps `path` read-only. NOT_FOUND if it does not exist, other errors name
  // the path and errno text. An empty file maps to size() == 0.
  static absl::StatusOr<std::unique_ptr<MappedFile>> Open(
      const std::string& path);

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}

  const std::string path_;
  const uint8_t* const data_;
  const size_t size_;
};

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_MAPPED_FILE_H_
