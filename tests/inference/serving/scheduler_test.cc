#include "server/inference/serving/scheduler.h"

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference/model/hook_points.h"
#include "server/inference/serving/request_stream.h"
#include "tests/inference/serving/fake_engine.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr absl::Duration kTimeout = absl::Seconds(10);

// Collects a stream's frames as they arrive (popping from the listener, on
// the scheduler's thread, like a reader that keeps up) until it finishes.
class Collector {
 public:
  explicit Collector(std::shared_ptr<RequestStream> stream)
      : stream_(std::move(stream)) {
    stream_->SetListener([this] { Drain(); });
    Drain();  // frames buffered before the listener was set
  }
  ~Collector() { stream_->SetListener(nullptr); }

  // The stream's final status, or DEADLINE_EXCEEDED if it does not finish
  // within `timeout`.
  absl::Status Wait(absl::Duration timeout = kTimeout) {
    absl::MutexLock lock(&mu_);
    if (!mu_.AwaitWithTimeout(absl::Condition(this, &Collector::Finished),
                              timeout)) {
      return absl::DeadlineExceededError("stream did not finish");
    }
    return *done_;
  }

  std::vector<ActivationRecord> frames() const {
    absl::MutexLock lock(&mu_);
    return frames_;
  }

 private:
  void Drain() {
    absl::MutexLock lock(&mu_);
    ActivationRecord frame;
    while (stream_->Pop(&frame)) frames_.push_back(std::move(frame));
    if (!done_.has_value()) done_ = stream_->Done();
  }
  bool Finished() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return done_.has_value();
  }

  const std::shared_ptr<RequestStream> stream_;
  mutable absl::Mutex mu_;
  std::vector<ActivationRecord> frames_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> done_ ABSL_GUARDED_BY(mu_);
};

