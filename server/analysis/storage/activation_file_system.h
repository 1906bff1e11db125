// The file operations the activation store performs, behind an interface so
// that tests can inject failures (LevelDB's Env pattern): a write error, a
// short write, a failed fsync or rename.
//
// ActivationFileSystem::Default() is the POSIX implementation. Files are
// used by one writer; a RandomAccessFile's Read is safe for concurrent use
// (pread). Implementations of ActivationFileSystem must be thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_STORAGE_ACTIVATION_FILE_SYSTEM_H_
#define FNPROBE_SERVER_ANALYSIS_STORAGE_ACTIVATION_FILE_SYSTEM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe {

// A file opened for appending. Not thread-safe.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  // Appends all of `data`. A partial write is an error (the file then holds
  // an unknown prefix of `data`).
  virtual absl::Status Append(absl::string_view data) = 0;
  // Flushes file data to stable storage (fsync).
  virtual absl::Status Sync() = 0;
  // Closes the file; further calls fail. The destructor closes silently.
  virtual absl::Status Close() = 0;
};

// A file opened for positional reads. Read is safe for concurrent use.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;
  // Size in bytes at open time.
  virtual uint64_t Size() const = 0;
  // Reads up to `n` bytes at `offset` into `scratch`; returns how many were
  // read (fewer only at end of file).
  virtual absl::StatusOr<size_t> Read(uint64_t offset, size_t n,
                                      char* scratch) const = 0;
};

// File-system operations of the activation store.
class ActivationFileSystem {
 public:
  virtual ~ActivationFileSystem() = default;

  // The process-wide POSIX implementation; never deleted.
  static ActivationFileSystem* Default();

  // Creates (truncating) `path` for writing.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;
  virtual absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;
  // Atomically replaces `to` with `from` (rename(2)).
  virtual absl::Status RenameFile(const std::string& from,
                                  const std::string& to) = 0;
  virtual absl::Status DeleteFile(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, without "." and "..".
  virtual absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& dir) = 0;
  // fsyncs the directory so a rename in it is durable.
  virtual absl::Status SyncDirectory(const std::string& dir) = 0;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_STORAGE_ACTIVATION_FILE_SYSTEM_H_
