#include "common/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fnprobe {
namespace {

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd)
      : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  absl::Status Append(absl::string_view data) override {
    if (fd_ < 0) return absl::FailedPreconditionError(path_ + ": closed");
    const char* p = data.data();
    size_t left = data.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(path_, "write", errno);
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::Status Sync() override {
    if (fd_ < 0) return absl::FailedPreconditionError(path_ + ": closed");
    if (::fdatasync(fd_) != 0) return ErrnoStatus(path_, "fdatasync", errno);
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return ErrnoStatus(path_, "close", errno);
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  int fd_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), size_(size) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  uint64_t Size() const override { return size_; }

  absl::StatusOr<size_t> Read(uint64_t offset, size_t n,
                              char* scratch) const override {
    size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(fd_, scratch + done, n - done,
                                static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(path_, "read", errno);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    return done;
  }

 private:
  const std::string path_;
  const int fd_;
  const uint64_t size_;
};

}  // namespace

absl::Status ErrnoStatus(const std::string& path, absl::string_view what,
                         int error) {
  absl::StatusCode code;
  switch (error) {
    case ENOENT:
    case ENOTDIR:
      code = absl::StatusCode::kNotFound;
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = absl::StatusCode::kPermissionDenied;
      break;
    case ENOSPC:
    case EDQUOT:
      code = absl::StatusCode::kResourceExhausted;
      break;
    case EEXIST:
    case ENOTEMPTY:
      code = absl::StatusCode::kAlreadyExists;
      break;
    case EIO:
      code = absl::StatusCode::kDataLoss;
      break;
    default:
      code = absl::ErrnoToStatusCode(error);
      break;
  }
  return absl::Status(
      code, absl::StrCat(path, ": ", what, ": ", std::strerror(error)));
}

std::string ParentDirectory(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Env* Env::Default() {
  static Env* const env = new PosixEnv();
  return env;
}

absl::StatusOr<std::unique_ptr<WritableFile>> PosixEnv::NewWritableFile(
    const std::string& path) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(path, "open for writing", errno);
  return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
}

absl::StatusOr<std::unique_ptr<WritableFile>> PosixEnv::NewTempFile(
    const std::string& prefix, std::string* path) {
  std::string name = prefix + "XXXXXX";
  const int fd = ::mkostemp(name.data(), O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(name, "create temporary file", errno);
  // mkstemp creates 0600; the finished file is renamed into place and must
  // be readable as a normal file is.
  if (::fchmod(fd, 0644) != 0) {
    const int error = errno;
    ::close(fd);
    ::unlink(name.c_str());
    return ErrnoStatus(name, "chmod temporary file", error);
  }
  *path = name;
  return std::unique_ptr<WritableFile>(
      new PosixWritableFile(std::move(name), fd));
}

absl::StatusOr<std::unique_ptr<RandomAccessFile>> PosixEnv::NewRandomAccessFile(
    const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(path, "open for reading", errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    return ErrnoStatus(path, "stat", error);
  }
  return std::unique_ptr<RandomAccessFile>(
      new PosixRandomAccessFile(path, fd, static_cast<uint64_t>(st.st_size)));
}

absl::Status PosixEnv::RenameFile(const std::string& from,
                                  const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoStatus(from, absl::StrCat("rename to ", to), errno);
  }
  return absl::OkStatus();
}

absl::Status PosixEnv::ExchangePaths(const std::string& a,
                                     const std::string& b) {
  if (::renameat2(AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE) ==
      0) {
    return absl::OkStatus();
  }
  const int error = errno;
  if (error == EINVAL || error == ENOSYS) {
    return absl::UnimplementedError(
        absl::StrCat(b, ": the file system cannot exchange paths atomically"));
  }
  return ErrnoStatus(b, absl::StrCat("exchange with ", a), error);
}

absl::Status PosixEnv::DeleteFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) return ErrnoStatus(path, "unlink", errno);
  return absl::OkStatus();
}

bool PosixEnv::FileExists(const std::string& path) {
  return ::access(path.c_str(), F_OK) == 0;
}

absl::StatusOr<std::vector<std::string>> PosixEnv::ListDirectory(
    const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ErrnoStatus(dir, "opendir", errno);
  std::vector<std::string> names;
  while (struct dirent* entry = ::readdir(d)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  return names;
}

absl::Status PosixEnv::SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(dir, "open directory", errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus(dir, "fsync directory", error);
  return absl::OkStatus();
}

absl::Status PosixEnv::CreateDirectories(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return ErrnoStatus(dir, "cannot create directory", ec.value());
  return absl::OkStatus();
}

absl::StatusOr<std::string> PosixEnv::NewTempDirectory(
    const std::string& prefix) {
  std::string name = prefix + "XXXXXX";
  if (::mkdtemp(name.data()) == nullptr) {
    return ErrnoStatus(name, "cannot create temporary directory", errno);
  }
  // mkdtemp creates 0700; a directory renamed into place is read by others.
  if (::chmod(name.c_str(), 0755) != 0) {
    const int error = errno;
    ::rmdir(name.c_str());
    return ErrnoStatus(name, "cannot chmod temporary directory", error);
  }
  return name;
}

absl::Status PosixEnv::RemoveRecursively(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) return ErrnoStatus(path, "cannot remove", ec.value());
  return absl::OkStatus();
}

absl::Status WriteFileAtomically(Env& env, const std::string& path,
                                 absl::string_view contents) {
  std::string temp;
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      env.NewTempFile(path + ".tmp-", &temp);
  if (!file.ok()) return file.status();
  absl::Status status = (*file)->Append(contents);
  if (status.ok()) status = (*file)->Sync();
  absl::Status closed = (*file)->Close();
  if (status.ok()) status = closed;
  if (status.ok()) status = env.RenameFile(temp, path);
  if (!status.ok()) {
    env.DeleteFile(temp).IgnoreError();
    return status;
  }
  return env.SyncDirectory(ParentDirectory(path));
}

}  // namespace fnprobe