// Polls `condition` until it holds or `timeout` passes. For states with no
// event to wait on (a stream filling up while nobody reads it).
bool Eventually(const std::function<bool()>& condition,
                absl::Duration timeout = kTimeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

Layout LayoutOf(const std::vector<std::string>& names) {
  std::vector<HookSpec> specs;
  for (const HookSpec& h : ModelHookPoints(FakeEngine::TinyConfig())) {
    for (const std::string& n : names) {
      if (h.name == n) specs.push_back(h);
    }
  }
  EXPECT_EQ(specs.size(), names.size()) << "unknown hook point";
  return Layout(std::move(specs));
}

ScheduledRequest Generate(std::string user,
                          std::vector<std::vector<int64_t>> prompts,
                          int64_t tokens, Layout layout = Layout()) {
  ScheduledRequest r;
  r.user = std::move(user);
  r.prompts = std::move(prompts);
  r.tokens_per_prompt = tokens;
  r.layout = std::move(layout);
  return r;
}

// A frame without its batch statistics, which depend on the company.
struct Frame {
  int32_t step;
  int64_t token;
  std::vector<float> values;
  bool operator==(const Frame& o) const {
    return step == o.step && token == o.token && values == o.values;
  }
};

void PrintTo(const Frame& f, std::ostream* os) {
  *os << "{step " << f.step << ", token " << f.token << ", " << f.values.size()
      << " values}";
}

// Frames by prompt, in arrival order.
std::map<int32_t, std::vector<Frame>> ByPrompt(
    const std::vector<ActivationRecord>& frames) {
  std::map<int32_t, std::vector<Frame>> out;
  for (const ActivationRecord& f : frames) {
    out[f.prompt].push_back({f.step, f.token, f.values.ToVector()});
  }
  return out;
}

// What a frame's values must be: the layout's units at `position`, where
// `token` was fed.
std::vector<float> ExpectedValues(const Layout& layout, int64_t position,
                                  int64_t token) {
  std::vector<float> v;
  for (const HookSpec& h : layout.hooks()) {
    for (int64_t u = 0; u < h.width; ++u) {
      v.push_back(FakeEngine::Value(h.name, u, position, token));
    }
  }
  return v;
}

// Checks generated frames of one prompt against the fake model: steps in
// order, greedy tokens with EOS suppressed, and the values of the position
// that produced each.
void ExpectGreedyFrames(const std::vector<int64_t>& prompt,
                        const Layout& layout, const std::vector<Frame>& frames,
                        size_t count) {
  ASSERT_THAT(frames, SizeIs(count));
  std::vector<int64_t> sequence = prompt;
  for (size_t s = 0; s < frames.size(); ++s) {
    const int64_t position = static_cast<int64_t>(sequence.size()) - 1;
    EXPECT_EQ(frames[s].step, static_cast<int32_t>(s));
    // EOS is suppressed (stop_at_eos is false): the runner-up, id 0, wins.
    int64_t expected = FakeEngine::NextToken(sequence);
    if (expected == FakeEngine::kEos) expected = 0;
    EXPECT_EQ(frames[s].token, expected) << "step " << s;
    EXPECT_EQ(frames[s].values,
              ExpectedValues(layout, position, sequence.back()))
        << "step " << s;
    sequence.push_back(frames[s].token);
  }
}

// Sequence ids whose first (prefill) item starts with `first_token`.
std::set<SequenceId> SequencesStartingWith(
    const std::vector<FakeEngine::StepRecord>& steps, int64_t first_token) {
  std::set<SequenceId> ids;
  std::set<SequenceId> seen;
  for (const FakeEngine::StepRecord& step : steps) {
    for (const FakeEngine::ItemRecord& item : step.items) {
      if (seen.insert(item.sequence).second &&
          item.tokens.front() == first_token) {
        ids.insert(item.sequence);
      }
    }
  }
  return ids;
}

bool StepHas(const FakeEngine::StepRecord& step,
             const std::set<SequenceId>& ids) {
  for (const FakeEngine::ItemRecord& item : step.items) {
    if (ids.count(item.sequence) > 0) return true;
  }
  return false;
}

class SchedulerTest : public ::testing::Test {
 protected:
  ~SchedulerTest() override {
    engine_.ReleaseSteps();  // never leave the scheduler's thread held
    scheduler_.reset();
  }

  void Start(SchedulerOptions options = {}) {
    scheduler_ = std::make_unique<Scheduler>(&engine_, options);
  }

  std::shared_ptr<RequestStream> Submit(ScheduledRequest request) {
    absl::StatusOr<std::shared_ptr<RequestStream>> stream =
        scheduler_->Submit(std::move(request));
    EXPECT_THAT(stream, IsOk());
    return stream.ok() ? *stream : nullptr;
  }

  FakeEngine engine_;
  std::unique_ptr<Scheduler> scheduler_;
};

// Runs `request` alone on a fresh engine and scheduler.
std::vector<ActivationRecord> RunAlone(ScheduledRequest request) {
  FakeEngine engine;
  Scheduler scheduler(&engine, SchedulerOptions{});
  absl::StatusOr<std::shared_ptr<RequestStream>> stream =
      scheduler.Submit(std::move(request));
  EXPECT_THAT(stream, IsOk());
  if (!stream.ok()) return {};
  Collector collector(*stream);
  EXPECT_THAT(collector.Wait(), IsOk());
  return collector.frames();
}

// Batched with others, each request's frames per prompt come in step order
// and equal those of running it alone (greedy and seeded sampling).
TEST_F(SchedulerTest, FramesArriveInStepOrderAndMatchRunningAlone) {
  const Layout layout = LayoutOf({"blocks.0.mlp_post", "final_norm"});
  ScheduledRequest a =
      Generate("alice", {{1, 2, 3}, {4}, {5, 6, 7, 8, 9}}, 6, layout);
  ScheduledRequest b =
      Generate("bob", {{10, 11}, {12, 13, 14}}, 5, LayoutOf({"embed"}));
  b.sampling.temperature = 1.0;
  b.sampling.seed = 7;
  const auto alone_a = ByPrompt(RunAlone(a));
  const auto alone_b = ByPrompt(RunAlone(b));
  ASSERT_THAT(alone_a, SizeIs(3));
  ASSERT_THAT(alone_b, SizeIs(2));
  for (const auto& [prompt, frames] : alone_a) {
    ExpectGreedyFrames(a.prompts[prompt], layout, frames, 6);
  }

  SchedulerOptions options;
  options.max_batch_sequences = 3;  // forces waiting and slot reuse
  Start(options);
  Collector ca(Submit(a));
  Collector cb(Submit(b));
  ASSERT_THAT(ca.Wait(), IsOk());
  ASSERT_THAT(cb.Wait(), IsOk());
  EXPECT_EQ(ByPrompt(ca.frames()), alone_a);
  EXPECT_EQ(ByPrompt(cb.frames()), alone_b);
  // They really were batched together.
  bool shared = false;
  for (const auto& step : engine_.steps()) shared |= step.items.size() > 1;
  EXPECT_TRUE(shared);
  EXPECT_EQ(engine_.live_sequences(), 0);
}

// A request submitted during another's generation is in the very next
// step, prefilling beside the other's decode.
TEST_F(SchedulerTest, RequestSubmittedMidGenerationJoinsAtNextStep) {
  Start();
  engine_.HoldSteps();
  Collector a(Submit(Generate("alice", {{1, 2}}, 8)));
  engine_.AllowSteps(2);
  ASSERT_TRUE(engine_.WaitForHeldStep(2));  // two steps done, third held
  Collector b(Submit(Generate("bob", {{20, 21, 22}}, 3)));
  engine_.ReleaseSteps();
  ASSERT_THAT(a.Wait(), IsOk());
  ASSERT_THAT(b.Wait(), IsOk());

  const auto steps = engine_.steps();
  ASSERT_GE(steps.size(), 4u);
  for (int i = 0; i < 3; ++i) EXPECT_THAT(steps[i].items, SizeIs(1));
  ASSERT_THAT(steps[3].items, SizeIs(2));
  EXPECT_THAT(steps[3].items[0].tokens, SizeIs(1));  // alice decodes
  EXPECT_THAT(steps[3].items[1].tokens, ElementsAre(20, 21, 22));
}

// A sequence that has its tokens ends (and its request finishes) in the
// step that produced the last one, not later.
TEST_F(SchedulerTest, FinishedSequenceLeavesAtOnce) {
  Start();
  engine_.HoldSteps();
  std::shared_ptr<RequestStream> a = Submit(Generate("alice", {{1}}, 2));
  ASSERT_TRUE(engine_.WaitForHeldStep(0));
  std::shared_ptr<RequestStream> b = Submit(Generate("bob", {{2}}, 6));
  engine_.AllowSteps(2);
  ASSERT_TRUE(engine_.WaitForHeldStep(2));
  // Alice's second and last token came from step 1.
  ActivationRecord frame;
  ASSERT_TRUE(a->Pop(&frame));
  ASSERT_TRUE(a->Pop(&frame));
  EXPECT_EQ(frame.step, 1);
  EXPECT_THAT(a->Done(), ::testing::Optional(IsOk()));
  EXPECT_EQ(engine_.live_sequences(), 1);
  engine_.ReleaseSteps();
  Collector cb(b);
  ASSERT_THAT(cb.Wait(), IsOk());

  const auto steps = engine_.steps();
  ASSERT_GE(steps.size(), 3u);
  EXPECT_THAT(steps[1].items, SizeIs(2));
  for (size_t i = 2; i < steps.size(); ++i) {
    EXPECT_THAT(steps[i].items, SizeIs(1)) << "step " << i;
    EXPECT_EQ(steps[i].live_sequences, 1) << "step " << i;
  }
}

// Slots go round-robin across users: a user with 4 prompts, arriving while
// another's 64 fill every slot, gets every other freed slot and finishes
// long before the other (FIFO would make it wait for all 64).
TEST_F(SchedulerTest, SlotsAlternateAcrossUsersSoSmallRequestFinishesEarly) {
  constexpr int kTokens = 16;
  SchedulerOptions options;
  options.max_batch_sequences = 8;
  Start(options);
  engine_.HoldSteps();
  std::vector<std::vector<int64_t>> many;
  for (int k = 0; k < 64; ++k) many.push_back({1 + k % 20, k % 30});
  Collector a(Submit(Generate("alice", many, kTokens)));
  ASSERT_TRUE(engine_.WaitForHeldStep(0));  // alice holds all 8 slots
  Collector b(
      Submit(Generate("bob", {{25, 1}, {25, 2}, {25, 3}, {25, 4}}, kTokens)));
  engine_.ReleaseSteps();
  ASSERT_THAT(b.Wait(), IsOk());
  ASSERT_THAT(a.Wait(), IsOk());

  const auto steps = engine_.steps();
  const std::set<SequenceId> bob = SequencesStartingWith(steps, 25);
  ASSERT_THAT(bob, SizeIs(4));
  int bob_last = -1;
  int bob_first = -1;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (StepHas(steps[i], bob)) {
      if (bob_first < 0) bob_first = static_cast<int>(i);
      bob_last = static_cast<int>(i);
    }
    EXPECT_LE(steps[i].items.size(), 8u);
  }
  // Alice's first wave ends after step 15; bob gets 4 of the 8 freed slots
  // at step 16 and is done 16 steps later. FIFO would take 128 steps.
  EXPECT_EQ(bob_first, kTokens);
  EXPECT_EQ(bob_last, 2 * kTokens - 1);
  EXPECT_GE(steps.size(), 64u * kTokens / 8);
  EXPECT_THAT(steps[kTokens].items, SizeIs(8));
}

