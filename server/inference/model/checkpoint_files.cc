#include "server/inference/model/checkpoint_files.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/mapped_file.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"

namespace fnprobe {
namespace {

using Json = nlohmann::json;

constexpr char kSingleFile[] = "model.safetensors";
constexpr char kIndexFile[] = "model.safetensors.index.json";
// Real indexes are well under 1 MB; this only bounds hostile input.
constexpr size_t kMaxIndexBytes = 64 << 20;

// Tensor name -> shard file name, as the index lists them.
using WeightMap = std::map<std::string, std::string>;

std::string JoinPath(const std::string& dir, const std::string& name) {
  if (!dir.empty() && dir.back() == '/') return dir + name;
  return dir + "/" + name;
}

// True if something (file, directory, ...) exists at `path`.
bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// NOT_FOUND unless `dir` is an existing directory.
absl::Status CheckDirectory(const std::string& dir) {
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat(dir, ": cannot open checkpoint directory"));
  }
  if (!S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(
        absl::StrCat(dir, ": checkpoint path is not a directory"));
  }
  return absl::OkStatus();
}

// A shard name must be a plain file name inside the checkpoint directory.
absl::Status CheckShardName(const std::string& index_path,
                            const std::string& shard) {
  if (shard.empty() || shard == "." || shard == ".." ||
      shard.find('/') != std::string::npos ||
      shard.find('\0') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        index_path, ": shard name '", absl::Utf8SafeCEscape(shard),
        "' is not a plain file name inside the checkpoint directory"));
  }
  return absl::OkStatus();
}

// Reads and validates the index: {"metadata": {...}?, "weight_map":
// {tensor: shard}} with a non-empty weight_map of strings.
absl::StatusOr<WeightMap> ReadIndex(const std::string& index_path) {
  FNPROBE_ASSIGN_OR_RETURN(auto file, MappedFile::Open(index_path));
  if (file->size() > kMaxIndexBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path, ": index is ", file->size(),
                     " bytes, over the limit of ", kMaxIndexBytes));
  }
  const char* text = reinterpret_cast<const char*>(file->data());
  const Json index = Json::parse(text, text + file->size(), nullptr,
                                 /*allow_exceptions=*/false);
  if (index.is_discarded() || !index.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path, ": not a JSON object"));
  }
  auto metadata = index.find("metadata");
  if (metadata != index.end() && !metadata->is_object() &&
      !metadata->is_null()) {
    return absl::InvalidArgumentError(
        absl::StrCat(index_path, ": 'metadata' is not an object"));
  }
  auto weight_map = index.find("weight_map");
  if (weight_map == index.end() || !weight_map->is_object() ||
      weight_map->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        index_path, ": 'weight_map' is missing, not an object, or empty"));
  }
  WeightMap result;
  for (auto it = weight_map->begin(); it != weight_map->end(); ++it) {
    if (!it->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": weight_map entry '",
                       absl::Utf8SafeCEscape(it.key()), "' is not a string"));
    }
    const std::string& shard = it->get_ref<const std::string&>();
    FNPROBE_RETURN_IF_ERROR(CheckShardName(index_path, shard));
    result[it.key()] = shard;
  }
  return result;
}

}  // namespace

absl::StatusOr<std::unique_ptr<CheckpointFiles>> CheckpointFiles::Open(
    const std::string& model_dir) {
  FNPROBE_RETURN_IF_ERROR(CheckDirectory(model_dir));
  std::unique_ptr<CheckpointFiles> files(new CheckpointFiles());
  // As transformers: a single file wins over an index.
  const std::string single_path = JoinPath(model_dir, kSingleFile);
  if (Exists(single_path)) {
    FNPROBE_ASSIGN_OR_RETURN(auto reader, SafetensorsReader::Open(single_path));
    FNPROBE_RETURN_IF_ERROR(files->AddShard(std::move(reader)));
    return files;
  }
  const std::string index_path = JoinPath(model_dir, kIndexFile);
  if (!Exists(index_path)) {
    return absl::NotFoundError(absl::StrCat(
        model_dir, ": neither ", kSingleFile, " nor ", kIndexFile, " found"));
  }
  FNPROBE_RETURN_IF_ERROR(files->OpenShards(model_dir, index_path));
  return files;
}

absl::Status CheckpointFiles::OpenShards(const std::string& model_dir,
                                         const std::string& index_path) {
  FNPROBE_ASSIGN_OR_RETURN(WeightMap weight_map, ReadIndex(index_path));
  std::set<std::string> shard_names;
  for (const auto& [tensor, shard] : weight_map) shard_names.insert(shard);
  std::map<std::string, const SafetensorsReader*> by_shard;
  for (const std::string& shard : shard_names) {
    absl::StatusOr<std::unique_ptr<SafetensorsReader>> reader =
        SafetensorsReader::Open(JoinPath(model_dir, shard));
    if (!reader.ok()) {
      return Annotate(reader.status(),
                      absl::StrCat(index_path, ": shard '", shard, "'"));
    }
    by_shard[shard] = reader->get();
    FNPROBE_RETURN_IF_ERROR(AddShard(*std::move(reader)));
  }
  for (const auto& [tensor, shard] : weight_map) {
    auto owner = owner_.find(tensor);
    if (owner == owner_.end() || owner->second != by_shard[shard]) {
      return absl::InvalidArgumentError(
          absl::StrCat(index_path, ": weight_map puts tensor '",
                       absl::Utf8SafeCEscape(tensor), "' in '", shard,
                       "', which does not contain it"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckpointFiles::AddShard(
    std::unique_ptr<SafetensorsReader> shard) {
  const SafetensorsReader* reader = shard.get();
  shards_.push_back(std::move(shard));
  for (const std::string& name : reader->names()) {
    auto [it, inserted] = owner_.emplace(name, reader);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", absl::Utf8SafeCEscape(name), "' appears in both ",
          it->second->path(), " and ", reader->path()));
    }
  }
  return absl::OkStatus();
}

const TensorView* CheckpointFiles::Find(absl::string_view name) const {
  auto it = owner_.find(name);
  return it == owner_.end() ? nullptr : it->second->Find(name);
}

std::vector<std::string> CheckpointFiles::Names() const {
  std::vector<std::string> names;
  names.reserve(owner_.size());
  for (const auto& [name, shard] : owner_) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

std::string CheckpointFiles::FileOf(absl::string_view name) const {
  auto it = owner_.find(name);
  return it == owner_.end() ? std::string() : it->second->path();
}

}  // namespace fnprobe
