// The forward pass of every supported family over a packed batch: the new
// tokens of all sequences in a step are concatenated into one [N, hidden]
// matrix for the dense layers, while attention runs per sequence against
// that sequence's KV cache. No padding, so a sequence's values do not depend
// on what else is in the batch beyond BLAS blocking.
//
// Operation order follows the Hugging Face v4.38 modeling code of each
// family, so that activations match it to float32 rounding.
//
// Every hook point is a call to HookVisitor::Visit, which may record the
// tensor and may return a modified tensor that the forward then uses
// (interventions).
//
// Torch header: engine files only. Thread-compatible: Forward may run
// concurrently on distinct caches.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_TRANSFORMER_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_TRANSFORMER_H_

#include <ATen/ATen.h>

#include <functional>
#include <vector>

#include "server/inference/model/hook_points.h"
#include "server/inference/model/kv_cache.h"
#include "server/inference/model/model_config.h"
#include "server/inference/model/model_weights.h"

namespace fnprobe {

class HookVisitor {
 public:
  virtual ~HookVisitor() = default;
  // `x` is [N, width] for the packed rows; returns the tensor to continue
  // with (x itself when not intervening).
  virtual at::Tensor Visit(HookId id, const at::Tensor& x) = 0;
};

// One sequence's slice of the packed batch: rows [begin, end).
struct PackedSequence {
  KvCache* cache;
  int64_t begin;
  int64_t end;
};

class Transformer {
 public:
  // REQUIRES: `weights` were loaded for `config`; both outlive this object.
  Transformer(const ModelConfig& config, const ModelWeights& weights,
              const LoadOptions& options);

  // Runs the decoder over `ids` ([N] int64 on the device) at `positions`
  // ([N] int64) and returns the vector the LM head reads, [N, E]. Appends
  // to each sequence's cache without committing.
  at::Tensor Forward(const at::Tensor& ids, const at::Tensor& positions,
                     const std::vector<PackedSequence>& sequences,
                     HookVisitor& visitor) const;

  // LM-head logits of `hidden` rows ([R, E] -> [R, vocab]).
  at::Tensor Logits(const at::Tensor& hidden) const;

 private:
  at::Tensor Embed(const at::Tensor& ids, const at::Tensor& positions,
                   HookVisitor& visitor) const;
  at::Tensor Layer(int layer, const at::Tensor& x, const at::Tensor& positions,
                   const std::vector<PackedSequence>& sequences,
                   HookVisitor& visitor) const;
  at::Tensor Attention(int layer, const at::Tensor& x,
                       const at::Tensor& positions,
                       const std::vector<PackedSequence>& sequences,
                       HookVisitor& visitor) const;
  at::Tensor AttendOne(int layer, const at::Tensor& q, const at::Tensor& k,
                       const at::Tensor& v, KvCache& cache) const;
  at::Tensor Mlp(int layer, const at::Tensor& x, HookVisitor& visitor) const;
  at::Tensor Norm(const NormWeights& norm, const at::Tensor& x) const;
  at::Tensor Activate(const at::Tensor& x) const;
  // f(x) for an elementwise f; with row_block_ > 0, over x padded to whole
  // row blocks (batch invariance, model_weights.h ApplyInRowBlocks).
  at::Tensor ElementwiseInRowBlocks(
      const at::Tensor& x,
      const std::function<at::Tensor(const at::Tensor&)>& f) const;
  at::Tensor Rotate(const at::Tensor& x, const at::Tensor& cos,
                    const at::Tensor& sin) const;

  const ModelConfig& config_;
  const ModelWeights& weights_;
  const int64_t row_block_;  // LoadOptions::row_block, for the LM head
  at::Tensor inv_freq_;      // rotary inverse frequencies, float32 on device
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_TRANSFORMER_H_
