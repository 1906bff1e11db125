// DataDirLock: the exclusive lock that makes one worker the only one on its
// data directory (DESIGN.md "Storage"). Two workers on one directory would
// both reset each other's running runs at start-up, redo them and race on
// the same activation files.
//
// It is flock(LOCK_EX | LOCK_NB) on <dir>/LOCK, held for the object's
// lifetime, with the holder's pid written into the file so that a refused
// worker can name the holder. The kernel drops the lock when the holder
// dies, even by SIGKILL, so a crash never leaves a stale lock behind: the
// pid in the file is only informative and the file itself stays.
//
// flock locks belong to the open file description, so a second Acquire in
// the same process is refused as well (the unit tests rely on it). A lock on
// NFS is only as good as the server's flock emulation.
//
// Thread-safe: immutable once acquired.
#ifndef FNPROBE_SERVER_ANALYSIS_STORAGE_DATA_DIR_LOCK_H_
#define FNPROBE_SERVER_ANALYSIS_STORAGE_DATA_DIR_LOCK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace fnprobe {

class DataDirLock {
 public:
  // Takes the lock on existing directory `dir`. FAILED_PRECONDITION naming
  // the holder's pid (as it wrote it) when another holder has it; the
  // errno's status naming the path when the file cannot be opened or
  // locked.
  static absl::StatusOr<std::unique_ptr<DataDirLock>> Acquire(
      const std::string& dir);
  // Releases the lock (the file stays, with the last holder's pid).
  ~DataDirLock();

  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;

  const std::string& path() const { return path_; }

 private:
  DataDirLock(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}

  const std::string path_;
  const int fd_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_STORAGE_DATA_DIR_LOCK_H_
