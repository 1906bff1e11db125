// SHA-256 over the bytes of several files, one after another (OpenSSL),
// for naming exactly which checkpoint a model was loaded from.
#ifndef FNPROBE_COMMON_FILE_DIGEST_H_
#define FNPROBE_COMMON_FILE_DIGEST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe {

// "sha256:<64 lowercase hex digits>" of `bytes`.
std::string Sha256Text(absl::string_view bytes);

// "sha256:<hex>" of the concatenated contents of `paths`, in the given
// order, read in 1 MiB pieces. NOT_FOUND / PERMISSION_DENIED naming a file
// that cannot be opened; DATA_LOSS naming one that cannot be read.
absl::StatusOr<std::string> Sha256OfFiles(
    const std::vector<std::string>& paths);

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_FILE_DIGEST_H_
