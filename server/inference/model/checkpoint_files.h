// The weight files of a Hugging Face checkpoint directory: either
// model.safetensors, or model.safetensors.index.json naming its shards
// (model-0000N-of-0000M.safetensors). Every shard is memory mapped.
//
// Open() checks that the index is well formed, that each shard it names is
// a plain file name inside the directory, that every tensor the index maps
// is present in that shard, and that no tensor appears in two shards.
// Tensors a shard holds beyond those its index lists are kept, as
// transformers keeps them.
//
// Thread-safe: immutable after Open.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_CHECKPOINT_FILES_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_CHECKPOINT_FILES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/safetensors_reader.h"

namespace fnprobe {

class CheckpointFiles {
 public:
  // NOT_FOUND naming the directory when neither model.safetensors nor
  // model.safetensors.index.json is there.
  static absl::StatusOr<std::unique_ptr<CheckpointFiles>> Open(
      const std::string& model_dir);

  // nullptr when absent.
  const TensorView* Find(absl::string_view name) const;

  // All tensor names, sorted.
  std::vector<std::string> Names() const;

  // The file holding `name` (for error messages); empty when absent.
  std::string FileOf(absl::string_view name) const;

 private:
  CheckpointFiles() = default;

  // Opens every shard `index_path` names and checks the index against them.
  absl::Status OpenShards(const std::string& model_dir,
                          const std::string& index_path);

  // Takes ownership of `shard` and records its tensors. INVALID_ARGUMENT if
  // one of them is already owned by another shard.
  absl::Status AddShard(std::unique_ptr<SafetensorsReader> shard);

  std::vector<std::unique_ptr<SafetensorsReader>> shards_;
  absl::flat_hash_map<std::string, const SafetensorsReader*> owner_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_CHECKPOINT_FILES_H_