// A reader that does not pop pauses its request at stream capacity while
// another request runs to completion; once drained it resumes and finishes.
TEST_F(SchedulerTest, SlowReaderPausesAtCapacityWhileOthersComplete) {
  SchedulerOptions options;
  options.stream_capacity = 4;
  Start(options);
  std::shared_ptr<RequestStream> slow = Submit(Generate("slow", {{3, 4}}, 12));
  Collector fast(Submit(Generate("fast", {{5, 6}}, 12)));
  ASSERT_THAT(fast.Wait(), IsOk());
  EXPECT_THAT(fast.frames(), SizeIs(12));

  // The slow request stopped at capacity: four frames, four steps.
  EXPECT_EQ(slow->buffered(), 4u);
  EXPECT_TRUE(slow->Full());
  const std::set<SequenceId> slow_ids =
      SequencesStartingWith(engine_.steps(), 3);
  int slow_steps = 0;
  for (const auto& step : engine_.steps())
    slow_steps += StepHas(step, slow_ids);
  EXPECT_EQ(slow_steps, 4);
  EXPECT_EQ(scheduler_->Stats().active_sequences, 1);

  Collector reader(slow);
  ASSERT_THAT(reader.Wait(), IsOk());
  const auto frames = ByPrompt(reader.frames());
  ASSERT_THAT(frames, SizeIs(1));
  ExpectGreedyFrames({3, 4}, Layout(), frames.at(0), 12);
}

