#include "server/inference/tools/random_weights.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/cpu_count.h"
#include "common/half_float.h"
#include "common/portable_hash.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"
#include "server/inference/model/family_tensor_names.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "random_weights writes little-endian tensors from host memory");

namespace fnprobe {
namespace {

// ---------------------------------------------------------------------------
// Tensor lists

// Collects the tensors of one family's checkpoint, with the names
// (family_tensor_names.h) and shapes server/inference/model/model_weights.cc
// reads.
class TensorList {
 public:
  explicit TensorList(std::string prefix) : prefix_(std::move(prefix)) {}

  void Add(const std::string& name, std::vector<int64_t> shape,
           WeightInit init) {
    specs_.push_back({prefix_ + name, std::move(shape), init});
  }
  void AddTopLevel(const std::string& name, std::vector<int64_t> shape) {
    specs_.push_back({name, std::move(shape), WeightInit::kMatrix});
  }
  // A linear layer; `in_by_out` stores the weight [in, out] (GPT-2 Conv1D).
  void Linear(const std::string& name, int64_t out, int64_t in, bool bias,
              bool in_by_out = false) {
    Add(name + ".weight",
        in_by_out ? std::vector<int64_t>{in, out}
                  : std::vector<int64_t>{out, in},
        WeightInit::kMatrix);
    if (bias) Add(name + ".bias", {out}, WeightInit::kBias);
  }
  void Norm(const std::string& name, int64_t width, bool weight, bool bias) {
    if (weight) Add(name + ".weight", {width}, WeightInit::kNormWeight);
    if (bias) Add(name + ".bias", {width}, WeightInit::kNormBias);
  }

  std::vector<WeightSpec> Take() { return std::move(specs_); }

 private:
  std::string prefix_;
  std::vector<WeightSpec> specs_;
};

std::vector<WeightSpec> OptTensors(const ModelConfig& c) {
  const FamilyTensorNames& n = TensorNamesOf(ModelFamily::kOpt);
  const int64_t h = c.hidden_size, e = c.word_embed_proj_dim;
  const int64_t m = c.intermediate_size;
  const bool b = c.attention_bias, affine = c.norm_affine;
  TensorList t(n.base);
  t.Add(n.token_embedding, {c.vocab_size, e}, WeightInit::kMatrix);
  t.Add(n.position_embedding, {c.max_positions + c.position_offset, h},
        WeightInit::kMatrix);
  if (e != h) {
    t.Linear(n.project_in, h, e, false);
    t.Linear(n.project_out, e, h, false);
  }
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = LayerPrefix(n, i);
    t.Norm(p + n.ln1, h, affine, affine);
    t.Linear(p + n.q, h, h, b);
    t.Linear(p + n.k, h, h, b);
    t.Linear(p + n.v, h, h, b);
    t.Linear(p + n.attn_out, h, h, b);
    t.Norm(p + n.ln2, h, affine, affine);
    t.Linear(p + n.fc_in, m, h, b);
    t.Linear(p + n.fc_out, h, m, b);
  }
  if (c.has_final_norm) t.Norm(n.final_norm, h, affine, affine);
  if (!c.tie_word_embeddings) t.AddTopLevel(n.lm_head, {c.vocab_size, e});
  return t.Take();
}

std::vector<WeightSpec> Gpt2Tensors(const ModelConfig& c) {
  const FamilyTensorNames& n = TensorNamesOf(ModelFamily::kGpt2);
  const int64_t h = c.hidden_size, m = c.intermediate_size;
  TensorList t(n.base);
  t.Add(n.token_embedding, {c.vocab_size, h}, WeightInit::kMatrix);
  t.Add(n.position_embedding, {c.max_positions, h}, WeightInit::kMatrix);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = LayerPrefix(n, i);
    t.Norm(p + n.ln1, h, true, true);
    t.Linear(p + n.qkv, 3 * h, h, true, true);
    t.Linear(p + n.attn_out, h, h, true, true);
    t.Norm(p + n.ln2, h, true, true);
    t.Linear(p + n.fc_in, m, h, true, true);
    t.Linear(p + n.fc_out, h, m, true, true);
  }
  t.Norm(n.final_norm, h, true, true);
  if (!c.tie_word_embeddings) t.AddTopLevel(n.lm_head, {c.vocab_size, h});
  return t.Take();
}

std::vector<WeightSpec> GptNeoxTensors(const ModelConfig& c) {
  const FamilyTensorNames& n = TensorNamesOf(ModelFamily::kGptNeox);
  const int64_t h = c.hidden_size, m = c.intermediate_size;
  const bool b = c.attention_bias;
  TensorList t(n.base);
  t.Add(n.token_embedding, {c.vocab_size, h}, WeightInit::kMatrix);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = LayerPrefix(n, i);
    t.Norm(p + n.ln1, h, true, true);
    t.Linear(p + n.qkv, 3 * h, h, b);
    t.Linear(p + n.attn_out, h, h, b);
    t.Norm(p + n.ln2, h, true, true);
    t.Linear(p + n.fc_in, m, h, true);
    t.Linear(p + n.fc_out, h, m, true);
  }
  t.Norm(n.final_norm, h, true, true);
  if (!c.tie_word_embeddings) t.AddTopLevel(n.lm_head, {c.vocab_size, h});
  return t.Take();
}

