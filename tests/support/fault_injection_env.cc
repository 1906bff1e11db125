#include "tests/support/fault_injection_env.h"

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fnprobe::testing {

// A base WritableFile whose Append and Sync obey the Env's switches.
class FaultInjectionEnv::File final : public WritableFile {
 public:
  File(FaultInjectionEnv* env, std::string path,
       std::unique_ptr<WritableFile> base)
      : env_(env), path_(std::move(path)), base_(std::move(base)) {}

  absl::Status Append(absl::string_view data) override {
    const int n = ++env_->appends;
    if (env_->disk_full) return ErrnoStatus(path_, "write", ENOSPC);
    if (n == env_->fail_append_at) {
      if (env_->short_write) {
        base_->Append(data.substr(0, data.size() / 2)).IgnoreError();
      }
      return ErrnoStatus(path_, "write (injected)", ENOSPC);
    }
    return base_->Append(data);
  }
  absl::Status Sync() override {
    if (env_->fail_sync) {
      return absl::DataLossError(
          absl::StrCat(path_, ": injected fsync failure"));
    }
    return base_->Sync();
  }
  absl::Status Close() override { return base_->Close(); }

 private:
  FaultInjectionEnv* const env_;
  const std::string path_;
  std::unique_ptr<WritableFile> base_;
};

absl::StatusOr<std::unique_ptr<WritableFile>>
FaultInjectionEnv::NewWritableFile(const std::string& path) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      base_->NewWritableFile(path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<WritableFile>(new File(this, path, *std::move(file)));
}

absl::StatusOr<std::unique_ptr<WritableFile>> FaultInjectionEnv::NewTempFile(
    const std::string& prefix, std::string* path) {
  absl::StatusOr<std::unique_ptr<WritableFile>> file =
      base_->NewTempFile(prefix, path);
  if (!file.ok()) return file.status();
  return std::unique_ptr<WritableFile>(new File(this, *path, *std::move(file)));
}

absl::Status FaultInjectionEnv::RenameFile(const std::string& from,
                                           const std::string& to) {
  if (fail_rename) {
    return absl::InternalError(
        absl::StrCat(from, ": injected rename failure (to ", to, ")"));
  }
  return base_->RenameFile(from, to);
}

absl::Status FaultInjectionEnv::SyncDirectory(const std::string& dir) {
  if (fail_sync_directory) {
    return absl::DataLossError(
        absl::StrCat(dir, ": injected directory fsync failure"));
  }
  return base_->SyncDirectory(dir);
}

}  // namespace fnprobe::testing
