#include "server/inference/model/model_weights.h"

#include <ATen/Parallel.h>

#include <cstring>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_util.h"
#include "server/inference/model/cpu_threads.h"
#include "server/inference/model/family_tensor_names.h"
#include "server/inference/model/small_rows_linear.h"

namespace fnprobe {
namespace {

using Shape = std::vector<int64_t>;

std::vector<std::string> BasePrefixes(ModelFamily family) {
  const FamilyTensorNames& n = TensorNamesOf(family);
  return {n.base, n.base_alternative};
}

// Buffers older checkpoints carry that v4.38 no longer persists.
bool IsIgnoredBuffer(absl::string_view name) {
  return absl::EndsWith(name, ".attn.bias") ||
         absl::EndsWith(name, ".attn.masked_bias") ||
         absl::EndsWith(name, ".attention.bias") ||
         absl::EndsWith(name, ".attention.masked_bias") ||
         absl::EndsWith(name, "rotary_emb.inv_freq");
}

at::ScalarType TorchType(DType dtype) {
  switch (dtype) {
    case DType::kF64:
      return at::kDouble;
    case DType::kF16:
      return at::kHalf;
    case DType::kBF16:
      return at::kBFloat16;
    default:
      return at::kFloat;
  }
}

// Finds checkpoint tensors by their name inside the base model, checks
// shapes, and converts them to the compute device and dtype.
class WeightFetcher {
 public:
  WeightFetcher(const ModelConfig& config, const CheckpointFiles& files,
                const LoadOptions& options)
      : files_(files),
        options_(options),
        prefixes_(BasePrefixes(config.family)) {}

  // A tensor of the base model ("layers.0.fc1.weight").
  absl::StatusOr<at::Tensor> Get(const std::string& name, const Shape& shape) {
    for (const std::string& prefix : prefixes_) {
      if (const TensorView* view = files_.Find(prefix + name)) {
        return Convert(*view, shape);
      }
    }
    return Missing(prefixes_.front() + name, shape);
  }

  // A tensor outside the base model ("lm_head.weight").
  absl::StatusOr<at::Tensor> GetTopLevel(const std::string& name,
                                         const Shape& shape) {
    if (const TensorView* view = files_.Find(name)) {
      return Convert(*view, shape);
    }
    return Missing(name, shape);
  }

  void MarkUsed(const std::string& full_name) { used_.insert(full_name); }

  std::vector<std::string> Unused() const {
    std::vector<std::string> out;
    for (const std::string& name : files_.Names()) {
      if (!used_.contains(name) && !IsIgnoredBuffer(name)) out.push_back(name);
    }
    return out;
  }

  absl::StatusOr<LinearWeights> Linear(const std::string& name, int64_t out,
                                       int64_t in, bool bias,
                                       bool in_by_out = false) {
    LinearWeights lin;
    lin.in_by_out = in_by_out;
    FNPROBE_ASSIGN_OR_RETURN(
        lin.weight,
        Get(name + ".weight", in_by_out ? Shape{in, out} : Shape{out, in}));
    if (bias) {
      FNPROBE_ASSIGN_OR_RETURN(lin.bias, Get(name + ".bias", {out}));
    }
    return lin;
  }

  absl::StatusOr<NormWeights> Norm(const std::string& name, int64_t width,
                                   bool weight, bool bias) {
    NormWeights norm;
    if (weight) {
      FNPROBE_ASSIGN_OR_RETURN(norm.weight, Get(name + ".weight", {width}));
    }
    if (bias) {
      FNPROBE_ASSIGN_OR_RETURN(norm.bias, Get(name + ".bias", {width}));
    }
    return norm;
  }

 private:
  absl::Status Missing(const std::string& name, const Shape& shape) const {
    return absl::InvalidArgumentError(
        absl::StrCat("checkpoint has no tensor '", name, "' (expected shape [",
                     absl::StrJoin(shape, ", "), "])"));
  }