std::vector<WeightSpec> LlamaTensors(const ModelConfig& c) {
  const FamilyTensorNames& n = TensorNamesOf(ModelFamily::kLlama);
  const int64_t h = c.hidden_size, m = c.intermediate_size;
  const int64_t q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
  const bool ab = c.attention_bias, mb = c.mlp_bias;
  TensorList t(n.base);
  t.Add(n.token_embedding, {c.vocab_size, h}, WeightInit::kMatrix);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    const std::string p = LayerPrefix(n, i);
    t.Norm(p + n.ln1, h, true, false);
    t.Linear(p + n.q, q, h, ab);
    t.Linear(p + n.k, kv, h, ab);
    t.Linear(p + n.v, kv, h, ab);
    t.Linear(p + n.attn_out, h, q, ab);
    t.Norm(p + n.ln2, h, true, false);
    t.Linear(p + n.fc_in, m, h, mb);
    t.Linear(p + n.fc_up, m, h, mb);
    t.Linear(p + n.fc_out, h, m, mb);
  }
  t.Norm(n.final_norm, h, true, false);
  if (!c.tie_word_embeddings) t.AddTopLevel(n.lm_head, {c.vocab_size, h});
  return t.Take();
}

// ---------------------------------------------------------------------------
// Deterministic random values

// xoshiro256** (Blackman & Vigna), seeded through SplitMix64. Not
// thread-safe; each chunk of each tensor has its own.
class Xoshiro256 {
 public:
  explicit Xoshiro256(uint64_t seed) {
    for (uint64_t& word : s_) word = SplitMix64(seed);
  }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [-1, 1) with 53 random bits.
  double Symmetric() {
    return static_cast<double>(Next() >> 11) * 0x1.0p-52 - 1.0;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

// Fills out[0, n) with mean + stddev * N(0, 1) by the polar form of the
// Box-Muller transform (Marsaglia): two normals per accepted point of the
// unit disc, no trigonometry.
void FillNormal(Xoshiro256& rng, double mean, double stddev, float* out,
                size_t n) {
  for (size_t i = 0; i < n; i += 2) {
    double u, v, s;
    do {
      u = rng.Symmetric();
      v = rng.Symmetric();
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double f = stddev * std::sqrt(-2.0 * std::log(s) / s);
    out[i] = static_cast<float>(mean + u * f);
    if (i + 1 < n) out[i + 1] = static_cast<float>(mean + v * f);
  }
}

// The seed of the stream for chunk `chunk` of tensor `name`.
uint64_t StreamSeed(uint64_t seed, absl::string_view name, int64_t chunk) {
  uint64_t state = seed;
  return SplitMix64(state) ^ Fnv1a64(name) ^
         (static_cast<uint64_t>(chunk) * 0xd1b54a32d192ed03ULL);
}

// One chunk of one tensor, drawn into reusable buffers.
struct ChunkBuffer {
  std::vector<float> values;
  std::vector<uint16_t> halves;  // F16 / BF16 storage

  // The stored bytes of the chunk last drawn.
  const void* data(DType dtype) const {
    return dtype == DType::kF32 ? static_cast<const void*>(values.data())
                                : static_cast<const void*>(halves.data());
  }
  size_t size(DType dtype) const { return values.size() * DTypeSize(dtype); }
};

void DrawChunk(const WeightSpec& spec, int64_t chunk, uint64_t seed,
               DType dtype, ChunkBuffer& buffer) {
  const int64_t begin = chunk * kWeightChunk;
  const size_t n =
      static_cast<size_t>(std::min(kWeightChunk, spec.numel() - begin));
  buffer.values.resize(n);
  Xoshiro256 rng(StreamSeed(seed, spec.name, chunk));
  float* out = buffer.values.data();
  switch (spec.init) {
    case WeightInit::kMatrix:
      FillNormal(rng, 0.0, 0.02, out, n);
      break;
    case WeightInit::kBias:
    case WeightInit::kNormBias:
      FillNormal(rng, 0.0, 0.01, out, n);
      break;
    case WeightInit::kNormWeight:
      FillNormal(rng, 1.0, 0.02, out, n);
      break;
  }
  if (dtype == DType::kF32) return;
  buffer.halves.resize(n);
  if (dtype == DType::kF16) {
    FloatsToHalf(out, n, buffer.halves.data());
  } else {
    FloatsToBFloat16(out, n, buffer.halves.data());
  }
}

// ---------------------------------------------------------------------------
// The file

// The safetensors header (length prefix included) for `specs` in order,
// exactly as SafetensorsWriter::Serialize writes it.
std::string Header(const std::vector<WeightSpec>& specs, DType dtype) {
  std::vector<std::string> fields = {R"("__metadata__":{"format":"pt"})"};
  uint64_t offset = 0;
  for (const WeightSpec& spec : specs) {
    const uint64_t end =
        offset + static_cast<uint64_t>(spec.numel()) * DTypeSize(dtype);
    fields.push_back(absl::StrCat(
        nlohmann::json(spec.name).dump(), ":{\"dtype\":\"", DTypeName(dtype),
        "\",\"shape\":[", absl::StrJoin(spec.shape, ","),
        "],\"data_offsets\":[", offset, ",", end, "]}"));
    offset = end;
  }
  std::string json = absl::StrCat("{", absl::StrJoin(fields, ","), "}");
  json.append((8 - json.size() % 8) % 8, ' ');
  const uint64_t length = json.size();
  std::string header(reinterpret_cast<const char*>(&length), sizeof(length));
  return header + json;
}

// Draws items [begin, end) into buffers [0, end - begin) on `threads`
// threads.
void DrawWindow(const std::vector<WeightSpec>& specs,
                const std::vector<std::pair<size_t, int64_t>>& items,
                size_t begin, size_t end, uint64_t seed, DType dtype,
                size_t threads, std::vector<ChunkBuffer>& buffers) {
  std::atomic<size_t> next{begin};
  auto work = [&] {
    for (size_t k = next++; k < end; k = next++) {
      DrawChunk(specs[items[k].first], items[k].second, seed, dtype,
                buffers[k - begin]);
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
}

}  // namespace

int64_t WeightSpec::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::vector<WeightSpec> CheckpointTensors(const ModelConfig& c) {
  std::vector<WeightSpec> specs;
  switch (c.family) {
    case ModelFamily::kOpt:
      specs = OptTensors(c);
      break;
    case ModelFamily::kGpt2:
      specs = Gpt2Tensors(c);
      break;
    case ModelFamily::kGptNeox:
      specs = GptNeoxTensors(c);
      break;
    case ModelFamily::kLlama:
      specs = LlamaTensors(c);
      break;
  }
  std::sort(
      specs.begin(), specs.end(),
      [](const WeightSpec& a, const WeightSpec& b) { return a.name < b.name; });
  return specs;
}

absl::StatusOr<RandomWeightsFile> WriteRandomWeights(
    Env& env, const std::string& path, std::vector<WeightSpec> specs,
    uint64_t seed, DType dtype) {
  if (dtype != DType::kF32 && dtype != DType::kF16 && dtype != DType::kBF16) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": dtype ", DTypeName(dtype),
                     " cannot store weights (supported: F32, F16, BF16)"));
  }
  // SafetensorsWriter's order: by dtype size (one dtype here), then name.
  std::sort(
      specs.begin(), specs.end(),
      [](const WeightSpec& a, const WeightSpec& b) { return a.name < b.name; });
  RandomWeightsFile file;
  std::vector<std::pair<size_t, int64_t>> items;  // (tensor, chunk)
  for (size_t i = 0; i < specs.size(); ++i) {
    if (i > 0 && specs[i].name == specs[i - 1].name) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensor '", specs[i].name, "' listed twice"));
    }
    const int64_t numel = specs[i].numel();
    file.num_parameters += numel;
    for (int64_t c = 0; c * kWeightChunk < numel; ++c) items.emplace_back(i, c);
  }
  file.num_tensors = static_cast<int64_t>(specs.size());

