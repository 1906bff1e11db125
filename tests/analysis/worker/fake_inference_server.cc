#include "tests/analysis/worker/fake_inference_server.h"

#include <cmath>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/frame_codec.h"
#include "common/layout.h"
#include "common/layout_proto.h"
#include "common/portable_hash.h"

namespace fnprobe::testing {
namespace {

Layout FakeLayout() {
  return Layout({{"blocks.0.mlp_post", 4}, {"blocks.1.mlp_post", 4}});
}

// A value in [-1, 1) from a hash of its coordinates.
float Noise(const std::string& text, int step, int unit) {
  const uint64_t h = Fnv1a64(absl::StrCat(text, "|", step, "|", unit));
  return static_cast<float>(static_cast<double>(h % 20000) / 10000.0 - 1.0);
}

}  // namespace

std::unique_ptr<FakeInferenceServer> FakeInferenceServer::Start(
    const std::string& model) {
  std::unique_ptr<FakeInferenceServer> fake(new FakeInferenceServer(model));
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &fake->port_);
  builder.RegisterService(fake.get());
  fake->server_ = builder.BuildAndStart();
  if (fake->server_ == nullptr || fake->port_ == 0) return nullptr;
  return fake;
}

FakeInferenceServer::~FakeInferenceServer() {
  Release();
  if (server_ != nullptr) {
    server_->Shutdown(std::chrono::system_clock::now());
    server_->Wait();
  }
}

std::string FakeInferenceServer::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void FakeInferenceServer::Hold() {
  absl::MutexLock lock(&mu_);
  hold_ = true;
}

void FakeInferenceServer::Release() {
  absl::MutexLock lock(&mu_);
  hold_ = false;
}

void FakeInferenceServer::FailWith(grpc::Status status) {
  absl::MutexLock lock(&mu_);
  failure_ = std::move(status);
}

std::vector<std::string> FakeInferenceServer::prompts_seen() {
  absl::MutexLock lock(&mu_);
  return prompts_seen_;
}

int FakeInferenceServer::generate_calls() {
  absl::MutexLock lock(&mu_);
  return calls_;
}

bool FakeInferenceServer::WaitForHeld(int n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_ >= n; };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

grpc::Status FakeInferenceServer::Generate(
    grpc::ServerContext* context, const v1::GenerateRequest* request,
    grpc::ServerWriter<v1::GenerateResponse>* writer) {
  {
    absl::MutexLock lock(&mu_);
    ++calls_;
    if (!failure_.ok()) return failure_;
    for (const auto& prompt : request->prompts()) {
      prompts_seen_.push_back(prompt.text());
    }
  }
  const Layout layout = FakeLayout();
  v1::GenerateResponse header;
  LayoutToProto(layout, header.mutable_header()->mutable_layout());
  header.mutable_header()->set_encoding(v1::ENCODING_F32);
  header.mutable_header()->set_model(model_);
  if (!writer->Write(header)) return grpc::Status::CANCELLED;
  {
    absl::MutexLock lock(&mu_);
    if (hold_) {
      ++held_;
      auto released = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !hold_ || context->IsCancelled();
      };
      // IsCancelled does not wake the mutex: poll it.
      while (!mu_.AwaitWithTimeout(absl::Condition(&released),
                                   absl::Milliseconds(10))) {
      }
      if (context->IsCancelled()) {
        return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
      }
    }
  }
  std::vector<float> values(static_cast<size_t>(layout.width()));
  for (int p = 0; p < request->prompts_size(); ++p) {
    const std::string& text = request->prompts(p).text();
    const bool task = absl::StartsWith(text, "alpha");
    for (int step = 0; step < request->tokens_per_prompt(); ++step) {
      for (size_t u = 0; u < values.size(); ++u) {
        values[u] = Noise(text, step, static_cast<int>(u)) +
                    (task && u == 0 ? 3.0f : 0.0f);
      }
      v1::GenerateResponse frame;
      v1::ActivationFrame* f = frame.mutable_frame();
      f->set_prompt_index(p);
      f->set_step(step);
      f->set_token_id(100 + step);
      f->set_token_text(absl::StrCat(" t", step));
      absl::StatusOr<EncodedValues> bytes =
          EncodeFrameValues(values, v1::ENCODING_F32);
      if (!bytes.ok()) {
        return grpc::Status(grpc::StatusCode::INTERNAL,
                            std::string(bytes.status().message()));
      }
      f->set_values(std::move(bytes->bytes));
      if (!writer->Write(frame)) return grpc::Status::CANCELLED;
    }
  }
  return grpc::Status::OK;
}

grpc::Status FakeInferenceServer::GetModelInfo(
    grpc::ServerContext* context, const v1::GetModelInfoRequest* request,
    v1::ModelInfo* response) {
  response->set_model(model_);
  response->set_family("gpt2");
  response->set_num_layers(2);
  response->set_hidden_size(4);
  response->set_context_length(kContextLength);
  for (int layer = 0; layer < 2; ++layer) {
    for (const char* hook : {"attn_out", "mlp_post", "mlp_out", "resid_post"}) {
      v1::HookPoint* point = response->add_hook_points();
      point->set_name(absl::StrCat("blocks.", layer, ".", hook));
      point->set_width(4);
    }
  }
  response->mutable_limits()->set_max_tokens_per_prompt(64);
  response->mutable_limits()->set_max_prompts_per_request(1000);
  return grpc::Status::OK;
}

grpc::Status FakeInferenceServer::Tokenize(grpc::ServerContext* context,
                                           const v1::TokenizeRequest* request,
                                           v1::TokenizeResponse* response) {
  for (const std::string& text : request->texts()) {
    v1::TokenIds* ids = response->add_tokens();
    ids->add_ids(1);  // the start token
    for (absl::string_view word :
         absl::StrSplit(text, ' ', absl::SkipEmpty())) {
      ids->add_ids(static_cast<int64_t>(word.size()));
    }
  }
  return grpc::Status::OK;
}

}  // namespace fnprobe::testing
