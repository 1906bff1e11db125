// Where a checkpoint directory goes and how it gets there atomically, for
// MakeModel (model_maker.h): the destination is inspected, the checkpoint is
// written into a temporary sibling directory (StagingDirectory), which is
// then renamed into place, or swapped with an existing one (--force), all
// through an Env (common/env.h). On failure the destination is as it was.
//
// Thread-compatible: a StagingDirectory belongs to one caller; concurrent
// calls must name different destinations.
#ifndef FNPROBE_SERVER_INFERENCE_TOOLS_STAGING_DIRECTORY_H_
#define FNPROBE_SERVER_INFERENCE_TOOLS_STAGING_DIRECTORY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/env.h"

namespace fnprobe {

// Where the checkpoint goes and what is there now.
struct CheckpointDestination {
  std::string path;    // out_dir without trailing slashes
  std::string parent;  // its parent directory ("." if none)
  std::string base;    // its last component
  bool exists = false;
  bool empty = true;
};

// INVALID_ARGUMENT for an empty out_dir or one naming ".", ".." or "/";
// FAILED_PRECONDITION for a symbolic link or something not a directory.
absl::StatusOr<CheckpointDestination> InspectDestination(
    const std::string& out_dir);

// A temporary directory that is removed (with its contents) unless
// Release()d.
class StagingDirectory {
 public:
  explicit StagingDirectory(Env& env) : env_(env) {}
  StagingDirectory(const StagingDirectory&) = delete;
  StagingDirectory& operator=(const StagingDirectory&) = delete;
  ~StagingDirectory() {
    if (!path_.empty()) env_.RemoveRecursively(path_).IgnoreError();
  }

  // Creates "<parent>/.<base>.tmp-XXXXXX" (mode 0755).
  absl::Status Create(const std::string& parent, const std::string& base);

  const std::string& path() const { return path_; }
  void Release() { path_.clear(); }

 private:
  Env& env_;
  std::string path_;
};

// Moves the finished `tmp` directory to `dest`. An absent or empty
// destination is replaced by a rename (ALREADY_EXISTS if someone filled it
// meanwhile); a non-empty one (force) is swapped atomically
// (Env::ExchangePaths) where the file system allows, else moved aside first
// and restored if the second rename fails. Syncing the parent afterwards is
// best effort: the checkpoint is in place either way.
absl::Status CommitStagingDirectory(Env& env, StagingDirectory& tmp,
                                    const CheckpointDestination& dest);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOOLS_STAGING_DIRECTORY_H_