// Frames share their step's values while the reader keeps up (nothing
// buffered when the step ends) and get their own copy once it lags, so a
// lagging stream pins at most one step buffer; values are right either way.
TEST_F(SchedulerTest, FramesShareTheStepRowWhileTheReaderKeepsUp) {
  const Layout layout = LayoutOf({"blocks.0.attn_out", "final_norm"});
  Start();
  // Pops each frame as it is pushed: always caught up.
  Collector keeps_up(Submit(Generate("fast", {{5, 6}}, 5, layout)));
  ASSERT_THAT(keeps_up.Wait(), IsOk());
  for (const ActivationRecord& f : keeps_up.frames()) {
    EXPECT_TRUE(f.values.shared()) << "step " << f.step;
  }
  ExpectGreedyFrames({5, 6}, layout, ByPrompt(keeps_up.frames()).at(0), 5);

  // Never reads until the end: the first frame shares, the rest are copies.
  std::shared_ptr<RequestStream> lags =
      Submit(Generate("slow", {{3, 4}}, 5, layout));
  ASSERT_TRUE(Eventually([&] { return lags->buffered() == 5; }));
  Collector reader(lags);
  ASSERT_THAT(reader.Wait(), IsOk());
  const std::vector<ActivationRecord> frames = reader.frames();
  ASSERT_THAT(frames, SizeIs(5));
  EXPECT_TRUE(frames[0].values.shared());
  for (size_t i = 1; i < frames.size(); ++i) {
    EXPECT_FALSE(frames[i].values.shared()) << "step " << i;
  }
  ExpectGreedyFrames({3, 4}, layout, ByPrompt(frames).at(0), 5);
}

