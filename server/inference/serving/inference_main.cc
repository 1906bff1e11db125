// fnprobe-inference: serves one model to many clients over gRPC, batching
// every client's sequences into each forward step and streaming every
// generated token's activations. Flags into options, start, wait for
// SIGINT/SIGTERM, shut down.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/dtype.h"
#include "common/server_lifecycle.h"
#include "server/inference/serving/inference_server.h"

int main(int argc, char** argv) {
  fnprobe::InferenceServerOptions o;
  std::string dtype = "f32";
  std::string port_file;
  double grace_seconds = 10;
  double stats_seconds = 0;
  CLI::App app{
      "fnprobe-inference: load one Hugging Face checkpoint and serve "
      "generation with per-token activation capture to many clients "
      "(gRPC fnprobe.v1.InferenceService)."};
  app.add_option("--model-dir", o.model_dir,
                 "Checkpoint directory (config.json, *.safetensors, "
                 "tokenizer.json)")
      ->required();
  app.add_option("--listen", o.listen,
                 "HOST:PORT to serve on; port 0 picks a free one")
      ->capture_default_str();
  app.add_option("--device", o.model.device,
                 "auto (CUDA when available), cpu, cuda or cuda:N")
      ->capture_default_str();
  app.add_option("--dtype", dtype, "Compute dtype: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  app.add_option(
      "--threads", o.model.threads,
      "CPU threads for the math, set once at load (0: every CPU "
      "this process may use; the BLAS runs on one thread inside them)");
  app.add_flag("--batch-invariant", o.model.batch_invariant,
               "Matrix products over fixed blocks of rows, so that each "
               "sequence's activations are bit-identical whatever else "
               "shares its batch (costs throughput; see README)");
  app.add_option("--max-batch-sequences", o.scheduling.max_batch_sequences,
                 "Sequences stepping together (slots)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-batch-tokens", o.scheduling.max_batch_tokens,
                 "Tokens in one forward step, prompt prefill included")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-queued-sequences", o.scheduling.max_queued_sequences,
                 "Sequences waiting for a slot, all users; beyond it "
                 "requests get RESOURCE_EXHAUSTED")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--stream-buffer", o.scheduling.stream_capacity,
                 "Frames buffered per stream before its sequences pause")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-prompts-per-request", o.limits.max_prompts_per_request,
                 "Prompts in one request")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-tokens-per-prompt", o.limits.max_tokens_per_prompt,
                 "tokens_per_prompt limit")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--max-interventions", o.limits.max_interventions,
                 "Interventions in one request")
      ->capture_default_str();
  app.add_option("--max-request-bytes", o.limits.max_request_bytes,
                 "Largest request message accepted")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option("--tokens-file", o.tokens_file,
                 "Bearer tokens, one 'TOKEN USER' per line; unset: no auth");
  app.add_option("--tls-cert", o.tls_cert, "Server certificate (PEM)");
  app.add_option("--tls-key", o.tls_key, "Server private key (PEM)");
  app.add_option("--port-file", port_file,
                 "Write the bound port to this file once serving");
  app.add_option("--shutdown-grace", grace_seconds,
                 "Seconds in-flight streams get at shutdown")
      ->capture_default_str();
  app.add_option("--log-stats-every", stats_seconds,
                 "Seconds between scheduler statistics lines (steps, summed "
                 "batch sizes, slots, queue) on stdout; 0: none")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  o.model.dtype = *fnprobe::ParseFloatDTypeFlag(dtype);  // IsMember

  sigset_t stop_signals = fnprobe::BlockStopSignals();
  auto server = fnprobe::InferenceServer::Start(o);
  if (!server.ok()) {
    std::cerr << "fnprobe-inference: " << server.status().message() << "\n";
    return 1;
  }
  const fnprobe::ModelConfig& c = (*server)->model().config();
  std::cout << "fnprobe-inference: serving " << o.model_dir << " ("
            << fnprobe::FamilyName(c.family) << ", " << c.num_layers
            << " layers) on " << (*server)->model().device() << ", port "
            << (*server)->port() << std::endl;
  if (absl::Status s = fnprobe::WritePortFile(port_file, (*server)->port());
      !s.ok()) {
    std::cerr << "fnprobe-inference: " << s.message() << "\n";
    return 1;
  }
  // Cumulative counts, so that a reader can take the mean batch over any
  // interval: (batched_sequences growth) / (steps growth).
  absl::Notification stop_stats;
  std::thread stats_thread;
  if (stats_seconds > 0) {
    stats_thread = std::thread([&] {
      while (!stop_stats.WaitForNotificationWithTimeout(
          absl::Seconds(stats_seconds))) {
        const fnprobe::SchedulerStats s = (*server)->stats();
        std::cout << "fnprobe-inference: stats steps " << s.steps
                  << " batched_sequences " << s.batched_sequences
                  << " active_sequences " << s.active_sequences
                  << " queued_sequences " << s.queued_sequences << std::endl;
      }
    });
  }
  const int signal_number = fnprobe::WaitForStopSignal(stop_signals);
  stop_stats.Notify();
  if (stats_thread.joinable()) stats_thread.join();
  std::cout << "fnprobe-inference: signal " << signal_number
            << ", shutting down" << std::endl;
  (*server)->Shutdown(absl::Seconds(grace_seconds));
  return 0;
}
