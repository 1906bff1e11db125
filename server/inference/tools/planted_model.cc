#include "server/inference/tools/planted_model.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/safetensors_reader.h"
#include "common/safetensors_writer.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"
#include "server/inference/model/family_tensor_names.h"
#include "server/inference/model/hook_points.h"

namespace fnprobe {
namespace {

// The construction's constants; planted_model.h says why each is there.
constexpr double kSigma0 = 0.02;     // every embedding row's RMS about its mean
constexpr double kMarker = kSigma0;  // a: |p| in the embedding, ln1 reads +-1
constexpr double kMeanSpread = 0.001 * kSigma0;  // RMS of the row means mu_t
constexpr double kWrite = 0.05 * kSigma0;        // s: what attention writes
constexpr double kLn1MarkerGain = 1.0;
constexpr double kLn2ReadGain = kSigma0 / kWrite;  // ln2 of q+ ~ 2 + 2f
constexpr double kNeuronWeight = 2.0;
constexpr double kNeuronBias = -1.5;    // pre-activation 2.5 + 4f
constexpr double kSuppression = 300.0;  // beta: 4 beta a = 24 logits
constexpr int kNeuronsPerCondition = 2;
// The causal neurons (step 8): pre-activation kCausalSlope * (ln2[q+] -
// kCausalThreshold), exactly 0 after the activation (ReLU, or GELU
// saturated in float32: pre-activation <= -8) wherever f <= 0.2; together
// they write kCausalWrite per unit of output into c's p pair, which the
// final norm reads with gain kCausalGain.
constexpr double kCausalSlope = 30.0;
constexpr double kCausalThreshold = 2.7;  // ln2[q+] = 2 + 2f: f > 0.35
constexpr double kCausalWrite = 0.01;
constexpr double kCausalGain = 200.0;
// Causal neurons per condition, each writing a share: one zeroed costs a
// fraction of the effect, as a random control should.
constexpr int kCausalNeurons = 4;

// ---------------------------------------------------------------------------
// The weights, in float32, by tensor name

struct Tensor {
  std::vector<int64_t> shape;
  std::vector<float> values;
};

class TensorTable {
 public:
  static absl::StatusOr<TensorTable> Load(const std::string& path) {
    FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<SafetensorsReader> reader,
                             SafetensorsReader::Open(path));
    TensorTable table;
    table.path_ = path;
    for (const std::string& name : reader->names()) {
      Tensor& t = table.tensors_[name];
      t.shape = reader->Find(name)->shape;
      FNPROBE_ASSIGN_OR_RETURN(t.values, reader->ReadFloat32(name));
    }
    return table;
  }

  // The tensor `name`, which must have `shape`.
  absl::StatusOr<Tensor*> Get(const std::string& name,
                              const std::vector<int64_t>& shape) {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) {
      return absl::NotFoundError(
          absl::StrCat(path_, ": no tensor '", name, "'"));
    }
    if (it->second.shape != shape) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": tensor '", name, "' has shape [",
                       absl::StrJoin(it->second.shape, ","), "], expected [",
                       absl::StrJoin(shape, ","), "]"));
    }
    return &it->second;
  }

  // Replaces the file atomically, float32, with the metadata that
  // save_pretrained (and WriteRandomWeights) write.
  absl::Status Write() const {
    SafetensorsWriter writer;
    writer.SetMetadata("format", "pt");
    for (const auto& [name, t] : tensors_) {
      FNPROBE_RETURN_IF_ERROR(writer.AddFloat32(name, t.shape, t.values));
    }
    return writer.WriteFile(path_);
  }

 private:
  std::string path_;
  std::map<std::string, Tensor> tensors_;
};

// A norm's gain and bias.
struct NormRef {
  Tensor* weight = nullptr;
  Tensor* bias = nullptr;
};

// Rows [row_begin, row_begin + rows) of a linear layer's output, stored
// [out, in] (torch Linear) or [in, out] (GPT-2 Conv1D, where one tensor may
// hold Q, K and V side by side).
struct LinearRef {
  Tensor* weight = nullptr;
  Tensor* bias = nullptr;
  int64_t row_begin = 0;
  int64_t rows = 0;
  int64_t in = 0;
  bool in_by_out = false;