// Cancelling frees the request's slots before the next step: a request
// waiting for those slots runs in that step, and the engine no longer holds
// the cancelled sequences.
TEST_F(SchedulerTest, CancelFreesSlotsByNextStep) {
  SchedulerOptions options;
  options.max_batch_sequences = 2;
  Start(options);
  engine_.HoldSteps();
  std::shared_ptr<RequestStream> a_stream =
      Submit(Generate("alice", {{1}, {2}}, 20));
  Collector a(a_stream);
  ASSERT_TRUE(engine_.WaitForHeldStep(0));
  EXPECT_EQ(engine_.live_sequences(), 2);
  scheduler_->Cancel(a_stream.get());
  Collector b(Submit(Generate("bob", {{7}}, 3)));
  engine_.ReleaseSteps();
  EXPECT_THAT(a.Wait(), StatusIs(absl::StatusCode::kCancelled));
  ASSERT_THAT(b.Wait(), IsOk());

  const auto steps = engine_.steps();
  ASSERT_THAT(steps, SizeIs(4));  // alice's one, then bob's three
  EXPECT_THAT(a.frames(), SizeIs(2));
  EXPECT_THAT(steps[1].items, SizeIs(1));
  EXPECT_THAT(steps[1].items[0].tokens, ElementsAre(7));
  EXPECT_EQ(steps[1].live_sequences, 1);
  EXPECT_EQ(engine_.live_sequences(), 0);
  // Cancelling a finished request is a no-op.
  scheduler_->Cancel(a_stream.get());
}

// Submit refuses a request whose prompts would take the waiting count past
// max_queued_sequences, naming the limit; room comes back as slots free.
TEST_F(SchedulerTest, QueueLimitIsResourceExhaustedNamingLimit) {
  SchedulerOptions options;
  options.max_batch_sequences = 1;
  options.max_queued_sequences = 4;
  Start(options);
  EXPECT_THAT(scheduler_->Submit(Generate("a", {{1}, {2}, {3}, {4}, {5}}, 1)),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("max_queued_sequences (4)")));
  engine_.HoldSteps();
  Collector a(Submit(Generate("a", {{1}}, 2)));
  ASSERT_TRUE(engine_.WaitForHeldStep(0));  // a has the only slot
  Collector b(Submit(Generate("b", {{1}, {2}, {3}, {4}}, 1)));
  EXPECT_EQ(scheduler_->Stats().queued_sequences, 4);
  EXPECT_THAT(scheduler_->Submit(Generate("c", {{1}}, 1)),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("max_queued_sequences (4)")));
  engine_.ReleaseSteps();
  ASSERT_THAT(a.Wait(), IsOk());
  ASSERT_THAT(b.Wait(), IsOk());
  EXPECT_EQ(scheduler_->Stats().queued_sequences, 0);
  Collector again(Submit(Generate("c", {{1}, {2}, {3}, {4}}, 1)));
  EXPECT_THAT(again.Wait(), IsOk());
}

// An engine error fails the requests with a sequence in that step (and
// ends their sequences); a request not in it carries on.
TEST_F(SchedulerTest, EngineStepFailureFailsOnlyRequestsInThatStep) {
  SchedulerOptions options;
  options.stream_capacity = 2;
  Start(options);
  // `paused` fills its stream in steps 0 and 1, then sits out.
  std::shared_ptr<RequestStream> paused =
      Submit(Generate("carol", {{3, 4}}, 6));
  ASSERT_TRUE(Eventually([&] { return paused->Full(); }));
  engine_.HoldSteps();
  Collector x(Submit(Generate("xavier", {{5}}, 4)));
  ASSERT_TRUE(engine_.WaitForHeldStep(2));
  engine_.FailStepsWithToken(30);
  Collector a(Submit(Generate("alice", {{30, 1}}, 4)));
  engine_.ReleaseSteps();
  // Step 3 holds xavier's decode and alice's prefill, and fails.
  EXPECT_THAT(a.Wait(), StatusIs(absl::StatusCode::kInternal,
                                 HasSubstr("injected failure")));
  EXPECT_THAT(x.Wait(), StatusIs(absl::StatusCode::kInternal,
                                 HasSubstr("injected failure")));
  EXPECT_EQ(engine_.live_sequences(), 1);  // only carol's

  const auto steps = engine_.steps();
  ASSERT_THAT(steps, SizeIs(4));
  EXPECT_TRUE(steps[3].failed);
  EXPECT_THAT(steps[3].items, SizeIs(2));

  Collector reader(paused);
  ASSERT_THAT(reader.Wait(), IsOk());
  ExpectGreedyFrames({3, 4}, Layout(), ByPrompt(reader.frames()).at(0), 6);
  EXPECT_EQ(engine_.live_sequences(), 0);
}