  absl::StatusOr<at::Tensor> Convert(const TensorView& view,
                                     const Shape& shape) {
    used_.insert(view.name);
    if (view.shape != shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          files_.FileOf(view.name), ": tensor '", view.name, "' has shape [",
          absl::StrJoin(view.shape, ", "), "], the config implies [",
          absl::StrJoin(shape, ", "), "]"));
    }
    if (!IsFloatingDType(view.dtype)) {
      return absl::InvalidArgumentError(absl::StrCat(
          files_.FileOf(view.name), ": tensor '", view.name, "' has dtype ",
          DTypeName(view.dtype), "; weights must be F32, F16 or BF16"));
    }
    // Copy out of the mapping: its data may be unaligned.
    at::Tensor host =
        at::empty(shape, at::TensorOptions().dtype(TorchType(view.dtype)));
    std::memcpy(host.data_ptr(), view.data, view.nbytes);
    return host.to(options_.device, options_.dtype).contiguous();
  }

  const CheckpointFiles& files_;
  const LoadOptions& options_;
  const std::vector<std::string> prefixes_;
  absl::flat_hash_set<std::string> used_;
};

absl::Status LoadOpt(const ModelConfig& c, WeightFetcher& f, ModelWeights& w) {
  const FamilyTensorNames& n = TensorNamesOf(ModelFamily::kOpt);
  const int64_t h = c.hidden_size, e = c.word_embed_proj_dim;
  const bool b = c.attention_bias, affine = c.norm_affine;
  FNPROBE_ASSIGN_OR_RETURN(w.token_embedding,
                           f.Get(n.token_embedding, {c.vocab_size, e}));
  FNPROBE_ASSIGN_OR_RETURN(
      w.position_embedding,
      f.Get(n.position_embedding, {c.max_positions + 2, h}));
  if (e != h) {
    FNPROBE_ASSIGN_OR_RETURN(w.project_in, f.Linear(n.project_in, h, e, false));
    FNPROBE_ASSIGN_OR_RETURN(w.project_out,
                             f.Linear(n.project_out, e, h, false));
  }
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string p = LayerPrefix(n, i);
    FNPROBE_ASSIGN_OR_RETURN(l.ln1, f.Norm(p + n.ln1, h, affine, affine));
    FNPROBE_ASSIGN_OR_RETURN(l.q, f.Linear(p + n.q, h, h, b));
    FNPROBE_ASSIGN_OR_RETURN(l.k, f.Linear(p + n.k, h, h, b));
    FNPROBE_ASSIGN_OR_RETURN(l.v, f.Linear(p + n.v, h, h, b));
    FNPROBE_ASSIGN_OR_RETURN(l.out, f.Linear(p + n.attn_out, h, h, b));
    FNPROBE_ASSIGN_OR_RETURN(l.ln2, f.Norm(p + n.ln2, h, affine, affine));
    FNPROBE_ASSIGN_OR_RETURN(l.fc_in,
                             f.Linear(p + n.fc_in, c.intermediate_size, h, b));
    FNPROBE_ASSIGN_OR_RETURN(l.fc_out,
                             f.Linear(p + n.fc_out, h, c.intermediate_size, b));
  }
  if (c.has_final_norm) {
    FNPROBE_ASSIGN_OR_RETURN(w.final_norm,
                             f.Norm(n.final_norm, h, affine, affine));
  }
  return absl::OkStatus();
}

