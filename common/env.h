// Env: every durable file operation fnprobe performs, behind one interface
// (LevelDB's Env pattern), so that there is one fsync/rename implementation
// and tests can inject failures (a full disk, a failed fsync or rename)
// through tests/support/fault_injection_env.h.
//
// Components take an Env* from their caller (options or an argument);
// main() passes a PosixEnv. Env::Default() is the stateless POSIX Env for
// callers whose options leave it unset; it holds no mutable state.
//
// WriteFileAtomically (below) is the one "temporary file, write, fsync,
// rename, fsync directory" sequence: readers see the old file or the new
// one, never a partial one.
//
// Thread-safety: Env implementations are thread-safe. A WritableFile is used
// by one thread; RandomAccessFile::Read is safe for concurrent use (pread).
#ifndef FNPROBE_COMMON_ENV_H_
#define FNPROBE_COMMON_ENV_H_

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
  // Flushes file data to stable storage (fdatasync).
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

// File-system operations. Errors name the path and carry the code its errno
// maps to (ErrnoStatus below).
class Env {
 public:
  virtual ~Env() = default;

  // The stateless POSIX Env, for callers whose options name none; never
  // deleted.
  static Env* Default();

  // Creates (truncating) `path` for writing, mode 0644 less the umask.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;
  // Creates a new file "<prefix>XXXXXX" (unique, mode 0644) for writing and
  // sets *path to its name.
  virtual absl::StatusOr<std::unique_ptr<WritableFile>> NewTempFile(
      const std::string& prefix, std::string* path) = 0;
  virtual absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;
  // Atomically replaces `to` with `from` (rename(2); directories too).
  virtual absl::Status RenameFile(const std::string& from,
                                  const std::string& to) = 0;
  // Atomically swaps two existing paths (renameat2 RENAME_EXCHANGE).
  // UNIMPLEMENTED where the file system cannot.
  virtual absl::Status ExchangePaths(const std::string& a,
                                     const std::string& b) = 0;
  virtual absl::Status DeleteFile(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, without "." and "..".
  virtual absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& dir) = 0;
  // fsyncs the directory so a rename in it is durable.
  virtual absl::Status SyncDirectory(const std::string& dir) = 0;
  // Creates `dir` and its missing parents; OK if it exists.
  virtual absl::Status CreateDirectories(const std::string& dir) = 0;
  // Creates a new directory "<prefix>XXXXXX" (mode 0755); returns its path.
  virtual absl::StatusOr<std::string> NewTempDirectory(
      const std::string& prefix) = 0;
  // Removes `path` and, for a directory, everything under it. OK if absent.
  virtual absl::Status RemoveRecursively(const std::string& path) = 0;
};

// The POSIX file system. Stateless: construct one wherever needed (main()
// does, and passes it down).
class PosixEnv final : public Env {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override;
  absl::StatusOr<std::unique_ptr<WritableFile>> NewTempFile(
      const std::string& prefix, std::string* path) override;
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override;
  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override;
  absl::Status ExchangePaths(const std::string& a,
                             const std::string& b) override;
  absl::Status DeleteFile(const std::string& path) override;
  bool FileExists(const std::string& path) override;
  absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& dir) override;
  absl::Status SyncDirectory(const std::string& dir) override;
  absl::Status CreateDirectories(const std::string& dir) override;
  absl::StatusOr<std::string> NewTempDirectory(
      const std::string& prefix) override;
  absl::Status RemoveRecursively(const std::string& path) override;
};

// "<path>: <what>: <strerror>", with the code fnprobe gives `error`: ENOENT
// and ENOTDIR NOT_FOUND, EACCES/EPERM/EROFS PERMISSION_DENIED, ENOSPC/EDQUOT
// RESOURCE_EXHAUSTED, EEXIST/ENOTEMPTY ALREADY_EXISTS, EIO DATA_LOSS, the
// rest as absl::ErrnoToStatusCode maps them.
absl::Status ErrnoStatus(const std::string& path, absl::string_view what,
                         int error);

// The directory holding `path` ("." for a bare name, "/" for "/x").
std::string ParentDirectory(const std::string& path);

// Replaces `path` with `contents` durably: a temporary file beside it is
// written, synced and renamed over `path`, then the directory is synced.
// On failure `path` is as it was and the temporary file is removed; an
// error after the rename (syncing the directory) is reported, the new file
// then being in place. REQUIRES: the parent directory exists.
absl::Status WriteFileAtomically(Env& env, const std::string& path,
                                 absl::string_view contents);

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_ENV_H_
