#include "tests/inference/serving/fake_engine.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "server/inference/model/hook_points.h"

namespace fnprobe {

int64_t FakeEngine::StepRecord::tokens() const {
  int64_t n = 0;
  for (const ItemRecord& item : items) n += item.tokens.size();
  return n;
}

FakeEngine::FakeEngine() : config_(TinyConfig()) {
  const std::vector<std::string> names = ModelHookNames(config_);
  for (size_t i = 0; i < names.size(); ++i) hook_rank_[names[i]] = i;
}

ModelConfig FakeEngine::TinyConfig() {
  ModelConfig c;
  c.family = ModelFamily::kGpt2;
  c.model_type = "fake";
  c.vocab_size = kVocab;
  c.hidden_size = 4;
  c.num_layers = 1;
  c.num_heads = 1;
  c.num_kv_heads = 1;
  c.head_dim = 4;
  c.intermediate_size = 8;
  c.max_positions = kContext;
  c.word_embed_proj_dim = 4;
  c.learned_positions = true;
  c.eos_token_ids = {kEos};
  return c;
}

int64_t FakeEngine::NextToken(const std::vector<int64_t>& tokens) {
  const int64_t n = static_cast<int64_t>(tokens.size());
  return (7 * tokens.back() + tokens.front() + n) % kVocab;
}

float FakeEngine::Value(absl::string_view hook, int64_t unit, int64_t position,
                        int64_t token) {
  static const std::vector<std::string>* const names =
      new std::vector<std::string>(ModelHookNames(TinyConfig()));
  const int64_t rank =
      std::find(names->begin(), names->end(), hook) - names->begin();
  // < 2^24 for rank < 32, unit < 16, position < 64, token < 32: exact.
  return static_cast<float>(
      ((rank * 16 + unit) * kContext + position) * kVocab + token);
}

SequenceId FakeEngine::StartSequence() {
  absl::MutexLock lock(&mu_);
  const SequenceId id = next_id_++;
  sequences_[id];
  return id;
}

void FakeEngine::EndSequence(SequenceId sequence) {
  absl::MutexLock lock(&mu_);
  sequences_.erase(sequence);
}

int64_t FakeEngine::SequenceLength(SequenceId sequence) const {
  absl::MutexLock lock(&mu_);
  auto it = sequences_.find(sequence);
  return it == sequences_.end() ? -1 : static_cast<int64_t>(it->second.size());
}

absl::Status FakeEngine::CheckRequest(const StepRequest& request) const {
  std::set<SequenceId> seen;
  for (size_t i = 0; i < request.items.size(); ++i) {
    const StepItem& item = request.items[i];
    auto it = sequences_.find(item.sequence);
    if (it == sequences_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("fake: unknown sequence ", item.sequence));
    }
    if (!seen.insert(item.sequence).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("fake: sequence ", item.sequence, " appears twice"));
    }
    if (item.tokens.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("fake: item ", i, " is empty"));
    }
    for (int64_t t : item.tokens) {
      if (t < 0 || t >= kVocab) {
        return absl::InvalidArgumentError(
            absl::StrCat("fake: token ", t, " outside the vocabulary"));
      }
      if (fail_token_.has_value() && t == *fail_token_) {
        return absl::InternalError(
            absl::StrCat("fake: injected failure on token ", t));
      }
    }
    if (it->second.size() + item.tokens.size() > kContext) {
      return absl::InvalidArgumentError(absl::StrCat(
          "fake: sequence ", item.sequence, " would exceed the context"));
    }
  }
  for (const HookSpec& h : request.capture.hooks()) {
    if (hook_rank_.count(h.name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("fake: unknown hook point ", h.name));
    }
  }
  return absl::OkStatus();
}

absl::Status FakeEngine::Step(const StepRequest& request, StepResult* result) {
  absl::MutexLock lock(&mu_);
  ++entered_;
  ++waiting_;
  mu_.Await(absl::Condition(
      +[](FakeEngine* e) ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return !e->held_ || e->permits_ > 0;
      },
      this));
  --waiting_;
  if (held_) --permits_;

  StepRecord record;
  for (const StepItem& item : request.items) {
    record.items.push_back(
        {item.sequence, item.tokens, item.all_positions, item.want_logits});
  }
  for (const HookSpec& h : request.capture.hooks()) {
    record.capture.push_back(h.name);
  }
  record.live_sequences = static_cast<int64_t>(sequences_.size());
  absl::Status status = CheckRequest(request);
  record.failed = !status.ok();
  steps_.push_back(std::move(record));
  if (!status.ok()) return status;

  const Layout& capture = request.capture;
  result->values.clear();
  result->logits.clear();
  result->value_row_begin.clear();
  result->logit_row_begin.clear();
  result->batch_tokens = 0;
  result->batch_sequences = static_cast<int64_t>(request.items.size());
  int64_t value_rows = 0;
  int64_t logit_rows = 0;
  for (const StepItem& item : request.items) {
    std::vector<int64_t>& cache = sequences_[item.sequence];
    const int64_t first = static_cast<int64_t>(cache.size());
    const int64_t n = static_cast<int64_t>(item.tokens.size());
    cache.insert(cache.end(), item.tokens.begin(), item.tokens.end());
    result->batch_tokens += n;
    result->value_row_begin.push_back(value_rows);
    result->logit_row_begin.push_back(item.want_logits ? logit_rows : -1);
    for (int64_t p = item.all_positions ? first : first + n - 1; p < first + n;
         ++p) {
      for (const HookSpec& h : capture.hooks()) {
        for (int64_t u = 0; u < h.width; ++u) {
          result->values.push_back(Value(h.name, u, p, cache[p]));
        }
      }
      ++value_rows;
      if (item.want_logits) {
        const std::vector<int64_t> prefix(cache.begin(), cache.begin() + p + 1);
        const int64_t target = NextToken(prefix);
        for (int64_t id = 0; id < kVocab; ++id) {
          result->logits.push_back(
              -static_cast<float>((id - target + kVocab) % kVocab));
        }
        ++logit_rows;
      }
    }
  }
  return absl::OkStatus();
}

std::vector<FakeEngine::StepRecord> FakeEngine::steps() const {
  absl::MutexLock lock(&mu_);
  return steps_;
}

int64_t FakeEngine::live_sequences() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(sequences_.size());
}

void FakeEngine::FailStepsWithToken(int64_t token) {
  absl::MutexLock lock(&mu_);
  fail_token_ = token;
}

void FakeEngine::HoldSteps() {
  absl::MutexLock lock(&mu_);
  held_ = true;
  permits_ = 0;
}

void FakeEngine::AllowSteps(int n) {
  absl::MutexLock lock(&mu_);
  permits_ += n;
}

void FakeEngine::ReleaseSteps() {
  absl::MutexLock lock(&mu_);
  held_ = false;
  permits_ = 0;
}

bool FakeEngine::WaitForHeldStep(int index, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  struct Arg {
    FakeEngine* engine;
    int index;
  } arg{this, index};
  return mu_.AwaitWithTimeout(absl::Condition(
                                  +[](Arg* a) ABSL_NO_THREAD_SAFETY_ANALYSIS {
                                    return a->engine->entered_ ==
                                               a->index + 1 &&
                                           a->engine->waiting_ > 0;
                                  },
                                  &arg),
                              timeout);
}

}  // namespace fnprobe