absl::Status LoadGpt2(const ModelConfig& c, WeightFetcher& f, ModelWeights& w) {
  const FamilyTensorNames& n = TensorNamesOf(ModelFamily::kGpt2);
  const int64_t h = c.hidden_size, m = c.intermediate_size;
  FNPROBE_ASSIGN_OR_RETURN(w.token_embedding,
                           f.Get(n.token_embedding, {c.vocab_size, h}));
  FNPROBE_ASSIGN_OR_RETURN(w.position_embedding,
                           f.Get(n.position_embedding, {c.max_positions, h}));
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string p = LayerPrefix(n, i);
    FNPROBE_ASSIGN_OR_RETURN(l.ln1, f.Norm(p + n.ln1, h, true, true));
    FNPROBE_ASSIGN_OR_RETURN(l.qkv, f.Linear(p + n.qkv, 3 * h, h, true, true));
    FNPROBE_ASSIGN_OR_RETURN(l.out, f.Linear(p + n.attn_out, h, h, true, true));
    FNPROBE_ASSIGN_OR_RETURN(l.ln2, f.Norm(p + n.ln2, h, true, true));
    FNPROBE_ASSIGN_OR_RETURN(l.fc_in, f.Linear(p + n.fc_in, m, h, true, true));
    FNPROBE_ASSIGN_OR_RETURN(l.fc_out,
                             f.Linear(p + n.fc_out, h, m, true, true));
  }
  FNPROBE_ASSIGN_OR_RETURN(w.final_norm, f.Norm(n.final_norm, h, true, true));
  return absl::OkStatus();
}

absl::Status LoadGptNeox(const ModelConfig& c, WeightFetcher& f,
                         ModelWeights& w) {
  const FamilyTensorNames& n = TensorNamesOf(ModelFamily::kGptNeox);
  const int64_t h = c.hidden_size, m = c.intermediate_size;
  const bool b = c.attention_bias;
  FNPROBE_ASSIGN_OR_RETURN(w.token_embedding,
                           f.Get(n.token_embedding, {c.vocab_size, h}));
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string p = LayerPrefix(n, i);
    FNPROBE_ASSIGN_OR_RETURN(l.ln1, f.Norm(p + n.ln1, h, true, true));
    FNPROBE_ASSIGN_OR_RETURN(l.qkv, f.Linear(p + n.qkv, 3 * h, h, b));
    FNPROBE_ASSIGN_OR_RETURN(l.out, f.Linear(p + n.attn_out, h, h, b));
    FNPROBE_ASSIGN_OR_RETURN(l.ln2, f.Norm(p + n.ln2, h, true, true));
    FNPROBE_ASSIGN_OR_RETURN(l.fc_in, f.Linear(p + n.fc_in, m, h, true));
    FNPROBE_ASSIGN_OR_RETURN(l.fc_out, f.Linear(p + n.fc_out, h, m, true));
  }
  FNPROBE_ASSIGN_OR_RETURN(w.final_norm, f.Norm(n.final_norm, h, true, true));
  return absl::OkStatus();
}

absl::Status LoadLlama(const ModelConfig& c, WeightFetcher& f,
                       ModelWeights& w) {
  const int64_t h = c.hidden_size, m = c.intermediate_size;
  const int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const bool ab = c.attention_bias, mb = c.mlp_bias;
  const FamilyTensorNames& n = TensorNamesOf(ModelFamily::kLlama);
  FNPROBE_ASSIGN_OR_RETURN(w.token_embedding,
                           f.Get(n.token_embedding, {c.vocab_size, h}));
  for (int i = 0; i < c.num_layers; ++i) {
    LayerWeights& l = w.layers[i];
    const std::string p = LayerPrefix(n, i);
    FNPROBE_ASSIGN_OR_RETURN(l.ln1, f.Norm(p + n.ln1, h, true, false));
    FNPROBE_ASSIGN_OR_RETURN(l.q, f.Linear(p + n.q, q, h, ab));
    FNPROBE_ASSIGN_OR_RETURN(l.k, f.Linear(p + n.k, kv, h, ab));
    FNPROBE_ASSIGN_OR_RETURN(l.v, f.Linear(p + n.v, kv, h, ab));
    FNPROBE_ASSIGN_OR_RETURN(l.out, f.Linear(p + n.attn_out, h, q, ab));
    FNPROBE_ASSIGN_OR_RETURN(l.ln2, f.Norm(p + n.ln2, h, true, false));
    FNPROBE_ASSIGN_OR_RETURN(l.fc_in, f.Linear(p + n.fc_in, m, h, mb));
    FNPROBE_ASSIGN_OR_RETURN(l.fc_up, f.Linear(p + n.fc_up, m, h, mb));
    FNPROBE_ASSIGN_OR_RETURN(l.fc_out, f.Linear(p + n.fc_out, h, m, mb));
  }
  FNPROBE_ASSIGN_OR_RETURN(w.final_norm, f.Norm(n.final_norm, h, true, false));
  return absl::OkStatus();
}

