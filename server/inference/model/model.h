// A loaded model: its config, tokenizer and weights on one device. Loading is
// separate from serving: a Model is immutable once loaded and may be shared
// by several engines (each with its own KV caches).
//
// This header names no torch type; the weights live behind ModelRep
// (model_rep.h, engine files only).
//
// Thread-safe: immutable after Load.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_MODEL_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_MODEL_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dtype.h"
#include "server/inference/model/model_config.h"
#include "server/inference/tokenizer/tokenizer.h"

namespace fnprobe {

struct ModelOptions {
  // "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N".
  std::string device = "auto";
  // Compute dtype: F32, F16 or BF16. Checkpoint weights are converted.
  DType dtype = DType::kF32;
  // Threads for CPU math, set once at load for the whole process
  // (cpu_threads.h); 0: every CPU the process may run on.
  int threads = 0;
  // Batch-invariant products (LoadOptions::row_block): a sequence's
  // activations and logits are bit-identical whatever else shares its
  // batch, at some cost in throughput. Off: one product per layer over the
  // whole batch, where values can differ in the last bits with the batch.
  bool batch_invariant = false;
};

// The row block of batch-invariant products: the smallest block measured
// position-invariant with Debian's OpenBLAS on every model shape tested.
inline constexpr int64_t kBatchInvariantRows = 8;

struct ModelRep;

class Model {
 public:
  // Loads config.json, tokenizer.json and the safetensors weights from
  // `model_dir`. Errors name the file and what is wrong with it.
  static absl::StatusOr<std::shared_ptr<const Model>> Load(
      const std::string& model_dir, const ModelOptions& options);

  ~Model();

  const ModelConfig& config() const { return config_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const std::string& directory() const { return directory_; }
  // The device the weights live on, e.g. "cpu" or "cuda:0".
  const std::string& device() const { return device_; }
  DType dtype() const { return dtype_; }
  // Checkpoint tensors the model does not use (reported, not fatal).
  const std::vector<std::string>& unused_tensors() const { return unused_; }
  // "sha256:<hex>" of config.json and the *.safetensors files in name
  // order: which weights exactly this model computes with.
  const std::string& checkpoint_sha256() const { return checkpoint_sha256_; }

  const ModelRep& rep() const { return *rep_; }

 private:
  Model() = default;

  ModelConfig config_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::string directory_;
  std::string device_;
  std::string checkpoint_sha256_;
  DType dtype_ = DType::kF32;
  std::vector<std::string> unused_;
  std::unique_ptr<ModelRep> rep_;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_MODEL_H_