  FNPROBE_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> out,
                           env.NewWritableFile(path));
  const std::string header = Header(specs, dtype);
  FNPROBE_RETURN_IF_ERROR(out->Append(header));
  file.bytes = static_cast<int64_t>(header.size());

  // Windows of chunks: one is drawn in parallel while the previous one is
  // written, so generation and I/O overlap.
  const size_t threads =
      std::min<size_t>(static_cast<size_t>(AvailableCpus()), 8);
  const size_t window = 2 * threads;
  std::vector<ChunkBuffer> buffers[2] = {std::vector<ChunkBuffer>(window),
                                         std::vector<ChunkBuffer>(window)};
  auto window_end = [&](size_t begin) {
    return std::min(items.size(), begin + window);
  };
  if (!items.empty()) {
    DrawWindow(specs, items, 0, window_end(0), seed, dtype, threads,
               buffers[0]);
  }
  for (size_t begin = 0, w = 0; begin < items.size(); begin += window, ++w) {
    const size_t next = begin + window;
    std::thread ahead;
    if (next < items.size()) {
      ahead = std::thread([&, next, w] {
        DrawWindow(specs, items, next, window_end(next), seed, dtype, threads,
                   buffers[(w + 1) % 2]);
      });
    }
    absl::Status status;
    for (size_t k = begin; k < window_end(begin) && status.ok(); ++k) {
      const ChunkBuffer& buffer = buffers[w % 2][k - begin];
      status = out->Append(absl::string_view(
          static_cast<const char*>(buffer.data(dtype)), buffer.size(dtype)));
      file.bytes += static_cast<int64_t>(buffer.size(dtype));
    }
    if (ahead.joinable()) ahead.join();
    FNPROBE_RETURN_IF_ERROR(status);
  }
  FNPROBE_RETURN_IF_ERROR(out->Sync());
  FNPROBE_RETURN_IF_ERROR(out->Close());
  return file;
}

}  // namespace fnprobe