// The LM head: the token embedding when tied, else its own tensor.
absl::Status LoadHead(const ModelConfig& c, WeightFetcher& f, ModelWeights& w) {
  const char* name = TensorNamesOf(c.family).lm_head;
  if (c.tie_word_embeddings) {
    f.MarkUsed(name);
    w.lm_head = w.token_embedding;
    return absl::OkStatus();
  }
  FNPROBE_ASSIGN_OR_RETURN(
      w.lm_head, f.GetTopLevel(name, {c.vocab_size, c.word_embed_proj_dim}));
  return absl::OkStatus();
}

// Arranges the loaded weights once for fast decoding:
//  - GPT-2's Conv1D weights ([in, out]) become [out, in] row-major like
//    every other family's, the layout the small-rows kernel reads;
//  - separate q/k/v projections (OPT, Llama) are concatenated into one
//    [q | k | v] product, one weight read and one call per layer instead of
//    three; q, k and v stay as views of its rows (no second copy).
void PackForDecode(const ModelConfig& c, ModelWeights& w) {
  for (LayerWeights& l : w.layers) {
    for (LinearWeights* linear : {&l.qkv, &l.out, &l.fc_in, &l.fc_out}) {
      if (!linear->in_by_out || !linear->weight.defined()) continue;
      linear->weight = linear->weight.t().contiguous();
      linear->in_by_out = false;
    }
    if (l.qkv.weight.defined() || !l.q.weight.defined()) continue;
    const int64_t q = c.num_heads * c.head_dim,
                  kv = c.num_kv_heads * c.head_dim;
    l.qkv.weight = at::cat({l.q.weight, l.k.weight, l.v.weight}, 0);
    l.q.weight = l.qkv.weight.narrow(0, 0, q);
    l.k.weight = l.qkv.weight.narrow(0, q, kv);
    l.v.weight = l.qkv.weight.narrow(0, q + kv, kv);
    if (l.q.bias.defined()) {
      l.qkv.bias = at::cat({l.q.bias, l.k.bias, l.v.bias}, 0);
      l.q.bias = l.qkv.bias.narrow(0, 0, q);
      l.k.bias = l.qkv.bias.narrow(0, q, kv);
      l.v.bias = l.qkv.bias.narrow(0, q + kv, kv);
    }
  }
}

}  // namespace

at::Tensor ApplyInRowBlocks(
    const at::Tensor& x, int64_t row_block,
    const std::function<at::Tensor(const at::Tensor&)>& product) {
  if (row_block <= 0 || x.dim() != 2) return product(x);
  const int64_t rows = x.size(0);
  const int64_t blocks = (rows + row_block - 1) / row_block;
  std::vector<at::Tensor> outputs(blocks);
  // Blocks are independent products of one shape, so on the CPU they are
  // spread over the intra-op threads (the BLAS is single-threaded inside,
  // cpu_threads.h): each block's values are what it gives alone.
  auto run = [&](int64_t first, int64_t last) {
    for (int64_t b = first; b < last; ++b) {
      const int64_t begin = b * row_block;
      const int64_t n = std::min(row_block, rows - begin);
      at::Tensor block = x.narrow(0, begin, n);
      if (n < row_block) {
        block = at::cat(
            {block, at::zeros({row_block - n, x.size(1)}, x.options())});
      }
      outputs[b] = product(block.contiguous()).narrow(0, 0, n);
    }
  };
  if (x.device().is_cpu() && blocks > 1) {
    ParallelFor(0, blocks, 1, run);
  } else {
    run(0, blocks);
  }
  return outputs.size() == 1 ? outputs[0] : at::cat(outputs, 0);
}

