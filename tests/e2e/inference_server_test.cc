// fnprobe-inference end to end, on loopback with a tiny fnprobe-make-model
// checkpoint: what one client sees alone equals what it sees while others
// stream, cancellation frees capacity, every error path has its status code,
// a bad request never disturbs a healthy stream, overflow is reported.
#include "server/inference/serving/inference_server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/auth.h"
#include "common/credentials.h"
#include "common/frame_codec.h"
#include "fnprobe/v1/inference.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/masking_spec.h"
#include "server/inference/model/batch_generator.h"
#include "server/inference/model/model.h"
#include "server/inference/model/torch_engine.h"
#include "server/inference/tools/model_maker.h"
#include "tests/support/reference_data.h"
#include "tests/support/reference_tensors.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_certificates.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::MaxAbsDiff;
using ::fnprobe::testing::MaxRelDiff;
using ::testing::HasSubstr;

constexpr char kToken[] = "alice-token-0123456789";
constexpr char kOtherToken[] = "bob-token-0123456789ab";

// Frames of one call, by prompt then step.
struct CallResult {
  grpc::Status status;
  v1::StreamHeader header;
  std::map<std::pair<int, int>, v1::ActivationFrame> frames;
  v1::StreamSummary summary;
  bool has_summary = false;
};

class InferenceServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(MakeTempDir("inference_e2e"));
    MakeModelOptions make;
    make.shape = "tiny";
    make.family = "opt";
    make.out_dir = *dir_ + "/model";
    ASSERT_OK(MakeModel(make));
    std::ofstream(*dir_ + "/tokens") << kToken << " alice\n"
                                     << kOtherToken << " bob\n";
  }

  void StartServer(SchedulerOptions scheduling = {},
                   RequestLimits limits = {}) {
    InferenceServerOptions o;
    o.model_dir = *dir_ + "/model";
    o.model.device = "cpu";
    o.tokens_file = *dir_ + "/tokens";
    o.scheduling = scheduling;
    o.limits = limits;
    auto server = InferenceServer::Start(o);
    ASSERT_OK(server);
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::InferenceService::NewStub(channel_);
  }

  void SetUp() override { StartServer(); }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::Seconds(1));
  }

  CallResult Generate(const v1::GenerateRequest& request,
                      const std::string& token = kToken,
                      grpc::ClientContext* context = nullptr) {
    grpc::ClientContext own;
    if (context == nullptr) context = &own;
    AddBearerToken(context, token);
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(60));
    CallResult result;
    auto reader = stub_->Generate(context, request);
    v1::GenerateResponse response;
    while (reader->Read(&response)) {
      if (response.has_header()) result.header = response.header();
      if (response.has_frame()) {
        const auto& f = response.frame();
        result.frames[{f.prompt_index(), f.step()}] = f;
      }
      if (response.has_summary()) {
        result.summary = response.summary();
        result.has_summary = true;
      }
    }
    result.status = reader->Finish();
    return result;
  }

  CallResult Forward(const v1::ForwardRequest& request) {
    grpc::ClientContext context;
    AddBearerToken(&context, kToken);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    CallResult result;
    auto reader = stub_->Forward(&context, request);
    v1::GenerateResponse response;
    while (reader->Read(&response)) {
      if (response.has_header()) result.header = response.header();
      if (response.has_frame()) {
        const auto& f = response.frame();
        result.frames[{f.prompt_index(), f.step()}] = f;
      }
    }
    result.status = reader->Finish();
    return result;
  }

  static v1::GenerateRequest Request(std::vector<std::string> prompts,
                                     int tokens, const std::string& hooks,
                                     v1::Encoding encoding = v1::ENCODING_F32) {
    v1::GenerateRequest r;
    for (auto& p : prompts) r.add_prompts()->set_text(p);
    r.set_tokens_per_prompt(tokens);
    if (!hooks.empty()) r.mutable_capture()->add_hooks(hooks);
    r.mutable_capture()->set_encoding(encoding);
    return r;
  }

  std::vector<float> Values(const CallResult& r, int prompt, int step) {
    auto it = r.frames.find({prompt, step});
    if (it == r.frames.end()) return {};
    return *DecodeFrameValues(it->second.values(), r.header.encoding(),
                              r.header.layout().width());
  }

  static std::string* dir_;
  std::unique_ptr<InferenceServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::InferenceService::Stub> stub_;
};

