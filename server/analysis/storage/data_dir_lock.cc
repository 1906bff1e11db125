#include "server/analysis/storage/data_dir_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace fnprobe {
namespace {

// The pid the holder wrote, or "unknown" (it may be between its flock and
// its write).
std::string HolderPid(int fd) {
  char buffer[32] = {};
  const ssize_t n = pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (n <= 0) return "unknown";
  std::string text(absl::StripAsciiWhitespace(std::string(buffer, n)));
  for (char c : text) {
    if (c < '0' || c > '9') return "unknown";
  }
  return text.empty() ? "unknown" : text;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DataDirLock>> DataDirLock::Acquire(
    const std::string& dir) {
  std::string path = absl::StrCat(dir, "/LOCK");
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::string holder = HolderPid(fd);
    close(fd);
    if (error == EWOULDBLOCK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data directory ", dir, " is in use by another fnprobe-worker (pid ",
          holder, ", lock ", path,
          "); one worker per data directory: stop that one or use another "
          "--data-dir"));
    }
    return absl::ErrnoToStatus(error, absl::StrCat("cannot lock ", path));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) !=
                                   static_cast<ssize_t>(pid.size())) {
    const int error = errno;
    close(fd);
    return absl::ErrnoToStatus(error, absl::StrCat("cannot write ", path));
  }
  return std::unique_ptr<DataDirLock>(new DataDirLock(std::move(path), fd));
}

DataDirLock::~DataDirLock() {
  flock(fd_, LOCK_UN);
  close(fd_);
}

}  // namespace fnprobe