// Requests with different layouts share a step capturing the union, in the
// model's order; each frame carries exactly its own request's columns.
TEST_F(SchedulerTest, UnionLayoutGivesEachRequestExactlyItsColumns) {
  const Layout l1 = LayoutOf({"embed", "blocks.0.mlp_post"});
  const Layout l2 =
      LayoutOf({"blocks.0.attn_out", "blocks.0.mlp_post", "final_norm"});
  Start();
  engine_.HoldSteps();
  Collector r1(Submit(Generate("u1", {{2, 3}}, 4, l1)));
  ASSERT_TRUE(engine_.WaitForHeldStep(0));
  Collector r2(Submit(Generate("u2", {{4, 5, 6}}, 4, l2)));
  Collector r3(Submit(Generate("u3", {{7}}, 4)));  // captures nothing
  engine_.ReleaseSteps();
  ASSERT_THAT(r1.Wait(), IsOk());
  ASSERT_THAT(r2.Wait(), IsOk());
  ASSERT_THAT(r3.Wait(), IsOk());

  const auto steps = engine_.steps();
  ASSERT_GE(steps.size(), 2u);
  EXPECT_THAT(steps[0].capture, ElementsAre("embed", "blocks.0.mlp_post"));
  EXPECT_THAT(steps[1].items, SizeIs(3));
  EXPECT_THAT(steps[1].capture, ElementsAre("embed", "blocks.0.attn_out",
                                            "blocks.0.mlp_post", "final_norm"));
  ExpectGreedyFrames({2, 3}, l1, ByPrompt(r1.frames()).at(0), 4);
  ExpectGreedyFrames({4, 5, 6}, l2, ByPrompt(r2.frames()).at(0), 4);
  ExpectGreedyFrames({7}, Layout(), ByPrompt(r3.frames()).at(0), 4);
  for (const ActivationRecord& f : r1.frames()) {
    EXPECT_EQ(f.values.size(), l1.width());
  }
  for (const ActivationRecord& f : r3.frames()) {
    EXPECT_TRUE(f.values.empty());
  }
}

// Teacher-forced: one step per prompt, one frame per prompt position with
// the token fed there and its values; no logits asked for.
TEST_F(SchedulerTest, ForwardModeYieldsOneFramePerPromptPosition) {
  const Layout layout = LayoutOf({"blocks.0.resid_post"});
  Start();
  ScheduledRequest request =
      Generate("alice", {{1, 2, 3, 4, 5}, {7, 8, 9}}, 0, layout);
  request.forward = true;
  Collector c(Submit(request));
  ASSERT_THAT(c.Wait(), IsOk());

  const auto frames = ByPrompt(c.frames());
  ASSERT_THAT(frames, SizeIs(2));
  for (const auto& [prompt, got] : frames) {
    const std::vector<int64_t>& tokens = request.prompts[prompt];
    ASSERT_THAT(got, SizeIs(tokens.size()));
    for (size_t p = 0; p < tokens.size(); ++p) {
      EXPECT_EQ(got[p].step, static_cast<int32_t>(p));
      EXPECT_EQ(got[p].token, tokens[p]);
      EXPECT_EQ(got[p].values, ExpectedValues(layout, p, tokens[p]));
    }
  }
  size_t items = 0;
  for (const auto& step : engine_.steps()) {
    for (const auto& item : step.items) {
      ++items;
      EXPECT_TRUE(item.all_positions);
      EXPECT_FALSE(item.want_logits);
    }
  }
  EXPECT_EQ(items, 2u);
  EXPECT_EQ(engine_.live_sequences(), 0);
}

// Destroying the scheduler finishes every open stream, running or waiting,
// with UNAVAILABLE and ends all engine sequences.
TEST_F(SchedulerTest, DestructorFinishesOpenStreamsWithUnavailable) {
  SchedulerOptions options;
  options.max_batch_sequences = 1;
  options.stream_capacity = 2;
  Start(options);
  std::shared_ptr<RequestStream> running = Submit(Generate("a", {{1}}, 10));
  ASSERT_TRUE(Eventually([&] { return running->Full(); }));
  std::shared_ptr<RequestStream> waiting = Submit(Generate("b", {{2}}, 3));
  EXPECT_EQ(engine_.live_sequences(), 1);
  scheduler_.reset();

  ActivationRecord frame;
  EXPECT_TRUE(running->Pop(&frame));
  EXPECT_TRUE(running->Pop(&frame));
  EXPECT_FALSE(running->Pop(&frame));
  EXPECT_THAT(running->Done(),
              ::testing::Optional(StatusIs(absl::StatusCode::kUnavailable)));
  EXPECT_THAT(waiting->Done(),
              ::testing::Optional(StatusIs(absl::StatusCode::kUnavailable)));
  EXPECT_EQ(engine_.live_sequences(), 0);
}

