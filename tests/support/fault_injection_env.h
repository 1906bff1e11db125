// FaultInjectionEnv: an Env (common/env.h) over a real one that fails
// chosen operations, for the fault paths of durable writes: a full disk
// (ENOSPC on every write, or on the Nth, optionally after a short write), a
// failed fsync, rename or directory fsync. Everything not failed goes to the
// base Env, so files really land on disk and tests check what is left.
//
// Thread-safe: the switches are atomics, so a test may flip them (e.g. free
// the disk) while a server thread writes.
#ifndef FNPROBE_TESTS_SUPPORT_FAULT_INJECTION_ENV_H_
#define FNPROBE_TESTS_SUPPORT_FAULT_INJECTION_ENV_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/env.h"

namespace fnprobe::testing {

class FaultInjectionEnv : public Env {
 public:
  explicit FaultInjectionEnv(Env* base = Env::Default()) : base_(base) {}

  // Every Append fails with RESOURCE_EXHAUSTED "<path>: write: No space left
  // on device" while set.
  std::atomic<bool> disk_full{false};
  // The Nth Append (1-based, over all files) fails as on a full disk; with
  // `short_write` it first writes half of its data, as a full disk does.
  std::atomic<int> fail_append_at{0};
  std::atomic<bool> short_write{false};
  // WritableFile::Sync, RenameFile, SyncDirectory fail while set.
  std::atomic<bool> fail_sync{false};
  std::atomic<bool> fail_rename{false};
  std::atomic<bool> fail_sync_directory{false};
  // Appends so far, failed ones included.
  std::atomic<int> appends{0};

  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override;
  absl::StatusOr<std::unique_ptr<WritableFile>> NewTempFile(
      const std::string& prefix, std::string* path) override;
  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    return base_->NewRandomAccessFile(path);
  }
  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override;
  absl::Status ExchangePaths(const std::string& a,
                             const std::string& b) override {
    return base_->ExchangePaths(a, b);
  }
  absl::Status DeleteFile(const std::string& path) override {
    return base_->DeleteFile(path);
  }
  bool FileExists(const std::string& path) override {
    return base_->FileExists(path);
  }
  absl::StatusOr<std::vector<std::string>> ListDirectory(
      const std::string& dir) override {
    return base_->ListDirectory(dir);
  }
  absl::Status SyncDirectory(const std::string& dir) override;
  absl::Status CreateDirectories(const std::string& dir) override {
    return base_->CreateDirectories(dir);
  }
  absl::StatusOr<std::string> NewTempDirectory(
      const std::string& prefix) override {
    return base_->NewTempDirectory(prefix);
  }
  absl::Status RemoveRecursively(const std::string& path) override {
    return base_->RemoveRecursively(path);
  }

 private:
  class File;

  Env* const base_;
};

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_SUPPORT_FAULT_INJECTION_ENV_H_
