#include "server/inference/model/model.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/file_digest.h"
#include "common/status_util.h"
#include "server/inference/model/checkpoint_files.h"
#include "server/inference/model/cpu_threads.h"
#include "server/inference/model/model_rep.h"

namespace fnprobe {
namespace {

absl::StatusOr<at::Device> ResolveDevice(const std::string& name) {
  if (name == "auto") return at::hasCUDA() ? at::Device("cuda") : at::kCPU;
  try {
    at::Device device(name);
    if (device.is_cuda() && !at::hasCUDA()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "device '", name,
          "': CUDA is not available (this libtorch has no CUDA support or "
          "no GPU is visible)"));
    }
    if (!device.is_cpu() && !device.is_cuda()) {
      return absl::InvalidArgumentError(
          absl::StrCat("device '", name, "': only cpu and cuda are supported"));
    }
    return device;
  } catch (const std::exception&) {
    return absl::InvalidArgumentError(absl::StrCat(
        "device '", name, "' is not a device (use auto, cpu, cuda, cuda:N)"));
  }
}

absl::StatusOr<at::ScalarType> ComputeType(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return at::kFloat;
    case DType::kF16:
      return at::kHalf;
    case DType::kBF16:
      return at::kBFloat16;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "compute dtype ", DTypeName(dtype), " is not one of F32, F16, BF16"));
  }
}

// SHA-256 of config.json and every *.safetensors file, in name order.
absl::StatusOr<std::string> CheckpointSha256(const std::string& model_dir) {
  std::vector<std::string> paths = {model_dir + "/config.json"};
  std::vector<std::string> shards;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(model_dir, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".safetensors") {
      shards.push_back(e.path().string());
    }
  }
  std::sort(shards.begin(), shards.end());
  paths.insert(paths.end(), shards.begin(), shards.end());
  return Sha256OfFiles(paths);
}

}  // namespace

Model::~Model() = default;

absl::StatusOr<std::shared_ptr<const Model>> Model::Load(
    const std::string& model_dir, const ModelOptions& options) {
  if (!std::filesystem::is_directory(model_dir)) {
    return absl::NotFoundError(
        absl::StrCat("model directory '", model_dir, "' does not exist"));
  }
  auto model = std::shared_ptr<Model>(new Model());
  model->directory_ = model_dir;
  model->dtype_ = options.dtype;
  FNPROBE_ASSIGN_OR_RETURN(model->config_,
                           ModelConfig::FromFile(model_dir + "/config.json"));
  FNPROBE_ASSIGN_OR_RETURN(model->tokenizer_,
                           Tokenizer::FromFile(model_dir + "/tokenizer.json"));
  FNPROBE_ASSIGN_OR_RETURN(auto files, CheckpointFiles::Open(model_dir));
  FNPROBE_ASSIGN_OR_RETURN(model->checkpoint_sha256_,
                           CheckpointSha256(model_dir));
  auto rep = std::make_unique<ModelRep>();
  FNPROBE_ASSIGN_OR_RETURN(rep->options.device, ResolveDevice(options.device));
  FNPROBE_ASSIGN_OR_RETURN(rep->options.dtype, ComputeType(options.dtype));
  rep->options.row_block = options.batch_invariant ? kBatchInvariantRows : 0;
  if (rep->options.device.is_cpu()) UseCpuThreads(options.threads);
  FNPROBE_ASSIGN_OR_RETURN(
      rep->weights,
      LoadModelWeights(model->config_, *files, rep->options, &model->unused_));
  model->device_ = rep->options.device.str();
  model->rep_ = std::move(rep);
  return std::shared_ptr<const Model>(std::move(model));
}

}  // namespace fnprobe
