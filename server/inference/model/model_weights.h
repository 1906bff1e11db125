// The immutable weights of a loaded model, as libtorch tensors on one device
// in one compute dtype, arranged the same way for every family.
//
// Torch header: include only from engine files.
// Thread-safe: immutable after LoadModelWeights.
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_MODEL_WEIGHTS_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_MODEL_WEIGHTS_H_

#include <ATen/ATen.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/inference/model/checkpoint_files.h"
#include "server/inference/model/model_config.h"

namespace fnprobe {

// A dense layer. `weight` is [out, in] (torch Linear) unless `in_by_out`,
// where it is [in, out] as GPT-2's Conv1D stores it; both are applied in the
// reference's own op order. `bias` may be undefined.
// `row_block` > 0 applies the layer to x in blocks of exactly that many
// rows (ApplyInRowBlocks), so that a row's result does not depend on the
// other rows of the batch.
struct LinearWeights {
  at::Tensor weight;
  at::Tensor bias;
  bool in_by_out = false;
  int64_t row_block = 0;

  at::Tensor Apply(const at::Tensor& x) const;

 private:
  // x's product through the BLAS in one call.
  at::Tensor BlasProduct(const at::Tensor& rows) const;
  // More rows than the small-rows kernel takes (a prefill), on the CPU:
  // the BLAS runs single-threaded (cpu_threads.h), so the rows are split
  // into one block per intra-op thread, each its own BLAS call.
  at::Tensor ParallelRows(const at::Tensor& x) const;
};

// Fewest rows in one thread's block of a prefill product: below 2x this a
// product stays on one thread.
inline constexpr int64_t kParallelRowsMin = 16;

// Applies `product`, a row-wise matrix product, to x [rows, in] in blocks of
// exactly `row_block` rows, the last one zero-padded, and returns its rows
// for x's; row_block <= 0 (or a 1-D x) applies it once. Why: the BLAS picks
// its kernels and splits its work by the number of rows in a call, so a
// row's result can differ in the last bits with how many rows share the
// call and where it sits among them. With every call of one shape, each
// sequence's values are the same whatever else is in the batch (measured
// with Debian's OpenBLAS: 8 rows is position-invariant on the model shapes;
// tests/inference check it end to end). On the CPU the blocks run in
// parallel: `product` must be thread-safe.
at::Tensor ApplyInRowBlocks(
    const at::Tensor& x, int64_t row_block,
    const std::function<at::Tensor(const at::Tensor&)>& product);

// A LayerNorm or RMSNorm; weight/bias undefined when not affine.
struct NormWeights {
  at::Tensor weight;
  at::Tensor bias;
};

struct LayerWeights {
  NormWeights ln1;
  NormWeights ln2;
  // One fused projection: GPT-2's [Q|K|V] and, concatenated at load, OPT's
  // and Llama's [q|k|v] (q, k, v then hold views of its rows); GPT-NeoX's
  // per-head [q_h k_h v_h] rows. After loading no weight is in_by_out:
  // GPT-2's Conv1D weights are stored transposed to [out, in] like the rest.
  LinearWeights q, k, v;
  LinearWeights qkv;
  LinearWeights out;
  LinearWeights fc_in;   // fc1 / c_fc / dense_h_to_4h / gate_proj
  LinearWeights fc_up;   // Llama up_proj
  LinearWeights fc_out;  // fc2 / c_proj / dense_4h_to_h / down_proj
};

struct ModelWeights {
  at::Tensor token_embedding;     // [vocab, word_embed_proj_dim]
  at::Tensor position_embedding;  // learned positions, [rows, hidden]
  LinearWeights project_in;       // OPT word_embed_proj_dim != hidden
  LinearWeights project_out;
  std::vector<LayerWeights> layers;
  NormWeights final_norm;  // undefined weight when the model has none
  at::Tensor lm_head;      // [vocab, word_embed_proj_dim]
};

struct LoadOptions {
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
  // LinearWeights::row_block of every layer (and the LM head): 0 for one
  // product over the whole batch (fastest).
  int64_t row_block = 0;
};

// Reads every tensor the config calls for from `files`, checks its shape,
// and converts it to options.dtype on options.device. Keys are accepted with
// or without the family's base-model prefix ("transformer.h.0..." or
// "h.0..."); tied LM heads are re-tied; known non-persistent buffers are
// ignored. A missing tensor or wrong shape is INVALID_ARGUMENT naming the
// tensor, the file and the expected shape. Tensors that the model does not
// use are listed in `unused` (if given).
absl::StatusOr<ModelWeights> LoadModelWeights(
    const ModelConfig& config, const CheckpointFiles& files,
    const LoadOptions& options, std::vector<std::string>* unused = nullptr);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_MODEL_WEIGHTS_H_
