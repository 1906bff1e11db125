#include "server/inference/model/transformer.h"

#include <cmath>
#include <limits>

#include "server/inference/model/cpu_threads.h"

namespace fnprobe {
namespace {

constexpr double kPi = 3.14159265358979323846;

at::Tensor Visit(HookVisitor& visitor, HookKind kind, int layer,
                 const at::Tensor& x) {
  return visitor.Visit(HookId{kind, layer}, x);
}

// Llama 3 frequency-dependent rope scaling (HF _compute_llama3_parameters).
at::Tensor Llama3InvFreq(const ModelConfig& c, const at::Tensor& inv_freq) {
  const double old_ctx = static_cast<double>(c.rope_original_max_positions);
  const double low_wavelen = old_ctx / c.rope_low_freq_factor;
  const double high_wavelen = old_ctx / c.rope_high_freq_factor;
  at::Tensor wavelen = 2 * kPi / inv_freq;
  at::Tensor scaled =
      at::where(wavelen > low_wavelen, inv_freq / c.rope_factor, inv_freq);
  at::Tensor smooth = (old_ctx / wavelen - c.rope_low_freq_factor) /
                      (c.rope_high_freq_factor - c.rope_low_freq_factor);
  at::Tensor smoothed = (1 - smooth) * scaled / c.rope_factor + smooth * scaled;
  at::Tensor medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen);
  return at::where(medium, smoothed, scaled);
}

}  // namespace

Transformer::Transformer(const ModelConfig& config, const ModelWeights& weights,
                         const LoadOptions& options)
    : config_(config), weights_(weights), row_block_(options.row_block) {
  if (config.rotary_dim > 0) {
    // HF: 1 / base ** (arange(0, dim, 2).float() / dim), in float32.
    at::Tensor exponents = at::arange(0, config.rotary_dim, 2,
                                      at::TensorOptions().dtype(at::kLong))
                               .to(at::kFloat) /
                           static_cast<double>(config.rotary_dim);
    at::Tensor inv_freq = at::reciprocal(at::pow(config.rope_theta, exponents));
    if (config.rope_scaling == RopeScaling::kLlama3) {
      inv_freq = Llama3InvFreq(config, inv_freq);
    }
    inv_freq_ = inv_freq.to(options.device);
  }
}

at::Tensor Transformer::Forward(const at::Tensor& ids,
                                const at::Tensor& positions,
                                const std::vector<PackedSequence>& sequences,
                                HookVisitor& visitor) const {
  at::Tensor h = Embed(ids, positions, visitor);
  for (int layer = 0; layer < config_.num_layers; ++layer) {
    h = Layer(layer, h, positions, sequences, visitor);
  }
  if (config_.has_final_norm) h = Norm(weights_.final_norm, h);
  if (weights_.project_out.weight.defined()) h = weights_.project_out.Apply(h);
  return Visit(visitor, HookKind::kFinalNorm, -1, h);
}

at::Tensor Transformer::Logits(const at::Tensor& hidden) const {
  // The LM head is a bias-free dense layer: the same paths as the others
  // (small-rows kernel, parallel row blocks, batch-invariant blocks).
  const LinearWeights head{weights_.lm_head, at::Tensor(), /*in_by_out=*/false,
                           row_block_};
  return head.Apply(hidden);
}

at::Tensor Transformer::Embed(const at::Tensor& ids,
                              const at::Tensor& positions,
                              HookVisitor& visitor) const {
  at::Tensor tokens = at::embedding(weights_.token_embedding, ids);
  tokens = Visit(visitor, HookKind::kEmbedTokens, -1, tokens);
  at::Tensor h = tokens;
  if (weights_.project_in.weight.defined()) h = weights_.project_in.Apply(h);
  if (config_.learned_positions) {
    at::Tensor pos = at::embedding(weights_.position_embedding,
                                   positions + config_.position_offset);
    pos = Visit(visitor, HookKind::kEmbedPositions, -1, pos);
    h = h + pos;
  }
  return Visit(visitor, HookKind::kEmbed, -1, h);
}