// Finds a prompt for which the fake model's greedy continuation reaches EOS
// at token index *eos_at, between 1 and 8.
std::vector<int64_t> PromptReachingEos(int* eos_at) {
  for (int64_t a = 0; a < 31; ++a) {
    for (int64_t b = 0; b < 31; ++b) {
      std::vector<int64_t> seq = {a, b};
      for (int i = 0; i < 9; ++i) {
        const int64_t t = FakeEngine::NextToken(seq);
        if (t == FakeEngine::kEos) {
          if (i == 0) break;
          *eos_at = i;
          return {a, b};
        }
        seq.push_back(t);
      }
    }
  }
  return {};
}

// With stop_at_eos a sequence ends with the EOS it generates; without, EOS
// is suppressed and the runner-up id is chosen.
TEST_F(SchedulerTest, StopAtEosEndsAtEosOtherwiseEosSuppressed) {
  int eos_at = 0;
  const std::vector<int64_t> prompt = PromptReachingEos(&eos_at);
  ASSERT_FALSE(prompt.empty());
  Start();
  ScheduledRequest stop = Generate("a", {prompt}, 10);
  stop.stop_at_eos = true;
  Collector c1(Submit(stop));
  Collector c2(Submit(Generate("b", {prompt}, 10)));
  ASSERT_THAT(c1.Wait(), IsOk());
  ASSERT_THAT(c2.Wait(), IsOk());

  const auto stopped = c1.frames();
  ASSERT_THAT(stopped, SizeIs(eos_at + 1));
  EXPECT_EQ(stopped.back().token, FakeEngine::kEos);
  const auto full = c2.frames();
  ASSERT_THAT(full, SizeIs(10));
  for (const ActivationRecord& f : full) EXPECT_NE(f.token, FakeEngine::kEos);
  EXPECT_EQ(full[eos_at].token, 0);  // EOS + 1, cyclically
  EXPECT_EQ(engine_.live_sequences(), 0);
}

// Within max_batch_tokens, decodes go first and a prefill that does not fit
// waits; a prompt longer than the budget then runs in a step of its own.
TEST_F(SchedulerTest, PrefillWaitsForTokenBudgetAndLongPromptRunsAlone) {
  SchedulerOptions options;
  options.max_batch_tokens = 8;
  Start(options);
  engine_.HoldSteps();
  Collector a(Submit(Generate("a", {{1, 2, 3}}, 6)));
  ASSERT_TRUE(engine_.WaitForHeldStep(0));
  Collector b(Submit(Generate("b", {{11, 12, 13, 14, 15, 16}}, 3)));
  const std::vector<int64_t> long_prompt(12, 20);
  Collector c(Submit(Generate("c", {long_prompt}, 2)));
  engine_.ReleaseSteps();
  ASSERT_THAT(a.Wait(), IsOk());
  ASSERT_THAT(b.Wait(), IsOk());
  ASSERT_THAT(c.Wait(), IsOk());

  const auto steps = engine_.steps();
  ASSERT_GE(steps.size(), 3u);
  ASSERT_THAT(steps[1].items, SizeIs(2));  // a's decode + b's prefill
  EXPECT_THAT(steps[1].items[0].tokens, SizeIs(1));
  EXPECT_THAT(steps[1].items[1].tokens, SizeIs(6));
  ASSERT_THAT(steps[2].items, SizeIs(1));  // c's prefill, alone
  EXPECT_EQ(steps[2].items[0].tokens, long_prompt);
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].items.size() > 1) {
      EXPECT_LE(steps[i].tokens(), 8) << "step " << i;
    }
  }
}