  float& w(int64_t out, int64_t i) {
    const int64_t r = row_begin + out;
    return in_by_out ? weight->values[i * weight->shape[1] + r]
                     : weight->values[r * in + i];
  }
  float& b(int64_t out) { return bias->values[row_begin + out]; }
};

struct LayerRefs {
  NormRef ln1, ln2;
  LinearRef q, k, v, o, fc1, fc2;
};

struct ModelRefs {
  Tensor* embed = nullptr;
  Tensor* positions = nullptr;
  NormRef final_norm;
  std::vector<LayerRefs> layers;
};

// Looks tensors up under one family's names and checks their shapes.
class RefResolver {
 public:
  RefResolver(TensorTable& table, const ModelConfig& config)
      : table_(table), h_(config.hidden_size) {}

  absl::StatusOr<NormRef> Norm(const std::string& name) {
    NormRef n;
    FNPROBE_ASSIGN_OR_RETURN(n.weight, table_.Get(name + ".weight", {h_}));
    FNPROBE_ASSIGN_OR_RETURN(n.bias, table_.Get(name + ".bias", {h_}));
    return n;
  }

  // A whole linear layer of `out` x `in`.
  absl::StatusOr<LinearRef> Linear(const std::string& name, int64_t out,
                                   int64_t in, bool in_by_out) {
    return Slice(name, out, in, in_by_out, 0, out);
  }

  // Rows [begin, begin + rows) of a linear layer of `out` x `in`.
  absl::StatusOr<LinearRef> Slice(const std::string& name, int64_t out,
                                  int64_t in, bool in_by_out, int64_t begin,
                                  int64_t rows) {
    LinearRef l;
    const std::vector<int64_t> shape = in_by_out
                                           ? std::vector<int64_t>{in, out}
                                           : std::vector<int64_t>{out, in};
    FNPROBE_ASSIGN_OR_RETURN(l.weight, table_.Get(name + ".weight", shape));
    FNPROBE_ASSIGN_OR_RETURN(l.bias, table_.Get(name + ".bias", {out}));
    l.row_begin = begin;
    l.rows = rows;
    l.in = in;
    l.in_by_out = in_by_out;
    return l;
  }

  absl::StatusOr<Tensor*> Matrix(const std::string& name, int64_t rows) {
    return table_.Get(name, {rows, h_});
  }

 private:
  TensorTable& table_;
  int64_t h_;
};

absl::StatusOr<LayerRefs> OptLayer(RefResolver& r, const ModelConfig& c,
                                   int layer) {
  const FamilyTensorNames& n = TensorNamesOf(ModelFamily::kOpt);
  const std::string p = n.base + LayerPrefix(n, layer);
  const int64_t h = c.hidden_size, m = c.intermediate_size;
  LayerRefs l;
  FNPROBE_ASSIGN_OR_RETURN(l.ln1, r.Norm(p + n.ln1));
  FNPROBE_ASSIGN_OR_RETURN(l.q, r.Linear(p + n.q, h, h, false));
  FNPROBE_ASSIGN_OR_RETURN(l.k, r.Linear(p + n.k, h, h, false));
  FNPROBE_ASSIGN_OR_RETURN(l.v, r.Linear(p + n.v, h, h, false));
  FNPROBE_ASSIGN_OR_RETURN(l.o, r.Linear(p + n.attn_out, h, h, false));
  FNPROBE_ASSIGN_OR_RETURN(l.ln2, r.Norm(p + n.ln2));
  FNPROBE_ASSIGN_OR_RETURN(l.fc1, r.Linear(p + n.fc_in, m, h, false));
  FNPROBE_ASSIGN_OR_RETURN(l.fc2, r.Linear(p + n.fc_out, h, m, false));
  return l;
}