at::Tensor Transformer::Layer(int layer, const at::Tensor& x,
                              const at::Tensor& positions,
                              const std::vector<PackedSequence>& sequences,
                              HookVisitor& visitor) const {
  const LayerWeights& w = weights_.layers[layer];
  const bool pre = config_.pre_layer_norm;
  at::Tensor a =
      pre ? Visit(visitor, HookKind::kLn1, layer, Norm(w.ln1, x)) : x;
  at::Tensor attn = Attention(layer, a, positions, sequences, visitor);
  attn = Visit(visitor, HookKind::kAttnOut, layer, attn);

  if (config_.family == ModelFamily::kGptNeox && config_.parallel_residual) {
    at::Tensor m = Visit(visitor, HookKind::kLn2, layer, Norm(w.ln2, x));
    m = Visit(visitor, HookKind::kMlpOut, layer, Mlp(layer, m, visitor));
    // HF: mlp_output + attn_output + hidden_states.
    return Visit(visitor, HookKind::kResidPost, layer, m + attn + x);
  }

  // Residual add order as in each family's reference code.
  at::Tensor mid = config_.family == ModelFamily::kGpt2 ||
                           config_.family == ModelFamily::kGptNeox
                       ? attn + x
                       : x + attn;
  if (!pre) mid = Visit(visitor, HookKind::kLn1, layer, Norm(w.ln1, mid));
  mid = Visit(visitor, HookKind::kResidMid, layer, mid);

  at::Tensor m =
      pre ? Visit(visitor, HookKind::kLn2, layer, Norm(w.ln2, mid)) : mid;
  m = Visit(visitor, HookKind::kMlpOut, layer, Mlp(layer, m, visitor));
  at::Tensor out = config_.family == ModelFamily::kGptNeox ? m + mid : mid + m;
  if (!pre) out = Visit(visitor, HookKind::kLn2, layer, Norm(w.ln2, out));
  return Visit(visitor, HookKind::kResidPost, layer, out);
}

at::Tensor Transformer::Attention(int layer, const at::Tensor& x,
                                  const at::Tensor& positions,
                                  const std::vector<PackedSequence>& sequences,
                                  HookVisitor& visitor) const {
  const LayerWeights& w = weights_.layers[layer];
  const int64_t n = x.size(0), hd = config_.head_dim;
  const int64_t heads = config_.num_heads, kv_heads = config_.num_kv_heads;
  at::Tensor q, k, v;
  switch (config_.family) {
    case ModelFamily::kGpt2: {
      auto parts = w.qkv.Apply(x).split(config_.hidden_size, /*dim=*/1);
      q = parts[0], k = parts[1], v = parts[2];
      break;
    }
    case ModelFamily::kGptNeox: {
      // Rows of query_key_value are per head: [q_h k_h v_h].
      at::Tensor qkv = w.qkv.Apply(x).view({n, heads, 3 * hd});
      q = qkv.narrow(2, 0, hd).reshape({n, heads * hd});
      k = qkv.narrow(2, hd, hd).reshape({n, heads * hd});
      v = qkv.narrow(2, 2 * hd, hd).reshape({n, heads * hd});
      break;
    }
    default: {
      // [q | k | v] fused at load (model_weights.cc PackForDecode).
      auto parts = w.qkv.Apply(x).split_with_sizes(
          {heads * hd, kv_heads * hd, kv_heads * hd}, /*dim=*/1);
      q = parts[0], k = parts[1], v = parts[2];
    }
  }
  q = Visit(visitor, HookKind::kAttnQ, layer, q);
  k = Visit(visitor, HookKind::kAttnK, layer, k);
  v = Visit(visitor, HookKind::kAttnV, layer, v);

  q = q.view({n, heads, hd});
  k = k.view({n, kv_heads, hd});
  v = v.view({n, kv_heads, hd});
  if (config_.family == ModelFamily::kOpt) q = q * std::pow(hd, -0.5);
  if (config_.rotary_dim > 0) {
    at::Tensor t = positions.to(at::kFloat);
    if (config_.rope_scaling == RopeScaling::kLinear)
      t = t / config_.rope_factor;
    at::Tensor freqs = t.unsqueeze(1) * inv_freq_.unsqueeze(0);
    at::Tensor emb = at::cat({freqs, freqs}, -1);
    at::Tensor cos =
        ElementwiseInRowBlocks(emb, [](const at::Tensor& e) { return e.cos(); })
            .to(q.scalar_type())
            .unsqueeze(1);
    at::Tensor sin =
        ElementwiseInRowBlocks(emb, [](const at::Tensor& e) { return e.sin(); })
            .to(q.scalar_type())
            .unsqueeze(1);
    q = Rotate(q, cos, sin);
    k = Rotate(k, cos, sin);
  }

  // Sequences attend independently (each to its own cache), so on the CPU
  // they are spread over the intra-op threads; each one's products run
  // single-threaded inside, the same as alone.
  std::vector<at::Tensor> outputs(sequences.size());
  auto attend = [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const PackedSequence& s = sequences[i];
      const int64_t len = s.end - s.begin;
      outputs[i] =
          AttendOne(layer, q.narrow(0, s.begin, len), k.narrow(0, s.begin, len),
                    v.narrow(0, s.begin, len), *s.cache);
    }
  };
  const int64_t count = static_cast<int64_t>(sequences.size());
  if (x.device().is_cpu() && count > 1) {
    ParallelFor(0, count, 1, attend);
  } else {
    attend(0, count);
  }
  at::Tensor context =
      outputs.size() == 1 ? outputs[0] : at::cat(outputs, /*dim=*/0);
  return w.out.Apply(context);
}

