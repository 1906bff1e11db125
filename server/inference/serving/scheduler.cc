#include "server/inference/serving/scheduler.h"

#include <algorithm>
#include <deque>
#include <map>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "common/status_util.h"
#include "server/inference/model/next_token_scores.h"
#include "server/inference/serving/capture_columns.h"
#include "server/inference/serving/request_checker.h"
#include "server/inference/serving/sequence_slot.h"
#include "server/inference/serving/step_values_pool.h"

namespace fnprobe {
namespace {

// Limits below 1 would never let anything run.
SchedulerOptions Normalized(SchedulerOptions o) {
  o.max_batch_sequences = std::max(o.max_batch_sequences, 1);
  o.max_batch_tokens = std::max(o.max_batch_tokens, 1);
  o.max_queued_sequences = std::max(o.max_queued_sequences, 0);
  o.stream_capacity = std::max<size_t>(o.stream_capacity, 1);
  return o;
}

bool Contains(const std::vector<int64_t>& ids, int64_t id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

struct Scheduler::Rep {
  Rep(Engine* e, SchedulerOptions o);

  // Loop phases (loop thread only).
  void Run();
  bool Admit();  // false once shutdown began
  void Retire();
  bool Assemble();  // false when nothing can step now
  absl::Status Step();
  void Distribute(const absl::Status& status);
  void WaitForWork();

  // Helpers of the phases.
  void FillSlots();
  bool TakeWaiting(WaitingSequence* out);
  void PickBatch();
  void UpdateCapture();
  FrameValues RowValues(RequestState* r, int64_t row);
  absl::Status CheckResult() const;
  void RemoveFinished();
  void EndRequest(RequestState* r, absl::Status status);
  void Publish(bool stepped);
  void FinishStreams();

  // --- constant after construction ---
  Engine* const engine;
  const SchedulerOptions options;
  const int64_t vocab_size;
  const std::vector<int64_t> eos;
  const RequestChecker checker;
  const std::shared_ptr<RequestQueue> queue;

  // --- loop thread only ---
  std::vector<std::unique_ptr<RequestState>> requests;  // admitted, live
  std::vector<const RequestStream*> cancels;            // taken by Admit
  // Waiting prompts, FIFO per user; slots go round-robin across users.
  std::map<std::string, std::deque<WaitingSequence>> waiting;
  std::string last_user;  // the user who got the last slot
  std::vector<std::unique_ptr<SequenceSlot>> active;  // slot holders
  std::vector<SequenceSlot*> batch;                   // this step's items
  CaptureColumns capture;  // this step's capture layout (the union)
  StepRequest step_request;
  StepResult step_result;
  // The last step's values, shared by its frames; the buffers come back to
  // `buffers` for the engine once every frame lets go.
  StepValuesPool buffers{8};
  std::shared_ptr<const std::vector<float>> step_values;
  int64_t steps = 0;     // steps distributed
  int64_t dequeued = 0;  // left the queue since the last Publish
  // Streams of ended requests, finished after the next Publish so that a
  // reader who sees its stream done also sees Stats without it.
  std::vector<std::pair<std::shared_ptr<RequestStream>, absl::Status>>
      finishing;

  std::thread thread;  // last: starts once everything above is built
};

Scheduler::Rep::Rep(Engine* e, SchedulerOptions o)
    : engine(e),
      options(Normalized(o)),
      vocab_size(e->config().vocab_size),
      eos(e->config().eos_token_ids),
      checker(e->config()),
      queue(std::make_shared<RequestQueue>(options.max_queued_sequences)),
      capture(e->config()) {
  thread = std::thread([this] { Run(); });
}

void Scheduler::Rep::Run() {
  while (Admit()) {
    Retire();
    if (Assemble()) {
      Distribute(Step());
    } else {
      WaitForWork();
    }
  }
}

bool Scheduler::Rep::Admit() {
  std::vector<std::unique_ptr<RequestState>> incoming;
  if (!queue->Take(&incoming, &cancels)) return false;
  for (std::unique_ptr<RequestState>& r : incoming) {
    std::deque<WaitingSequence>& queue = waiting[r->request.user];
    for (size_t k = 0; k < r->request.prompts.size(); ++k) {
      queue.push_back({r.get(), static_cast<int32_t>(k)});
    }
    requests.push_back(std::move(r));
  }
  return true;
}

void Scheduler::Rep::Retire() {
  for (const RequestStream* stream : cancels) {
    auto it = std::find_if(
        requests.begin(), requests.end(),
        [stream](const auto& r) { return r->stream.get() == stream; });
    if (it != requests.end()) {
      EndRequest(it->get(), absl::CancelledError("request cancelled"));
    }
  }
  cancels.clear();
}

bool Scheduler::Rep::Assemble() {
  for (const auto& r : requests) r->paused = r->stream->Full();
  FillSlots();
  PickBatch();
  Publish(/*stepped=*/false);
  return !batch.empty();
}

void Scheduler::Rep::FillSlots() {
  WaitingSequence w;
  while (active.size() < static_cast<size_t>(options.max_batch_sequences) &&
         TakeWaiting(&w)) {
    const SequenceId id = engine->StartSequence();
    active.push_back(std::make_unique<SequenceSlot>(
        w.request, w.prompt, id, w.request->request.sampling));
    ++dequeued;
  }
}

// Takes the next waiting prompt of an unpaused request, from the first user
// after last_user (wrapping) that has one.
bool Scheduler::Rep::TakeWaiting(WaitingSequence* out) {
  if (waiting.empty()) return false;
  auto start = waiting.upper_bound(last_user);
  if (start == waiting.end()) start = waiting.begin();
  auto it = start;
  do {
    std::deque<WaitingSequence>& queue = it->second;
    auto w = std::find_if(queue.begin(), queue.end(),
                          [](const auto& q) { return !q.request->paused; });
    if (w != queue.end()) {
      *out = *w;
      queue.erase(w);
      last_user = it->first;
      if (queue.empty()) waiting.erase(it);
      return true;
    }
    if (++it == waiting.end()) it = waiting.begin();
  } while (it != start);
  return false;
}

// Decodes first (one token each), then prefills in slot order while the
// token budget lasts. A prefill left out once goes first next time; one
// longer than the budget then runs alone.
void Scheduler::Rep::PickBatch() {
  batch.clear();
  const int64_t budget = options.max_batch_tokens;
  int64_t tokens = 0;
  for (const auto& s : active) {
    if (!s->prefilled && s->skipped && !s->request->paused) {
      batch.push_back(s.get());
      tokens += s->prompt_size();
      break;
    }
  }
  for (const auto& s : active) {
    if (s->prefilled && !s->request->paused &&
        (batch.empty() || tokens + 1 <= budget)) {
      batch.push_back(s.get());
      tokens += 1;
    }
  }
  for (const auto& s : active) {
    if (s->prefilled || s->request->paused) continue;
    if (!batch.empty() && batch.front() == s.get()) continue;
    const int64_t n = s->prompt_size();
    if (batch.empty() || tokens + n <= budget) {
      batch.push_back(s.get());
      tokens += n;
    } else {
      s->skipped = true;
    }
  }
}

absl::Status Scheduler::Rep::Step() {
  UpdateCapture();
  step_request.items.resize(batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    const SequenceSlot& s = *batch[i];
    const ScheduledRequest& r = s.request->request;
    StepItem& item = step_request.items[i];
    item.sequence = s.id;
    if (s.prefilled) {
      item.tokens.assign(1, s.next_token);
    } else {
      item.tokens = r.prompts[s.prompt];
    }
    item.all_positions = !s.prefilled && r.forward;
    item.want_logits = !r.forward || r.score;
    item.interventions = r.interventions;
  }
  FNPROBE_RETURN_IF_ERROR(engine->Step(step_request, &step_result));
  return CheckResult();
}

// The union of the batch's request layouts, in the model's hook order.
void Scheduler::Rep::UpdateCapture() {
  std::vector<const Layout*> layouts;
  layouts.reserve(batch.size());
  for (const SequenceSlot* s : batch) {
    layouts.push_back(&s->request->request.layout);
  }
  if (capture.Update(layouts)) step_request.capture = capture.capture();
}

// Row `row` of the step's values, cut down to r's layout: the shared row
// while r's reader keeps up, else a copy (see RequestState::share).
FrameValues Scheduler::Rep::RowValues(RequestState* r, int64_t row) {
  const Layout& layout = r->request.layout;
  if (layout.empty()) return FrameValues();
  if (r->share_decided_at != steps) {
    r->share_decided_at = steps;
    r->share = r->stream->buffered() == 0;
  }
  if (r->share) {
    return FrameValues(step_values, row * capture.capture().width(),
                       capture.Columns(layout, &r->columns));
  }
  return FrameValues(
      capture.CutRow(step_values->data(), row, layout, &r->columns));
}

// Guards against an engine whose result does not match the request, which
// would otherwise read out of bounds.
absl::Status Scheduler::Rep::CheckResult() const {
  const size_t n = batch.size();
  if (step_result.value_row_begin.size() != n ||
      step_result.logit_row_begin.size() != n) {
    return absl::InternalError(absl::StrCat("engine returned row offsets for ",
                                            step_result.value_row_begin.size(),
                                            " items, expected ", n));
  }
  const int64_t width = capture.capture().width();
  for (size_t i = 0; i < n; ++i) {
    const StepItem& item = step_request.items[i];
    const int64_t rows =
        item.all_positions ? static_cast<int64_t>(item.tokens.size()) : 1;
    const int64_t v = step_result.value_row_begin[i];
    const int64_t l = step_result.logit_row_begin[i];
    const bool values_ok =
        width == 0 ||
        (v >= 0 &&
         (v + rows) * width <= static_cast<int64_t>(step_result.values.size()));
    const bool logits_ok =
        !item.want_logits ||
        (l >= 0 && (l + rows) * vocab_size <=
                       static_cast<int64_t>(step_result.logits.size()));
    if (!values_ok || !logits_ok) {
      return absl::InternalError(absl::StrCat(
          "engine result for item ", i, " (sequence ", item.sequence,
          ") is missing ", values_ok ? "logits" : "values"));
    }
  }
  return absl::OkStatus();
}

void Scheduler::Rep::Distribute(const absl::Status& status) {
  if (!status.ok()) {
    // Fail every request with a sequence in the step; the others go on.
    std::vector<RequestState*> involved;
    for (SequenceSlot* s : batch) {
      if (std::find(involved.begin(), involved.end(), s->request) ==
          involved.end()) {
        involved.push_back(s->request);
      }
    }
    batch.clear();
    for (RequestState* r : involved) EndRequest(r, status);
    Publish(/*stepped=*/true);
    return;
  }
  // Hand the step's values to its frames without a copy; the engine gets
  // a recycled buffer for the next step.
  ++steps;
  step_values = buffers.Share(std::move(step_result.values));
  step_result.values = buffers.Take();
  const int32_t batch_sequences =
      static_cast<int32_t>(step_result.batch_sequences);
  const int32_t batch_tokens = static_cast<int32_t>(step_result.batch_tokens);
  for (size_t i = 0; i < batch.size(); ++i) {
    SequenceSlot& s = *batch[i];
    RequestState* r = s.request;
    const ScheduledRequest& req = r->request;
    const int64_t row = step_result.value_row_begin[i];
    if (req.forward) {
      const std::vector<int64_t>& prompt = req.prompts[s.prompt];
      std::vector<NextTokenScore> scores;
      if (req.score) {
        scores = ScoreNextTokens(
            absl::MakeConstSpan(step_result.logits.data() +
                                    step_result.logit_row_begin[i] * vocab_size,
                                prompt.size() * vocab_size),
            vocab_size, prompt);
      }
      for (size_t p = 0; p < prompt.size(); ++p) {
        ActivationRecord record{
            s.prompt,        static_cast<int32_t>(p),
            prompt[p],       RowValues(r, row + static_cast<int64_t>(p)),
            batch_sequences, batch_tokens};
        if (req.score) {
          record.scored = true;
          record.next_logprob = scores[p].logprob;
          record.next_top1 = scores[p].top1;
        }
        r->stream->Push(std::move(record));
      }
      s.done = true;
    } else {
      const absl::Span<const float> logits(
          step_result.logits.data() +
              step_result.logit_row_begin[i] * vocab_size,
          vocab_size);
      const absl::Span<const int64_t> banned =
          req.stop_at_eos ? absl::Span<const int64_t>() : absl::MakeSpan(eos);
      const int64_t token = s.sampler.Next(logits, banned);
      r->stream->Push({s.prompt, static_cast<int32_t>(s.generated), token,
                       RowValues(r, row), batch_sequences, batch_tokens});
      ++s.generated;
      s.next_token = token;
      s.done = s.generated >= req.tokens_per_prompt ||
               (req.stop_at_eos && Contains(eos, token));
    }
    s.prefilled = true;
    s.skipped = false;
  }
  batch.clear();
  step_values.reset();
  RemoveFinished();
  Publish(/*stepped=*/true);
}

// Ends finished sequences at once, freeing their slots, and finishes the
// requests left with none.
void Scheduler::Rep::RemoveFinished() {
  auto done = std::stable_partition(active.begin(), active.end(),
                                    [](const auto& s) { return !s->done; });
  for (auto it = done; it != active.end(); ++it) {
    engine->EndSequence((*it)->id);
    --(*it)->request->open_sequences;
  }
  active.erase(done, active.end());
  for (size_t i = 0; i < requests.size();) {
    if (requests[i]->open_sequences == 0) {
      EndRequest(requests[i].get(), absl::OkStatus());
    } else {
      ++i;
    }
  }
}

// Ends r's sequences, drops its waiting prompts, finishes its stream with
// `status` and forgets it.
void Scheduler::Rep::EndRequest(RequestState* r, absl::Status status) {
  auto gone =
      std::stable_partition(active.begin(), active.end(),
                            [r](const auto& s) { return s->request != r; });
  for (auto it = gone; it != active.end(); ++it) {
    engine->EndSequence((*it)->id);
  }
  active.erase(gone, active.end());
  auto user = waiting.find(r->request.user);
  if (user != waiting.end()) {
    std::deque<WaitingSequence>& queue = user->second;
    const size_t before = queue.size();
    queue.erase(std::remove_if(queue.begin(), queue.end(),
                               [r](const auto& w) { return w.request == r; }),
                queue.end());
    dequeued += static_cast<int64_t>(before - queue.size());
    if (queue.empty()) waiting.erase(user);
  }
  r->stream->SetDrainCallback(nullptr);
  finishing.emplace_back(std::move(r->stream), std::move(status));
  requests.erase(std::find_if(requests.begin(), requests.end(),
                              [r](const auto& p) { return p.get() == r; }));
}

// Publishes the loop's counts for Stats() and Submit's queue limit, then
// finishes the streams of requests that ended.
void Scheduler::Rep::Publish(bool stepped) {
  SchedulerStats loop;
  loop.last_batch_sequences = static_cast<int64_t>(step_request.items.size());
  loop.active_sequences = static_cast<int64_t>(active.size());
  loop.active_requests = static_cast<int64_t>(requests.size());
  queue->Publish(dequeued, stepped, loop);
  dequeued = 0;
  FinishStreams();
}

void Scheduler::Rep::FinishStreams() {
  for (auto& [stream, status] : finishing) stream->Finish(std::move(status));
  finishing.clear();
}

// Sleeps until a request, a cancel, a drain or shutdown arrives.
void Scheduler::Rep::WaitForWork() { queue->WaitForWork(); }

Scheduler::Scheduler(Engine* engine, SchedulerOptions options)
    : rep_(std::make_unique<Rep>(engine, options)) {}

Scheduler::~Scheduler() {
  rep_->queue->Shutdown();
  rep_->thread.join();
  // The loop has stopped: this thread now owns its state and the engine.
  for (auto& r : rep_->queue->TakeInbox())
    rep_->requests.push_back(std::move(r));
  while (!rep_->requests.empty()) {
    rep_->EndRequest(rep_->requests.front().get(),
                     absl::UnavailableError("inference scheduler shut down"));
  }
  rep_->Publish(/*stepped=*/false);
}

absl::StatusOr<std::shared_ptr<RequestStream>> Scheduler::Submit(
    ScheduledRequest request) {
  FNPROBE_RETURN_IF_ERROR(rep_->checker.Check(request));
  const int64_t n = static_cast<int64_t>(request.prompts.size());
  auto stream = std::make_shared<RequestStream>(rep_->options.stream_capacity);
  std::weak_ptr<RequestQueue> weak = rep_->queue;
  stream->SetDrainCallback([weak] {
    if (std::shared_ptr<RequestQueue> q = weak.lock()) q->MarkDrained();
  });
  auto state = std::make_unique<RequestState>();
  state->request = std::move(request);
  state->stream = stream;
  state->open_sequences = n;
  FNPROBE_RETURN_IF_ERROR(rep_->queue->Push(std::move(state)));
  if (n == 0) stream->Finish(absl::OkStatus());
  return stream;
}

void Scheduler::Cancel(const RequestStream* stream) {
  rep_->queue->Cancel(stream);
}

SchedulerStats Scheduler::Stats() const { return rep_->queue->Stats(); }

}  // namespace fnprobe