absl::StatusOr<LayerRefs> Gpt2Layer(RefResolver& r, const ModelConfig& c,
                                    int layer) {
  const FamilyTensorNames& n = TensorNamesOf(ModelFamily::kGpt2);
  const std::string p = n.base + LayerPrefix(n, layer);
  const int64_t h = c.hidden_size, m = c.intermediate_size;
  LayerRefs l;
  FNPROBE_ASSIGN_OR_RETURN(l.ln1, r.Norm(p + n.ln1));
  // c_attn's outputs are [Q | K | V].
  FNPROBE_ASSIGN_OR_RETURN(l.q, r.Slice(p + n.qkv, 3 * h, h, true, 0, h));
  FNPROBE_ASSIGN_OR_RETURN(l.k, r.Slice(p + n.qkv, 3 * h, h, true, h, h));
  FNPROBE_ASSIGN_OR_RETURN(l.v, r.Slice(p + n.qkv, 3 * h, h, true, 2 * h, h));
  FNPROBE_ASSIGN_OR_RETURN(l.o, r.Linear(p + n.attn_out, h, h, true));
  FNPROBE_ASSIGN_OR_RETURN(l.ln2, r.Norm(p + n.ln2));
  FNPROBE_ASSIGN_OR_RETURN(l.fc1, r.Linear(p + n.fc_in, m, h, true));
  FNPROBE_ASSIGN_OR_RETURN(l.fc2, r.Linear(p + n.fc_out, h, m, true));
  return l;
}

absl::StatusOr<ModelRefs> ResolveRefs(TensorTable& table,
                                      const ModelConfig& c) {
  RefResolver r(table, c);
  const bool opt = c.family == ModelFamily::kOpt;
  // CheckPlantable admits OPT and GPT-2 only.
  const FamilyTensorNames& n =
      TensorNamesOf(opt ? ModelFamily::kOpt : ModelFamily::kGpt2);
  const std::string base = n.base;
  ModelRefs refs;
  FNPROBE_ASSIGN_OR_RETURN(refs.embed,
                           r.Matrix(base + n.token_embedding, c.vocab_size));
  FNPROBE_ASSIGN_OR_RETURN(refs.positions,
                           r.Matrix(base + n.position_embedding,
                                    c.max_positions + c.position_offset));
  FNPROBE_ASSIGN_OR_RETURN(refs.final_norm, r.Norm(base + n.final_norm));
  for (int layer = 0; layer < c.num_layers; ++layer) {
    FNPROBE_ASSIGN_OR_RETURN(
        LayerRefs l, opt ? OptLayer(r, c, layer) : Gpt2Layer(r, c, layer));
    refs.layers.push_back(l);
  }
  return refs;
}

// ---------------------------------------------------------------------------
// The construction

// The planted residual dims of every condition, p+ p- q+ q- each.
std::vector<int64_t> PlantedDims(const PlantedLayout& layout) {
  std::vector<int64_t> dims;
  for (const PlantedConditionLayout& c : layout.conditions) {
    dims.insert(dims.end(),
                {c.input_plus, c.input_minus, c.output_plus, c.output_minus});
  }
  return dims;
}

// Step 3 for one row: ordinary dims re-scaled to make the row's variance
// exactly kSigma0^2 about its mean `mu`; p pairs +-a by membership in
// `condition` (-1: none); q dims 0.
void PlantEmbeddingRow(float* row, int64_t hidden, double mu, int condition,
                       const PlantedLayout& layout) {
  const int64_t n = layout.ordinary_dims;
  const int64_t num_conditions = static_cast<int64_t>(layout.conditions.size());
  double mean = 0.0;
  for (int64_t d = 0; d < n; ++d) mean += row[d];
  mean /= static_cast<double>(n);
  double norm2 = 0.0;
  for (int64_t d = 0; d < n; ++d) norm2 += (row[d] - mean) * (row[d] - mean);
  // Mean over all dims is mu: the p pairs sum to 0 and q dims are 0.
  const double shift = mu * static_cast<double>(hidden) / n;
  // Sum of squares about mu of: the shifted ordinary dims' constant part
  // n (shift - mu)^2, the p pairs 2 C (a^2 + mu^2), the q dims 2 C mu^2.
  const double fixed = n * (shift - mu) * (shift - mu) +
                       2.0 * num_conditions * (kMarker * kMarker + 2 * mu * mu);
  const double target = hidden * kSigma0 * kSigma0 - fixed;
  const double scale = norm2 > 0 ? std::sqrt(target / norm2) : 0.0;
  for (int64_t d = 0; d < n; ++d) {
    row[d] = static_cast<float>((row[d] - mean) * scale + shift);
  }
  for (int64_t c = 0; c < num_conditions; ++c) {
    const PlantedConditionLayout& cond = layout.conditions[c];
    const double sign = c == condition ? 1.0 : -1.0;
    row[cond.input_plus] = static_cast<float>(sign * kMarker);
    row[cond.input_minus] = static_cast<float>(-sign * kMarker);
    row[cond.output_plus] = 0.0f;
    row[cond.output_minus] = 0.0f;
  }
}