// Causal attention of one sequence's new rows (q [n, heads, hd]) over its
// cached and new keys. Returns [n, heads * hd].
at::Tensor Transformer::AttendOne(int layer, const at::Tensor& q,
                                  const at::Tensor& k, const at::Tensor& v,
                                  KvCache& cache) const {
  const int64_t n = q.size(0), hd = config_.head_dim;
  const int64_t heads = config_.num_heads, kv_heads = config_.num_kv_heads;
  const int64_t past = cache.length();
  auto [keys, values] =
      cache.Append(layer, k.transpose(0, 1), v.transpose(0, 1));
  const int64_t total = past + n;
  if (kv_heads != heads) {
    // repeat_kv: each KV head serves heads / kv_heads consecutive heads.
    const int64_t rep = heads / kv_heads;
    keys = keys.unsqueeze(1)
               .expand({kv_heads, rep, total, hd})
               .reshape({heads, total, hd});
    values = values.unsqueeze(1)
                 .expand({kv_heads, rep, total, hd})
                 .reshape({heads, total, hd});
  }
  at::Tensor qh = q.transpose(0, 1);  // [heads, n, hd]
  at::Tensor kt = keys.transpose(1, 2);
  at::Tensor scores;
  switch (config_.family) {
    case ModelFamily::kGptNeox:
      scores = at::baddbmm(at::zeros({heads, n, total}, qh.options()), qh, kt,
                           /*beta=*/1.0, /*alpha=*/std::pow(hd, -0.5));
      break;
    case ModelFamily::kGpt2:
      scores = at::matmul(qh, kt);
      if (config_.scale_attn_weights) {
        scores = scores / at::full({}, std::pow(static_cast<double>(hd), 0.5),
                                   scores.options());
      }
      if (config_.scale_attn_by_inverse_layer_idx) {
        scores = scores / static_cast<double>(layer + 1);
      }
      break;
    case ModelFamily::kLlama:
      scores = at::matmul(qh, kt) / std::sqrt(static_cast<double>(hd));
      break;
    case ModelFamily::kOpt:
      scores = at::bmm(qh, kt);  // q was pre-scaled
      break;
  }
  // Mask and softmax in float32 whatever the compute dtype (as HF does for
  // half precision); a no-op in float32.
  scores = scores.to(at::kFloat);
  if (n > 1) {
    // Row i (position past + i) may not see keys after it.
    at::Tensor future =
        at::ones({n, total},
                 at::TensorOptions().dtype(at::kBool).device(scores.device()))
            .triu(past + 1);
    scores = scores.masked_fill(future, std::numeric_limits<float>::lowest());
  }
  at::Tensor probs = at::softmax(scores, -1).to(values.scalar_type());
  at::Tensor context = at::matmul(probs, values);  // [heads, n, hd]
  return context.transpose(0, 1).reshape({n, heads * hd});
}

