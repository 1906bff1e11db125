#include "server/inference/tools/staging_directory.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"

namespace fnprobe {

namespace fs = std::filesystem;

absl::StatusOr<CheckpointDestination> InspectDestination(
    const std::string& out_dir) {
  if (out_dir.empty()) {
    return absl::InvalidArgumentError("no output directory given");
  }
  CheckpointDestination d;
  d.path = out_dir;
  while (d.path.size() > 1 && d.path.back() == '/') d.path.pop_back();
  const fs::path p(d.path);
  d.base = p.filename().string();
  d.parent = p.has_parent_path() ? p.parent_path().string() : ".";
  if (d.base.empty() || d.base == "." || d.base == "..") {
    return absl::InvalidArgumentError(absl::StrCat(
        out_dir, ": name a directory to create, not '", d.base, "'"));
  }
  std::error_code ec;
  const fs::file_status st = fs::symlink_status(d.path, ec);
  if (st.type() == fs::file_type::not_found) return d;
  if (ec) return ErrnoStatus(d.path, "cannot inspect", ec.value());
  if (st.type() == fs::file_type::symlink) {
    return absl::FailedPreconditionError(absl::StrCat(
        d.path, ": is a symbolic link; name the directory itself"));
  }
  if (st.type() != fs::file_type::directory) {
    return absl::FailedPreconditionError(
        absl::StrCat(d.path, ": exists and is not a directory"));
  }
  d.exists = true;
  d.empty = fs::is_empty(d.path, ec);
  if (ec) return ErrnoStatus(d.path, "cannot list", ec.value());
  return d;
}

absl::Status StagingDirectory::Create(const std::string& parent,
                                      const std::string& base) {
  FNPROBE_ASSIGN_OR_RETURN(
      path_, env_.NewTempDirectory(absl::StrCat(parent, "/.", base, ".tmp-")));
  return absl::OkStatus();
}

absl::Status CommitStagingDirectory(Env& env, StagingDirectory& tmp,
                                    const CheckpointDestination& dest) {
  if (!dest.exists || dest.empty) {
    const absl::Status moved = env.RenameFile(tmp.path(), dest.path);
    if (moved.code() == absl::StatusCode::kAlreadyExists) {
      return absl::AlreadyExistsError(absl::StrCat(
          dest.path, ": was filled by someone else while writing"));
    }
    FNPROBE_RETURN_IF_ERROR(moved);
    tmp.Release();
    env.SyncDirectory(dest.parent).IgnoreError();
    return absl::OkStatus();
  }
  const absl::Status exchanged = env.ExchangePaths(tmp.path(), dest.path);
  if (exchanged.ok()) {
    // tmp now holds the old checkpoint; ~StagingDirectory removes it.
    env.SyncDirectory(dest.parent).IgnoreError();
    return absl::OkStatus();
  }
  if (exchanged.code() != absl::StatusCode::kUnimplemented) return exchanged;
  StagingDirectory old(env);
  FNPROBE_RETURN_IF_ERROR(old.Create(dest.parent, dest.base + ".old"));
  // ~StagingDirectory removes the still empty `old` if this fails.
  FNPROBE_RETURN_IF_ERROR(env.RenameFile(dest.path, old.path()));
  const absl::Status moved = env.RenameFile(tmp.path(), dest.path);
  if (!moved.ok()) {
    if (env.RenameFile(old.path(), dest.path).ok()) old.Release();
    return moved;
  }
  tmp.Release();
  env.SyncDirectory(dest.parent).IgnoreError();
  return absl::OkStatus();  // ~StagingDirectory removes the old checkpoint
}

}  // namespace fnprobe