// The row means mu_t: each row's own (random) ordinary-dim mean, scaled so
// that their RMS over the vocabulary is kMeanSpread.
std::vector<double> RowMeans(const Tensor& embed, int64_t ordinary_dims) {
  const int64_t rows = embed.shape[0], hidden = embed.shape[1];
  std::vector<double> means(rows, 0.0);
  double square_sum = 0.0;
  for (int64_t t = 0; t < rows; ++t) {
    for (int64_t d = 0; d < ordinary_dims; ++d) {
      means[t] += embed.values[t * hidden + d];
    }
    means[t] /= static_cast<double>(ordinary_dims);
    square_sum += means[t] * means[t];
  }
  const double rms = std::sqrt(square_sum / rows);
  for (double& m : means) m = rms > 0 ? m * kMeanSpread / rms : 0.0;
  return means;
}

void PlantEmbeddings(Tensor& embed, const PlantedLayout& layout) {
  absl::flat_hash_map<int64_t, int> condition_of;
  for (size_t c = 0; c < layout.conditions.size(); ++c) {
    for (int64_t id : layout.conditions[c].token_ids) {
      condition_of[id] = static_cast<int>(c);
    }
  }
  const std::vector<double> means = RowMeans(embed, layout.ordinary_dims);
  const int64_t hidden = embed.shape[1];
  for (int64_t t = 0; t < embed.shape[0]; ++t) {
    auto it = condition_of.find(t);
    PlantEmbeddingRow(&embed.values[t * hidden], hidden, means[t],
                      it == condition_of.end() ? -1 : it->second, layout);
  }
}

// Step 5: zero gain and bias on planted dims, then `gain` on `readable`.
void PlantNorm(NormRef norm, const std::vector<int64_t>& planted,
               const std::vector<int64_t>& readable, double gain) {
  for (int64_t d : planted) {
    norm.weight->values[d] = 0.0f;
    norm.bias->values[d] = 0.0f;
  }
  for (int64_t d : readable) norm.weight->values[d] = static_cast<float>(gain);
}

// Zeroes what `linear` reads from the `dims` inputs.
void ZeroInputs(LinearRef& linear, const std::vector<int64_t>& dims) {
  for (int64_t out = 0; out < linear.rows; ++out) {
    for (int64_t d : dims) linear.w(out, d) = 0.0f;
  }
}

void ZeroRow(LinearRef& linear, int64_t out) {
  for (int64_t i = 0; i < linear.in; ++i) linear.w(out, i) = 0.0f;
  linear.b(out) = 0.0f;
}

