// Load test of the fnprobe-inference binary on loopback: 32 concurrent
// clients, each sending requests of 8 prompts, for a bounded time (default
// 120 s, FNPROBE_LOAD_SECONDS to change). No call may fail, and the
// server's resident memory must stay flat after the first half.
// Also: the binary starts, serves, and exits 0 on SIGTERM.
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/auth.h"
#include "fnprobe/v1/inference.grpc.pb.h"
#include "gtest/gtest.h"
#include "server/inference/tools/model_maker.h"
#include "tests/e2e/server_process.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::ServerProcess;

constexpr char kToken[] = "load-test-token-0123456789";

std::unique_ptr<ServerProcess> StartServer(const std::string& dir) {
  MakeModelOptions make;
  make.shape = "tiny";
  make.out_dir = dir + "/model";
  EXPECT_OK(MakeModel(make));
  std::ofstream(dir + "/tokens") << kToken << " loader\n";
  auto server =
      ServerProcess::Start(FNPROBE_INFERENCE_BINARY,
                           {"--model-dir", dir + "/model", "--device", "cpu",
                            "--tokens-file", dir + "/tokens", "--threads", "1"},
                           dir, dir + "/server.log");
  EXPECT_OK(server);
  return server.ok() ? *std::move(server) : nullptr;
}

v1::GenerateRequest LoadRequest(int client, int round) {
  v1::GenerateRequest r;
  for (int k = 0; k < 8; ++k) {
    r.add_prompts()->set_text(
        absl::StrCat("Client ", client, " round ", round, " prompt ", k,
                     " asks about the history of science."));
  }
  r.set_tokens_per_prompt(8);
  r.mutable_capture()->add_hooks("standard");
  r.mutable_sampling()->set_temperature(0.7f);
  r.mutable_sampling()->set_seed(client * 1000 + round);
  return r;
}

TEST(InferenceProcessTest, ServesAndExitsCleanlyOnSigterm) {
  std::string dir = MakeTempDir("inference_proc");
  auto server = StartServer(dir);
  ASSERT_NE(server, nullptr);
  auto stub = v1::InferenceService::NewStub(grpc::CreateChannel(
      server->address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  AddBearerToken(&context, kToken);
  auto reader = stub->Generate(&context, LoadRequest(0, 0));
  v1::GenerateResponse response;
  int frames = 0;
  while (reader->Read(&response)) frames += response.has_frame();
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(frames, 64);
  EXPECT_EQ(server->Stop(), 0);
}

TEST(InferenceLoadTest, ThirtyTwoClientsNoErrorsFlatMemory) {
  const char* env = std::getenv("FNPROBE_LOAD_SECONDS");
  const int seconds = env != nullptr ? std::atoi(env) : 120;
  std::string dir = MakeTempDir("inference_load");
  auto server = StartServer(dir);
  ASSERT_NE(server, nullptr);
  auto channel = grpc::CreateChannel(server->address(),
                                     grpc::InsecureChannelCredentials());
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(seconds);
  std::atomic<int64_t> calls{0}, frames{0}, errors{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 32; ++c) {
    clients.emplace_back([&, c] {
      auto stub = v1::InferenceService::NewStub(channel);
      for (int round = 0; absl::Now() < end && round < 100000; ++round) {
        grpc::ClientContext context;
        AddBearerToken(&context, kToken);
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(60));
        auto reader = stub->Generate(&context, LoadRequest(c, round));
        v1::GenerateResponse response;
        int n = 0;
        while (reader->Read(&response)) n += response.has_frame();
        grpc::Status status = reader->Finish();
        if (!status.ok() || n != 64) {
          ++errors;
          ADD_FAILURE() << "client " << c << " round " << round << ": "
                        << status.error_message() << " (" << n << " frames)";
        }
        ++calls;
        frames += n;
      }
    });
  }
  // Memory: sampled through the second half.
  int64_t rss_half = -1, rss_max_after = 0;
  while (absl::Now() < end) {
    absl::SleepFor(absl::Seconds(1));
    const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
    const int64_t rss = server->RssBytes();
    if (elapsed >= seconds / 2.0) {
      if (rss_half < 0) rss_half = rss;
      rss_max_after = std::max(rss_max_after, rss);
    }
  }
  for (auto& t : clients) t.join();
  const int64_t rss_end = server->RssBytes();
  std::printf(
      "load: %d s, 32 clients, %lld calls, %lld frames, %lld errors; server "
      "RSS at half time %.1f MiB, max after %.1f MiB, end %.1f MiB\n",
      seconds, static_cast<long long>(calls.load()),
      static_cast<long long>(frames.load()),
      static_cast<long long>(errors.load()), rss_half / 1048576.0,
      rss_max_after / 1048576.0, rss_end / 1048576.0);
  EXPECT_EQ(errors.load(), 0);
  EXPECT_GT(calls.load(), 32);
  // Flat: growth over the second half within 5% + 8 MiB of allocator noise.
  EXPECT_LE(rss_max_after, rss_half + rss_half / 20 + (8 << 20));
  EXPECT_EQ(server->Stop(), 0);
}

}  // namespace
}  // namespace fnprobe