at::Tensor Transformer::Mlp(int layer, const at::Tensor& x,
                            HookVisitor& visitor) const {
  const LayerWeights& w = weights_.layers[layer];
  at::Tensor pre = Visit(visitor, HookKind::kMlpPre, layer, w.fc_in.Apply(x));
  at::Tensor post = ElementwiseInRowBlocks(
      pre, [this](const at::Tensor& x) { return Activate(x); });
  if (w.fc_up.weight.defined()) {
    at::Tensor up =
        Visit(visitor, HookKind::kMlpPreLinear, layer, w.fc_up.Apply(x));
    post = post * up;
  }
  post = Visit(visitor, HookKind::kMlpPost, layer, post);
  return w.fc_out.Apply(post);
}

at::Tensor Transformer::Norm(const NormWeights& norm,
                             const at::Tensor& x) const {
  if (!config_.rms_norm) {
    return at::layer_norm(x, {x.size(-1)}, norm.weight, norm.bias,
                          config_.norm_eps);
  }
  // Llama RMSNorm: w * (x * rsqrt(mean(x^2) + eps)), in float32.
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * at::rsqrt(variance + config_.norm_eps);
  return norm.weight * xf.to(x.scalar_type());
}

// Vectorized transcendental functions (exp, tanh, cos, ...) round
// differently from their scalar loop, which takes the elements past the
// last full vector. Padded to whole row blocks, every element of x takes
// the vector path wherever its row sits in the batch.
at::Tensor Transformer::ElementwiseInRowBlocks(
    const at::Tensor& x,
    const std::function<at::Tensor(const at::Tensor&)>& f) const {
  const int64_t rows = x.dim() == 2 ? x.size(0) : 0;
  if (row_block_ <= 0 || rows % row_block_ == 0) return f(x);
  const int64_t padded = (rows / row_block_ + 1) * row_block_;
  at::Tensor block =
      at::cat({x, at::zeros({padded - rows, x.size(1)}, x.options())});
  return f(block).narrow(0, 0, rows);
}

at::Tensor Transformer::Activate(const at::Tensor& x) const {
  switch (config_.activation) {
    case Activation::kGelu:
      return at::gelu(x);
    case Activation::kGeluNew:
      return 0.5 * x *
             (1.0 + at::tanh(std::sqrt(2.0 / kPi) *
                             (x + 0.044715 * at::pow(x, 3.0))));
    case Activation::kGeluFast:
      return 0.5 * x *
             (1.0 + at::tanh(x * 0.7978845608 * (1.0 + 0.044715 * x * x)));
    case Activation::kGeluTanh:
      return at::gelu(x, "tanh");
    case Activation::kQuickGelu:
      return x * at::sigmoid(1.702 * x);
    case Activation::kRelu:
      return at::relu(x);
    case Activation::kSilu:
      return at::silu(x);
  }
  return x;
}

// Rotary embedding on the first rotary_dim dims of each head (rotate-half
// pairing): x * cos + rotate_half(x) * sin.
at::Tensor Transformer::Rotate(const at::Tensor& x, const at::Tensor& cos,
                               const at::Tensor& sin) const {
  const int64_t rot = config_.rotary_dim, hd = config_.head_dim;
  at::Tensor xr = rot == hd ? x : x.narrow(-1, 0, rot);
  at::Tensor x1 = xr.narrow(-1, 0, rot / 2);
  at::Tensor x2 = xr.narrow(-1, rot / 2, rot / 2);
  at::Tensor rotated = xr * cos + at::cat({-x2, x1}, -1) * sin;
  if (rot == hd) return rotated;
  return at::cat({rotated, x.narrow(-1, rot, hd - rot)}, -1);
}

}  // namespace fnprobe