// Step 4 for one layer.
void PlantAttention(LayerRefs& l, bool planted_layer, const ModelConfig& c,
                    const PlantedLayout& layout,
                    const std::vector<int64_t>& planted) {
  for (LinearRef* qkv : {&l.q, &l.k, &l.v}) ZeroInputs(*qkv, planted);
  for (int64_t out = 0; out < l.o.rows; ++out) ZeroRow(l.o, out);
  if (!planted_layer) return;
  const int64_t first = layout.head * c.head_dim;
  for (int64_t slot = 0; slot < c.head_dim; ++slot) {
    ZeroRow(l.q, first + slot);
    ZeroRow(l.k, first + slot);
  }
  for (const PlantedConditionLayout& cond : layout.conditions) {
    const int64_t slot = first + cond.head_slot;
    ZeroRow(l.v, slot);
    l.v.w(slot, cond.input_plus) = static_cast<float>(0.5 / kLn1MarkerGain);
    l.v.w(slot, cond.input_minus) = static_cast<float>(-0.5 / kLn1MarkerGain);
    // 4 for c's words, 2 for others: the average is 2 + 2f, so that a q
    // unit zeroed downstream reads as less than no c word at all (f = -1),
    // not as f = 1/2; and never near 0, where float rounding of the +-1
    // would show as context-dependent noise.
    l.v.b(slot) = 3.0f;
    l.o.w(cond.output_plus, slot) = static_cast<float>(kWrite);
    l.o.w(cond.output_minus, slot) = static_cast<float>(-kWrite);
  }
}

// Step 6 for one layer.
void PlantMlp(LayerRefs& l, bool planted_layer, const PlantedLayout& layout,
              const std::vector<int64_t>& planted) {
  ZeroInputs(l.fc1, planted);
  for (int64_t d : planted) ZeroRow(l.fc2, d);
  if (!planted_layer) return;
  for (const PlantedConditionLayout& cond : layout.conditions) {
    const int64_t reads[] = {cond.output_plus, cond.output_minus};
    const double weights[] = {kNeuronWeight, -kNeuronWeight};
    for (size_t k = 0; k < cond.neurons.size(); ++k) {
      const int64_t n = cond.neurons[k];
      ZeroRow(l.fc1, n);
      l.fc1.w(n, reads[k]) = static_cast<float>(weights[k]);
      l.fc1.b(n) = static_cast<float>(kNeuronBias);
      for (int64_t d = 0; d < l.fc2.rows; ++d) l.fc2.w(d, n) = 0.0f;
    }
    // Step 8: the causal neurons, the only ones writing a planted dim.
    for (const int64_t n : cond.causal_neurons) {
      ZeroRow(l.fc1, n);
      l.fc1.w(n, cond.output_plus) = static_cast<float>(kCausalSlope);
      l.fc1.b(n) = static_cast<float>(-kCausalSlope * kCausalThreshold);
      for (int64_t d = 0; d < l.fc2.rows; ++d) l.fc2.w(d, n) = 0.0f;
      l.fc2.w(cond.input_plus, n) =
          static_cast<float>(kCausalWrite / kCausalNeurons);
      l.fc2.w(cond.input_minus, n) =
          static_cast<float>(-kCausalWrite / kCausalNeurons);
    }
  }
}

void PlantLayers(ModelRefs& refs, const ModelConfig& c,
                 const PlantedLayout& layout) {
  const std::vector<int64_t> planted = PlantedDims(layout);
  std::vector<int64_t> inputs, outputs;
  for (const PlantedConditionLayout& cond : layout.conditions) {
    inputs.insert(inputs.end(), {cond.input_plus, cond.input_minus});
    outputs.insert(outputs.end(), {cond.output_plus, cond.output_minus});
  }
  const std::vector<int64_t> none;
  for (int64_t layer = 0; layer < c.num_layers; ++layer) {
    LayerRefs& l = refs.layers[layer];
    const bool here = layer == layout.layer;
    PlantNorm(l.ln1, planted, here ? inputs : none, kLn1MarkerGain);
    PlantNorm(l.ln2, planted, here ? outputs : none, kLn2ReadGain);
    PlantAttention(l, here, c, layout, planted);
    PlantMlp(l, here, layout, planted);
  }
}

// Step 7.
void PlantFinalNorm(NormRef norm, const PlantedLayout& layout) {
  PlantNorm(norm, PlantedDims(layout), {}, 0.0);
  for (const PlantedConditionLayout& cond : layout.conditions) {
    norm.bias->values[cond.input_plus] = static_cast<float>(-kSuppression);
    norm.bias->values[cond.input_minus] = static_cast<float>(kSuppression);
    // Step 8: the causal neuron's write reaches the logits.
    norm.weight->values[cond.input_plus] = static_cast<float>(kCausalGain);
    norm.weight->values[cond.input_minus] = static_cast<float>(kCausalGain);
  }
}