// Requests the engine would refuse (failing every request batched with
// them) are refused at Submit, naming the field.
TEST_F(SchedulerTest, SubmitRefusesInvalidRequests) {
  Start();
  EXPECT_THAT(
      scheduler_->Submit(Generate("a", {{1}, {}}, 2)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("prompts[1]")));
  EXPECT_THAT(
      scheduler_->Submit(Generate("a", {{1, 32}}, 2)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("vocabulary")));
  EXPECT_THAT(
      scheduler_->Submit(Generate("a", {std::vector<int64_t>(60, 1)}, 10)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("context")));
  EXPECT_THAT(scheduler_->Submit(Generate("a", {{1}}, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tokens_per_prompt")));
  EXPECT_THAT(
      scheduler_->Submit(Generate("a", {{1}}, 2, Layout({{"blocks.9.x", 3}}))),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("layout")));
  EXPECT_THAT(engine_.steps(), IsEmpty());
}

// Stats reflect steps and occupancy.
TEST_F(SchedulerTest, StatsCountStepsAndSequences) {
  SchedulerOptions options;
  options.max_batch_sequences = 2;
  Start(options);
  engine_.HoldSteps();
  Collector a(Submit(Generate("a", {{1}, {2}, {3}}, 2)));
  ASSERT_TRUE(engine_.WaitForHeldStep(0));
  SchedulerStats stats = scheduler_->Stats();
  EXPECT_EQ(stats.active_sequences, 2);
  EXPECT_EQ(stats.queued_sequences, 1);
  EXPECT_EQ(stats.active_requests, 1);
  EXPECT_EQ(stats.steps, 0);
  engine_.ReleaseSteps();
  ASSERT_THAT(a.Wait(), IsOk());
  stats = scheduler_->Stats();
  EXPECT_EQ(stats.steps, static_cast<int64_t>(engine_.steps().size()));
  EXPECT_EQ(stats.active_sequences, 0);
  EXPECT_EQ(stats.active_requests, 0);
}

// --- RequestStream ---

// Full at capacity; the pop that leaves "full" wakes the producer once;
// Done only after Finish and once every frame is popped.
TEST(RequestStreamTest, DrainCallbackOnLeavingFullAndDoneAfterLastPop) {
  RequestStream stream(2);
  int drains = 0;
  stream.SetDrainCallback([&] { ++drains; });
  stream.Push({0, 0, 5, {}, 1, 1});
  EXPECT_FALSE(stream.Full());
  stream.Push({0, 1, 6, {}, 1, 1});
  EXPECT_TRUE(stream.Full());
  stream.Push({0, 2, 7, {}, 1, 1});  // a step may overshoot capacity
  ActivationRecord f;
  ASSERT_TRUE(stream.Pop(&f));
  EXPECT_EQ(f.token, 5);
  EXPECT_EQ(drains, 0);  // still full
  ASSERT_TRUE(stream.Pop(&f));
  EXPECT_EQ(drains, 1);
  EXPECT_FALSE(stream.Full());
  stream.Finish(absl::OkStatus());
  stream.Push({0, 3, 8, {}, 1, 1});  // dropped
  EXPECT_EQ(stream.Done(), std::nullopt);
  ASSERT_TRUE(stream.Pop(&f));
  EXPECT_EQ(f.token, 7);
  EXPECT_FALSE(stream.Pop(&f));
  EXPECT_THAT(stream.Done(), ::testing::Optional(IsOk()));
  stream.Finish(absl::CancelledError("late"));  // first Finish wins
  EXPECT_THAT(stream.Done(), ::testing::Optional(IsOk()));
  EXPECT_EQ(drains, 1);
}

// SetListener(nullptr) returns only after a listener call in flight ends,
// and the old listener is never called afterwards.
TEST(RequestStreamTest, ClearingListenerWaitsForCallInFlight) {
  RequestStream stream(4);
  absl::Notification entered;
  std::atomic<bool> returned{false};
  std::atomic<int> calls{0};
  stream.SetListener([&] {
    ++calls;
    entered.Notify();
    // Long enough that a SetListener not waiting would return first.
    absl::SleepFor(absl::Milliseconds(50));
    returned = true;
  });
  std::thread producer([&] { stream.Push({}); });
  entered.WaitForNotification();
  stream.SetListener(nullptr);
  EXPECT_TRUE(returned);
  producer.join();
  stream.Push({});
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace fnprobe
