#include "server/inference/model/torch_engine.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/inference/model/capture_visitor.h"
#include "server/inference/model/intervention_applier.h"
#include "server/inference/model/kv_cache.h"
#include "server/inference/model/model_rep.h"
#include "server/inference/model/transformer.h"

namespace fnprobe {
namespace {

// Host-side description of one step: packed ids, positions, and which rows
// are captured and fed to the LM head.
struct StepPlan {
  std::vector<int64_t> ids;
  std::vector<int64_t> positions;
  std::vector<PackedSequence> sequences;
  std::vector<int64_t> capture_rows;
  std::vector<int64_t> logit_rows;
  bool capture_all_rows = true;
};

// Logits computed per chunk of rows on the CPU: below glibc's largest mmap
// threshold (32 MiB), so the allocator reuses the chunk's memory.
constexpr int64_t kLogitChunkBytes = int64_t{16} << 20;

// Copies a device tensor into a host float vector in one transfer.
void CopyToHost(const at::Tensor& t, std::vector<float>& out) {
  out.resize(static_cast<size_t>(t.numel()));
  if (t.numel() == 0) return;
  at::Tensor host = at::from_blob(out.data(), t.sizes(), at::kFloat);
  host.copy_(t);
}

class TorchEngine final : public Engine {
 public:
  explicit TorchEngine(std::shared_ptr<const Model> model)
      : model_(std::move(model)),
        rep_(model_->rep()),
        transformer_(model_->config(), rep_.weights, rep_.options) {}

  const ModelConfig& config() const override { return model_->config(); }
  std::string device() const override { return model_->device(); }

  SequenceId StartSequence() override {
    SequenceId id = next_id_++;
    caches_.emplace(id, KvCache(static_cast<int>(config().num_layers)));
    return id;
  }

  void EndSequence(SequenceId sequence) override { caches_.erase(sequence); }

  int64_t SequenceLength(SequenceId sequence) const override {
    auto it = caches_.find(sequence);
    return it == caches_.end() ? -1 : it->second.length();
  }