// ---------------------------------------------------------------------------
// Ground truth

// The indices of hook point `id` that respond to `cond` (see the header).
std::vector<int64_t> RespondingIndices(HookId id,
                                       const PlantedConditionLayout& cond,
                                       const PlantedLayout& layout) {
  const bool here = id.layer == layout.layer;
  const std::vector<int64_t> outputs = {cond.output_plus, cond.output_minus};
  switch (id.kind) {
    case HookKind::kResidMid:
    case HookKind::kResidPost:
      return outputs;
    case HookKind::kAttnOut:
    case HookKind::kLn2:
      return here ? outputs : std::vector<int64_t>{};
    case HookKind::kMlpPre: {
      // The causal neuron's input follows the context; its output is 0
      // wherever f <= 1/2, every generated time point of a task prompt.
      if (!here) return {};
      std::vector<int64_t> units = cond.neurons;
      units.insert(units.end(), cond.causal_neurons.begin(),
                   cond.causal_neurons.end());
      return units;
    }
    case HookKind::kMlpPost:
      return here ? cond.neurons : std::vector<int64_t>{};
    default:
      return {};
  }
}

absl::Status CheckPlantable(const ModelConfig& c) {
  if (c.family != ModelFamily::kOpt && c.family != ModelFamily::kGpt2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "planted models need learned positions and a tied LM head: family ",
        FamilyName(c.family), " is not supported (use opt or gpt2)"));
  }
  if (!c.pre_layer_norm || !c.has_final_norm || !c.norm_affine ||
      !c.learned_positions || !c.tie_word_embeddings ||
      c.word_embed_proj_dim != c.hidden_size || !c.attention_bias ||
      !c.mlp_bias) {
    return absl::InvalidArgumentError(
        "planted models need pre-LayerNorm blocks with affine norms and "
        "biases, learned positions and tied, unprojected embeddings");
  }
  return absl::OkStatus();
}

}  // namespace

int64_t MaxPlantedConditions(const ModelConfig& config) {
  return std::min(
      {config.hidden_size / 8, config.head_dim,
       config.intermediate_size / (2 * (kNeuronsPerCondition + 1))});
}

absl::StatusOr<PlantedLayout> LayoutPlantedModel(
    const ModelConfig& config, const PlantSpec& spec,
    const std::vector<int64_t>& token_ids) {
  FNPROBE_RETURN_IF_ERROR(CheckPlantable(config));
  const int64_t count = static_cast<int64_t>(spec.conditions.size());
  const int64_t max = MaxPlantedConditions(config);
  if (count > max) {
    return absl::InvalidArgumentError(absl::StrCat(
        "conditions: ", count, " conditions do not fit a model of hidden size ",
        config.hidden_size, " (at most ", max,
        ": each takes 4 residual dims, at most half of them planted, one "
        "value slot of a ",
        config.head_dim, "-dim head and ",
        kNeuronsPerCondition + kCausalNeurons, " neurons)"));
  }
  if (static_cast<int64_t>(token_ids.size()) != spec.num_words()) {
    return absl::InternalError("one token id per planted word expected");
  }
  PlantedLayout layout;
  layout.layer = 0;
  layout.head = config.num_heads - 1;
  layout.ordinary_dims = config.hidden_size - 4 * count;
  const int64_t first_neuron =
      config.intermediate_size - kNeuronsPerCondition * count;
  size_t next_id = 0;
  for (int64_t c = 0; c < count; ++c) {
    PlantedConditionLayout cond;
    cond.name = spec.conditions[c].name;
    cond.words = spec.conditions[c].words;
    for (size_t w = 0; w < cond.words.size(); ++w) {
      cond.token_ids.push_back(token_ids[next_id++]);
    }
    const int64_t base = layout.ordinary_dims + 4 * c;
    cond.input_plus = base, cond.input_minus = base + 1;
    cond.output_plus = base + 2, cond.output_minus = base + 3;
    cond.head_slot = c;
    for (int k = 0; k < kNeuronsPerCondition; ++k) {
      cond.neurons.push_back(first_neuron + kNeuronsPerCondition * c + k);
    }
    // Below the planted neurons, so that theirs keep their indices.
    for (int k = 0; k < kCausalNeurons; ++k) {
      cond.causal_neurons.push_back(first_neuron - kCausalNeurons * count +
                                    kCausalNeurons * c + k);
    }
    layout.conditions.push_back(std::move(cond));
  }
  return layout;
}