at::Tensor LinearWeights::Apply(const at::Tensor& x) const {
  // A decode step's few rows: the small-rows kernel reads the weight once
  // instead of packing it (small_rows_linear.h). Batch-invariant products
  // keep their fixed row blocks through the BLAS.
  if (row_block <= 0 && !in_by_out && SmallRowsLinearApplies(x, weight, bias)) {
    return SmallRowsLinear(x, weight, bias);
  }
  if (row_block <= 0 && x.dim() == 2 && x.device().is_cpu()) {
    return ParallelRows(x);
  }
  return ApplyInRowBlocks(x, row_block, [this](const at::Tensor& rows) {
    return BlasProduct(rows);
  });
}

at::Tensor LinearWeights::BlasProduct(const at::Tensor& rows) const {
  if (in_by_out) {
    // GPT-2 Conv1D: addmm(bias, x, W) with W stored [in, out].
    return bias.defined() ? at::addmm(bias, rows, weight)
                          : at::mm(rows, weight);
  }
  return at::linear(rows, weight, bias);
}

at::Tensor LinearWeights::ParallelRows(const at::Tensor& x) const {
  const int64_t rows = x.size(0);
  const int64_t threads = at::get_num_threads();
  if (threads <= 1 || rows < 2 * kParallelRowsMin) return BlasProduct(x);
  const int64_t out = in_by_out ? weight.size(1) : weight.size(0);
  at::Tensor y = at::empty({rows, out}, x.options());
  // One contiguous block of rows per thread, whole multiples of 8 but the
  // last, so each block's product is the BLAS's usual kernel.
  const int64_t block =
      std::max(kParallelRowsMin, (rows + threads - 1) / threads + 7) / 8 * 8;
  ParallelFor(0, rows, block, [&](int64_t begin, int64_t end) {
    y.narrow(0, begin, end - begin)
        .copy_(BlasProduct(x.narrow(0, begin, end - begin)));
  });
  return y;
}

absl::StatusOr<ModelWeights> LoadModelWeights(
    const ModelConfig& config, const CheckpointFiles& files,
    const LoadOptions& options, std::vector<std::string>* unused) {
  WeightFetcher fetcher(config, files, options);
  ModelWeights w;
  w.layers.resize(config.num_layers);
  try {
    switch (config.family) {
      case ModelFamily::kOpt:
        FNPROBE_RETURN_IF_ERROR(LoadOpt(config, fetcher, w));
        break;
      case ModelFamily::kGpt2:
        FNPROBE_RETURN_IF_ERROR(LoadGpt2(config, fetcher, w));
        break;
      case ModelFamily::kGptNeox:
        FNPROBE_RETURN_IF_ERROR(LoadGptNeox(config, fetcher, w));
        break;
      case ModelFamily::kLlama:
        FNPROBE_RETURN_IF_ERROR(LoadLlama(config, fetcher, w));
        break;
    }
    FNPROBE_RETURN_IF_ERROR(LoadHead(config, fetcher, w));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(
        "loading weights onto ", options.device.str(), ": ", e.what()));
  }
  if (unused != nullptr) *unused = fetcher.Unused();
  try {
    PackForDecode(config, w);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(
        "packing weights on ", options.device.str(), ": ", e.what()));
  }
  for (LinearWeights* linear : {&w.project_in, &w.project_out}) {
    linear->row_block = options.row_block;
  }
  for (LayerWeights& layer : w.layers) {
    for (LinearWeights* linear :
         {&layer.q, &layer.k, &layer.v, &layer.qkv, &layer.out, &layer.fc_in,
          &layer.fc_up, &layer.fc_out}) {
      linear->row_block = options.row_block;
    }
  }
  return w;
}

}  // namespace fnprobe