  absl::Status Step(const StepRequest& request, StepResult* result) override {
    FNPROBE_ASSIGN_OR_RETURN(StepPlan plan, Plan(request, *result));
    try {
      c10::InferenceMode guard;
      Run(request, plan, *result);
    } catch (const std::exception& e) {
      return absl::InternalError(
          absl::StrCat("forward step on ", device(), " failed: ", e.what()));
    }
    for (size_t i = 0; i < request.items.size(); ++i) {
      caches_.at(request.items[i].sequence)
          .Commit(static_cast<int64_t>(request.items[i].tokens.size()));
    }
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<StepPlan> Plan(const StepRequest& request,
                                StepResult& result) {
    StepPlan plan;
    result.value_row_begin.clear();
    result.logit_row_begin.clear();
    absl::flat_hash_set<SequenceId> seen;
    const ModelConfig& c = config();
    for (size_t i = 0; i < request.items.size(); ++i) {
      const StepItem& item = request.items[i];
      auto it = caches_.find(item.sequence);
      std::string where =
          absl::StrCat("step item ", i, " (sequence ", item.sequence, ")");
      if (it == caches_.end()) {
        return absl::InvalidArgumentError(where + ": unknown sequence");
      }
      if (!seen.insert(item.sequence).second) {
        return absl::InvalidArgumentError(where + ": sequence appears twice");
      }
      if (item.tokens.empty()) {
        return absl::InvalidArgumentError(where + ": no tokens");
      }
      const int64_t past = it->second.length();
      const int64_t n = static_cast<int64_t>(item.tokens.size());
      if (past + n > c.max_positions) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": ", past + n, " tokens exceed the model's context of ",
            c.max_positions));
      }
      const int64_t begin = static_cast<int64_t>(plan.ids.size());
      for (int64_t j = 0; j < n; ++j) {
        int64_t token = item.tokens[j];
        if (token < 0 || token >= c.vocab_size) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": token id ", token,
                           " outside the vocabulary [0, ", c.vocab_size, ")"));
        }
        plan.ids.push_back(token);
        plan.positions.push_back(past + j);
      }
      const int64_t end = begin + n;
      plan.sequences.push_back({&it->second, begin, end});
      result.value_row_begin.push_back(
          static_cast<int64_t>(plan.capture_rows.size()));
      const int64_t first = item.all_positions ? begin : end - 1;
      if (!item.all_positions && n > 1) plan.capture_all_rows = false;
      for (int64_t r = first; r < end; ++r) plan.capture_rows.push_back(r);
      result.logit_row_begin.push_back(
          item.want_logits ? static_cast<int64_t>(plan.logit_rows.size()) : -1);
      if (item.want_logits) {
        for (int64_t r = first; r < end; ++r) plan.logit_rows.push_back(r);
      }
    }
    result.batch_tokens = static_cast<int64_t>(plan.ids.size());
    result.batch_sequences = static_cast<int64_t>(request.items.size());
    return plan;
  }

  at::Tensor ToDevice(std::vector<int64_t>& v) const {
    return at::from_blob(v.data(), {static_cast<int64_t>(v.size())}, at::kLong)
        .to(rep_.options.device);
  }

  void Run(const StepRequest& request, StepPlan& plan, StepResult& result) {
    at::Tensor ids = ToDevice(plan.ids);
    at::Tensor positions = ToDevice(plan.positions);
    at::Tensor rows;
    if (!plan.capture_all_rows) rows = ToDevice(plan.capture_rows);
    const int64_t n = static_cast<int64_t>(plan.ids.size());
    InterventionApplier interventions(static_cast<int>(config().num_layers),
                                      rep_.options.device);
    for (size_t i = 0; i < request.items.size(); ++i) {
      const auto& list = request.items[i].interventions;
      if (list == nullptr || list->empty()) continue;
      interventions.Add(*list, plan.sequences[i].begin, plan.sequences[i].end);
    }
    CaptureVisitor visitor(
        request.capture, static_cast<int>(config().num_layers), rows,
        CaptureBuffer(request.capture, plan, result), &interventions);
    at::Tensor hidden =
        transformer_.Forward(ids, positions, plan.sequences, visitor);
    if (!plan.logit_rows.empty()) {
      at::Tensor picked =
          static_cast<int64_t>(plan.logit_rows.size()) == n
              ? hidden
              : hidden.index_select(0, ToDevice(plan.logit_rows));
      LogitsToHost(picked, result.logits);
    } else {
      result.logits.clear();
    }
    if (!on_cpu_ && visitor.buffer().defined()) {
      CopyToHost(visitor.buffer(), result.values);
    }
  }

  // The logits of `hidden`'s rows into `out` ([rows, vocab], float). On
  // the CPU in chunks of rows written straight into `out` (which the caller
  // reuses): scoring every position of a step's sequences would otherwise
  // build one [rows, vocab] tensor per step (528 MB for 88 texts of 30
  // tokens at a 50k vocabulary), above malloc's mmap threshold, so mapped,
  // page-faulted and freed anew each step (perf: 13% kernel time and 7.5%
  // memset in a masking run). Chunks are whole multiples of 8 rows, so
  // batch-invariant blocks fall where they would unchunked.
  void LogitsToHost(const at::Tensor& hidden, std::vector<float>& out) {
    const int64_t rows = hidden.size(0);
    const int64_t vocab = rep_.weights.lm_head.size(0);
    if (!on_cpu_) {
      CopyToHost(transformer_.Logits(hidden).to(at::kFloat), out);
      return;
    }
    const int64_t chunk = std::max<int64_t>(
        8, kLogitChunkBytes / (vocab * static_cast<int64_t>(sizeof(float))) /
               8 * 8);
    out.resize(static_cast<size_t>(rows * vocab));
    for (int64_t begin = 0; begin < rows; begin += chunk) {
      const int64_t n = std::min(chunk, rows - begin);
      at::from_blob(out.data() + begin * vocab, {n, vocab}, at::kFloat)
          .copy_(transformer_.Logits(hidden.narrow(0, begin, n)));
    }
  }

  // Where captured values are gathered: on the CPU, straight into the
  // caller's reused host vector; on an accelerator, a reused device buffer
  // copied to the host once per step.
  at::Tensor CaptureBuffer(const Layout& layout, const StepPlan& plan,
                           StepResult& result) {
    const int64_t rows = static_cast<int64_t>(plan.capture_rows.size());
    const int64_t size = rows * layout.width();
    if (size == 0) {
      result.values.clear();
      return at::Tensor();
    }
    if (on_cpu_) {
      result.values.resize(static_cast<size_t>(size));
      return at::from_blob(result.values.data(), {rows, layout.width()},
                           at::kFloat);
    }
    if (!device_buffer_.defined() || device_buffer_.numel() < size) {
      device_buffer_ = at::empty(
          {size},
          at::TensorOptions().device(rep_.options.device).dtype(at::kFloat));
    }
    return device_buffer_.narrow(0, 0, size).view({rows, layout.width()});
  }

  const std::shared_ptr<const Model> model_;
  const ModelRep& rep_;
  const Transformer transformer_;
  const bool on_cpu_ = rep_.options.device.is_cpu();
  at::Tensor device_buffer_;  // grow-only capture buffer off the CPU
  std::map<SequenceId, KvCache> caches_;
  SequenceId next_id_ = 1;
};

}  // namespace

std::unique_ptr<Engine> NewTorchEngine(std::shared_ptr<const Model> model) {
  return std::make_unique<TorchEngine>(std::move(model));
}

}  // namespace fnprobe