std::vector<std::string> PlantedUnitNames(const ModelConfig& config,
                                          const PlantedLayout& layout,
                                          size_t condition) {
  std::vector<std::string> units;
  const PlantedConditionLayout& cond = layout.conditions[condition];
  for (const HookSpec& hook : ModelHookPoints(config)) {
    absl::StatusOr<HookId> id = ParseHookName(hook.name);
    if (!id.ok()) continue;  // every name ModelHookPoints gives parses
    std::vector<int64_t> indices = RespondingIndices(*id, cond, layout);
    std::sort(indices.begin(), indices.end());
    for (int64_t i : indices)
      units.push_back(absl::StrCat(hook.name, "[", i, "]"));
  }
  return units;
}

// {
//   "format": "fnprobe-planted-1",
//   "shape": "tiny", "family": "opt", "seed": 0,
//   "hidden_size": 64, "num_layers": 2, "intermediate_size": 256,
//   "planted_layer": 0, "planted_head": 3, "ordinary_dims": 56,
//   "conditions": [
//     {"name": "alpha", "words": ["zorblat"], "token_ids": [1000],
//      "input_dims": [56, 57], "output_dims": [58, 59],
//      "neurons": [254, 255],
//      "units": ["blocks.0.attn_out[58]", ...]}
//   ]
// }
std::string PlantedJson(const ModelConfig& config, const PlantedLayout& layout,
                        const std::string& shape, uint64_t seed) {
  nlohmann::ordered_json j;
  j["format"] = "fnprobe-planted-1";
  j["shape"] = shape;
  j["family"] = std::string(FamilyName(config.family));
  j["seed"] = seed;
  j["hidden_size"] = config.hidden_size;
  j["num_layers"] = config.num_layers;
  j["intermediate_size"] = config.intermediate_size;
  j["planted_layer"] = layout.layer;
  j["planted_head"] = layout.head;
  j["ordinary_dims"] = layout.ordinary_dims;
  j["conditions"] = nlohmann::ordered_json::array();
  for (size_t c = 0; c < layout.conditions.size(); ++c) {
    const PlantedConditionLayout& cond = layout.conditions[c];
    nlohmann::ordered_json item;
    item["name"] = cond.name;
    item["words"] = cond.words;
    item["token_ids"] = cond.token_ids;
    item["input_dims"] = {cond.input_plus, cond.input_minus};
    item["output_dims"] = {cond.output_plus, cond.output_minus};
    item["neurons"] = cond.neurons;
    item["causal_neurons"] = cond.causal_neurons;
    item["units"] = PlantedUnitNames(config, layout, c);
    j["conditions"].push_back(std::move(item));
  }
  return j.dump(2) + "\n";
}

absl::Status PlantWeights(const std::string& safetensors_path,
                          const ModelConfig& config,
                          const PlantedLayout& layout) {
  FNPROBE_RETURN_IF_ERROR(CheckPlantable(config));
  FNPROBE_ASSIGN_OR_RETURN(TensorTable table,
                           TensorTable::Load(safetensors_path));
  FNPROBE_ASSIGN_OR_RETURN(ModelRefs refs, ResolveRefs(table, config));
  PlantEmbeddings(*refs.embed, layout);
  std::fill(refs.positions->values.begin(), refs.positions->values.end(), 0.0f);
  PlantLayers(refs, config, layout);
  PlantFinalNorm(refs.final_norm, layout);
  return table.Write();
}

}  // namespace fnprobe