std::string* InferenceServerTest::dir_ = nullptr;

// The stream: header with the layout, one frame per (prompt, step), summary.
TEST_F(InferenceServerTest, StreamsHeaderFramesSummary) {
  CallResult r =
      Generate(Request({"Tell me about sailing.", "Hello"}, 6, "standard"));
  ASSERT_TRUE(r.status.ok()) << r.status.error_message();
  EXPECT_EQ(r.header.layout().hooks_size(), 8);  // 4 hooks x 2 layers
  EXPECT_EQ(r.header.prompt_tokens_size(), 2);
  EXPECT_EQ(r.frames.size(), 12u);
  EXPECT_TRUE(r.has_summary);
  EXPECT_EQ(r.summary.frames(), 12);
  for (const auto& [key, frame] : r.frames) {
    EXPECT_EQ(frame.values().size(), 4u * r.header.layout().width());
    EXPECT_GE(frame.batch_size(), 1);
    EXPECT_FALSE(frame.token_text().empty() && frame.token_id() != 0);
  }
}

// A request made alone equals the same request made while 3 other clients
// stream: greedy ids identical, values within 1e-5 relative (f32).
TEST_F(InferenceServerTest, AloneEqualsWhileOthersStream) {
  v1::GenerateRequest mine = Request(
      {"Describe magnetic resonance imaging.", "What is a fossil?"}, 16, "all");
  CallResult alone = Generate(mine);
  ASSERT_TRUE(alone.status.ok()) << alone.status.error_message();

  // Three other clients stream long generations; ours starts once each of
  // them has received a frame, so it must share steps with them.
  std::vector<std::thread> others;
  std::atomic<int> other_errors{0};
  std::atomic<int> streaming{0};
  for (int i = 0; i < 3; ++i) {
    others.emplace_back([&, i] {
      grpc::ClientContext context;
      AddBearerToken(&context, i == 1 ? kOtherToken : kToken);
      auto reader = stub_->Generate(
          &context,
          Request({absl::StrCat("Other client ", i, " talks about boats."),
                   "Baroque music", "The water cycle"},
                  400, i == 0 ? "neurons" : "residual"));
      v1::GenerateResponse response;
      bool counted = false;
      while (reader->Read(&response)) {
        if (response.has_frame() && !counted) {
          counted = true;
          ++streaming;
        }
      }
      if (!counted) ++streaming;
      if (!reader->Finish().ok()) ++other_errors;
    });
  }
  absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (streaming.load() < 3 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  CallResult busy = Generate(mine);
  for (auto& t : others) t.join();
  ASSERT_TRUE(busy.status.ok()) << busy.status.error_message();
  EXPECT_EQ(other_errors.load(), 0);
  ASSERT_EQ(busy.frames.size(), alone.frames.size());
  int batched = 0;
  for (const auto& [key, frame] : alone.frames) {
    const auto& other = busy.frames.at(key);
    EXPECT_EQ(other.token_id(), frame.token_id());
    EXPECT_LE(MaxRelDiff(Values(busy, key.first, key.second),
                         Values(alone, key.first, key.second)),
              1e-5);
    if (other.batch_size() > frame.batch_size()) ++batched;
  }
  EXPECT_GT(batched, 0) << "the busy run never shared a step";
}

// Cancelling a call frees its sequences within a step or so.
TEST_F(InferenceServerTest, CancellationFreesCapacity) {
  grpc::ClientContext context;
  AddBearerToken(&context, kToken);
  auto reader = stub_->Generate(
      &context, Request({"one", "two", "three", "four"}, 400, "all"));
  v1::GenerateResponse response;
  int frames = 0;
  while (frames < 8 && reader->Read(&response)) frames += response.has_frame();
  EXPECT_GT(server_->stats().active_sequences, 0);
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (server_->stats().active_sequences > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(server_->stats().active_sequences, 0);
  EXPECT_EQ(server_->stats().active_requests, 0);
}

struct ErrorCase {
  std::string name;
  std::function<void(v1::GenerateRequest&)> edit;
  grpc::StatusCode code;
  std::string message;
};

// Every bad request gets its own status code and names the field or limit.
TEST_F(InferenceServerTest, ErrorPathsReturnTheirStatus) {
  std::vector<ErrorCase> cases = {
      {"no prompts", [](auto& r) { r.clear_prompts(); },
       grpc::StatusCode::INVALID_ARGUMENT, "prompts: no prompts"},
      {"zero tokens", [](auto& r) { r.set_tokens_per_prompt(0); },
       grpc::StatusCode::INVALID_ARGUMENT, "tokens_per_prompt"},
      {"too many tokens", [](auto& r) { r.set_tokens_per_prompt(5000); },
       grpc::StatusCode::RESOURCE_EXHAUSTED, "max_tokens_per_prompt"},
      {"bad hook",
       [](auto& r) { r.mutable_capture()->set_hooks(0, "blocks.*.nope"); },
       grpc::StatusCode::INVALID_ARGUMENT, "capture.hooks"},
      {"bad token id",
       [](auto& r) { r.mutable_prompts(0)->mutable_tokens()->add_ids(999999); },
       grpc::StatusCode::INVALID_ARGUMENT, "prompts[0].tokens"},
      {"empty prompt", [](auto& r) { r.mutable_prompts(0)->set_text(""); },
       grpc::StatusCode::INVALID_ARGUMENT, "prompts[0]: has no tokens"},
      {"prompt too long",
       [](auto& r) {
         auto* ids = r.mutable_prompts(0)->mutable_tokens();
         for (int i = 0; i < 600; ++i) ids->add_ids(5);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "context 512"},
      {"too many prompts",
       [](auto& r) {
         for (int i = 0; i < 300; ++i) r.add_prompts()->set_text("x");
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED, "max_prompts_per_request"},
      {"bad intervention",
       [](auto& r) {
         auto* iv = r.add_interventions();
         iv->set_hook("blocks.0.mlp_post");
         iv->add_units(4096);
         iv->set_op(v1::Intervention::OP_ZERO);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "interventions[0].units"},
      {"unspecified op",
       [](auto& r) {
         auto* iv = r.add_interventions();
         iv->set_hook("blocks.0.mlp_post");
         iv->add_units(1);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "interventions[0].op"},
      {"bad sampling",
       [](auto& r) { r.mutable_sampling()->set_temperature(-1); },
       grpc::StatusCode::INVALID_ARGUMENT, "sampling"},
      {"oversized",
       [](auto& r) {
         r.mutable_prompts(0)->set_text(std::string(17 << 20, 'a'));
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED, ""},
  };
  for (const ErrorCase& c : cases) {
    v1::GenerateRequest r = Request({"hello"}, 4, "standard");
    c.edit(r);
    CallResult result = Generate(r);
    EXPECT_EQ(result.status.error_code(), c.code)
        << c.name << ": " << result.status.error_message();
    EXPECT_THAT(result.status.error_message(), HasSubstr(c.message)) << c.name;
  }
  CallResult missing = Generate(Request({"hi"}, 2, ""), "");
  EXPECT_EQ(missing.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(missing.status.error_message(),
              HasSubstr("missing bearer token"));
  CallResult wrong =
      Generate(Request({"hi"}, 2, ""), "not-a-real-token-000000");
  EXPECT_EQ(wrong.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

// A full queue refuses with RESOURCE_EXHAUSTED naming the limit.
TEST_F(InferenceServerTest, QueueLimit) {
  server_->Shutdown(absl::Seconds(1));
  SchedulerOptions small;
  small.max_batch_sequences = 2;
  small.max_queued_sequences = 6;
  StartServer(small);
  grpc::ClientContext context;
  AddBearerToken(&context, kToken);
  // Large unread frames: the first request pauses once its stream buffer
  // and the transport's flow-control window are full, so its last four
  // prompts stay queued.
  auto reader = stub_->Generate(
      &context, Request({"a", "b", "c", "d", "e", "f"}, 450, "all"));
  v1::GenerateResponse response;
  ASSERT_TRUE(reader->Read(&response)) << reader->Finish().error_message();
  ASSERT_TRUE(response.has_header());
  CallResult refused = Generate(Request({"x", "y", "z"}, 4, ""));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.status.error_message(),
              HasSubstr("max_queued_sequences"));
  context.TryCancel();
  while (reader->Read(&response)) {
  }
  reader->Finish();
}

// Malformed and oversized requests while a healthy stream runs leave it
// exactly as it would have been alone.
TEST_F(InferenceServerTest, BadRequestsDoNotDisturbHealthyStream) {
  v1::GenerateRequest healthy =
      Request({"The water cycle", "Ships"}, 20, "all");
  CallResult alone = Generate(healthy);
  CallResult during;
  std::thread t([&] { during = Generate(healthy); });
  for (int i = 0; i < 20; ++i) {
    v1::GenerateRequest bad = Request({"x"}, 4, "standard");
    if (i % 3 == 0)
      bad.mutable_prompts(0)->set_text(std::string(17 << 20, 'b'));
    if (i % 3 == 1) bad.mutable_capture()->set_hooks(0, "nonsense");
    if (i % 3 == 2) bad.set_tokens_per_prompt(-5);
    EXPECT_FALSE(Generate(bad).status.ok());
  }
  t.join();
  ASSERT_TRUE(during.status.ok()) << during.status.error_message();
  ASSERT_EQ(during.frames.size(), alone.frames.size());
  for (const auto& [key, frame] : alone.frames) {
    EXPECT_EQ(during.frames.at(key).token_id(), frame.token_id());
    EXPECT_LE(MaxRelDiff(Values(during, key.first, key.second),
                         Values(alone, key.first, key.second)),
              1e-5);
  }
}

// Values beyond f16's range are sent as inf and counted, never clipped.
TEST_F(InferenceServerTest, F16OverflowIsReported) {
  v1::GenerateRequest r =
      Request({"hello there"}, 3, "blocks.0.mlp_post", v1::ENCODING_F16);
  auto* iv = r.add_interventions();
  iv->set_hook("blocks.0.mlp_post");
  iv->add_units(10);
  iv->add_units(11);
  iv->set_op(v1::Intervention::OP_SET);
  iv->set_value(1e6f);
  CallResult result = Generate(r);
  ASSERT_TRUE(result.status.ok()) << result.status.error_message();
  for (const auto& [key, frame] : result.frames) {
    EXPECT_EQ(frame.overflow_count(), 2);
    std::vector<float> v = Values(result, key.first, key.second);
    EXPECT_TRUE(std::isinf(v[10]) && v[10] > 0);
    EXPECT_TRUE(std::isfinite(v[12]));
  }
  EXPECT_EQ(result.summary.overflow_values(), 6);
}

// Forward: one frame per prompt position, token = the input token.
TEST_F(InferenceServerTest, ForwardStreamsEveryPosition) {
  grpc::ClientContext context;
  AddBearerToken(&context, kToken);
  v1::ForwardRequest r;
  r.add_prompts();
  for (int64_t id : {5, 6, 7, 8}) {
    r.mutable_prompts(0)->mutable_tokens()->add_ids(id);
  }
  r.add_prompts()->set_text("Sailing is fun");
  r.mutable_capture()->add_hooks("residual");
  auto reader = stub_->Forward(&context, r);
  v1::GenerateResponse response;
  std::vector<v1::ActivationFrame> frames;
  v1::StreamHeader header;
  while (reader->Read(&response)) {
    if (response.has_header()) header = response.header();
    if (response.has_frame()) frames.push_back(response.frame());
  }
  ASSERT_TRUE(reader->Finish().ok());
  const int second = header.prompt_tokens(1).ids_size();
  ASSERT_EQ(frames.size(), 4u + second);
  for (const auto& f : frames) {
    if (f.prompt_index() == 0) EXPECT_EQ(f.token_id(), 5 + f.step());
  }
}

// Forward with `score`: every frame's next_token_logprob and top1 against
// a direct computation, log_softmax of the model's own logits (the same
// checkpoint loaded in-process); the same alone and batched with another
// request; the last position of each prompt marked (NaN, false).
TEST_F(InferenceServerTest, ScoredForwardMatchesLogSoftmaxOfTheLogits) {
  const std::vector<std::string> texts = {"Sailing is fun on the river",
                                          "What is a fossil?"};
  v1::ForwardRequest r;
  for (const auto& t : texts) r.add_prompts()->set_text(t);
  r.set_score(true);
  const CallResult scored = Forward(r);
  ASSERT_TRUE(scored.status.ok()) << scored.status.error_message();
  ModelOptions options;
  options.device = "cpu";
  auto model = Model::Load(*dir_ + "/model", options);
  ASSERT_OK(model);
  std::unique_ptr<Engine> engine = NewTorchEngine(*model);
  const int64_t vocab = (*model)->config().vocab_size;
  for (int k = 0; k < 2; ++k) {
    const auto& ids = scored.header.prompt_tokens(k).ids();
    const std::vector<int64_t> prompt(ids.begin(), ids.end());
    ASSERT_OK(ForwardBatch(
        *engine, {prompt}, Layout(), [&](const PromptActivations& a) {
          for (size_t p = 0; p < prompt.size(); ++p) {
            const v1::ActivationFrame& f =
                scored.frames.at({k, static_cast<int>(p)});
            if (p + 1 == prompt.size()) {
              EXPECT_TRUE(std::isnan(f.next_token_logprob()));
              EXPECT_FALSE(f.next_token_top1());
              continue;
            }
            const float* row = a.logits.data() + p * vocab;
            double sum = 0;
            int64_t best = 0;
            for (int64_t v = 0; v < vocab; ++v) {
              sum += std::exp(static_cast<double>(row[v]));
              if (row[v] > row[best]) best = v;
            }
            const double direct = row[prompt[p + 1]] - std::log(sum);
            EXPECT_NEAR(f.next_token_logprob(), direct, 1e-4) << k << " " << p;
            EXPECT_EQ(f.next_token_top1(), best == prompt[p + 1]);
          }
          return absl::OkStatus();
        }));
  }
  // Alone: the second prompt in a request of its own.
  v1::ForwardRequest alone;
  alone.add_prompts()->set_text(texts[1]);
  alone.set_score(true);
  const CallResult one = Forward(alone);
  ASSERT_TRUE(one.status.ok());
  for (const auto& [key, frame] : one.frames) {
    const v1::ActivationFrame& batched = scored.frames.at({1, key.second});
    if (std::isnan(frame.next_token_logprob())) continue;
    EXPECT_NEAR(frame.next_token_logprob(), batched.next_token_logprob(), 1e-5);
    EXPECT_EQ(frame.next_token_top1(), batched.next_token_top1());
  }
  // Unscored frames carry no score.
  r.set_score(false);
  const CallResult plain = Forward(r);
  for (const auto& [key, frame] : plain.frames) {
    EXPECT_EQ(frame.next_token_logprob(), 0.0f);
    EXPECT_FALSE(frame.next_token_top1());
  }
}

// The interventions a masking run sends (MaskingInterventions) are exact: a
// zeroed unit reads 0 in the captured activations at every position, and
// keep-only with every unit of the hook point equals no intervention.
TEST_F(InferenceServerTest, MaskingInterventionsAreExact) {
  const char kHook[] = "blocks.0.mlp_post";
  v1::ForwardRequest base;
  base.add_prompts()->set_text("The market by the harbor sells pepper");
  base.set_score(true);
  base.mutable_capture()->add_hooks(kHook);
  base.mutable_capture()->set_encoding(v1::ENCODING_F32);
  const CallResult none = Forward(base);
  ASSERT_TRUE(none.status.ok()) << none.status.error_message();
  const int64_t width = none.header.layout().width();

  v1::ForwardRequest zero = base;
  for (auto& iv : MaskingInterventions({{kHook, {3, 7, 100}}},
                                       v1::MaskingOperation::ZERO, 0)) {
    *zero.add_interventions() = iv;
  }
  const CallResult zeroed = Forward(zero);
  ASSERT_TRUE(zeroed.status.ok()) << zeroed.status.error_message();
  for (const auto& [key, frame] : zeroed.frames) {
    const std::vector<float> v = Values(zeroed, key.first, key.second);
    ASSERT_EQ(static_cast<int64_t>(v.size()), width);
    EXPECT_EQ(v[3], 0.0f);
    EXPECT_EQ(v[7], 0.0f);
    EXPECT_EQ(v[100], 0.0f);
    EXPECT_NE(Values(none, key.first, key.second)[3], 0.0f);
  }

  std::vector<int64_t> all(width);
  for (int64_t u = 0; u < width; ++u) all[u] = u;
  v1::ForwardRequest keep = base;
  for (auto& iv : MaskingInterventions({{kHook, all}},
                                       v1::MaskingOperation::KEEP_ONLY, 0)) {
    *keep.add_interventions() = iv;
  }
  const CallResult kept = Forward(keep);
  ASSERT_TRUE(kept.status.ok()) << kept.status.error_message();
  ASSERT_EQ(kept.frames.size(), none.frames.size());
  for (const auto& [key, frame] : none.frames) {
    const v1::ActivationFrame& k = kept.frames.at(key);
    EXPECT_LE(MaxAbsDiff(Values(kept, key.first, key.second),
                         Values(none, key.first, key.second)),
              1e-6);
    if (std::isnan(frame.next_token_logprob())) continue;
    EXPECT_NEAR(k.next_token_logprob(), frame.next_token_logprob(), 1e-6);
  }
}

TEST_F(InferenceServerTest, ModelInfoTokenizeHealth) {
  grpc::ClientContext c1;
  AddBearerToken(&c1, kToken);
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&c1, {}, &info).ok());
  EXPECT_EQ(info.family(), "opt");
  EXPECT_EQ(info.num_layers(), 2);
  EXPECT_EQ(info.presets().at("neurons").hooks_size(), 2);
  EXPECT_EQ(info.limits().max_prompts_per_request(), 256);

  grpc::ClientContext c2;
  AddBearerToken(&c2, kToken);
  v1::TokenizeRequest tr;
  tr.add_texts("Hello world");
  v1::TokenizeResponse tokens;
  ASSERT_TRUE(stub_->Tokenize(&c2, tr, &tokens).ok());
  EXPECT_GT(tokens.tokens(0).ids_size(), 0);

  // grpc.health.v1.Health/Check with an empty request: SERVING (1).
  grpc::GenericStub generic(channel_);
  grpc::ClientContext c3;
  grpc::ByteBuffer request, reply;
  grpc::Slice empty("");
  request = grpc::ByteBuffer(&empty, 1);
  absl::Notification done;
  grpc::Status status;
  generic.UnaryCall(&c3, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                    &request, &reply, [&](grpc::Status s) {
                      status = s;
                      done.Notify();
                    });
  done.WaitForNotification();
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(reply.Dump(&slices).ok());
  std::string bytes;
  for (auto& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

// With a certificate and key the server speaks TLS only.
TEST_F(InferenceServerTest, ServesTlsWhenConfigured) {
  server_->Shutdown(absl::Seconds(1));
  std::ofstream(*dir_ + "/server.crt") << testing::kServerCert;
  std::ofstream(*dir_ + "/server.key") << testing::kServerKey;
  InferenceServerOptions o;
  o.model_dir = *dir_ + "/model";
  o.model.device = "cpu";
  o.tls_cert = *dir_ + "/server.crt";
  o.tls_key = *dir_ + "/server.key";
  auto server = InferenceServer::Start(o);
  ASSERT_OK(server);
  const std::string address = absl::StrCat("localhost:", (*server)->port());
  auto tls = MakeChannelCredentials(*dir_ + "/server.crt");
  ASSERT_OK(tls);
  auto secure =
      v1::InferenceService::NewStub(grpc::CreateChannel(address, *tls));
  grpc::ClientContext c1;
  v1::ModelInfo info;
  grpc::Status ok = secure->GetModelInfo(&c1, {}, &info);
  EXPECT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(info.family(), "opt");
  auto plain = v1::InferenceService::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
  grpc::ClientContext c2;
  c2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  EXPECT_EQ(plain->GetModelInfo(&c2, {}, &info).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  o.tls_key.clear();
  EXPECT_THAT(InferenceServer::Start(o).status(),
              testing::StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fnprobe
