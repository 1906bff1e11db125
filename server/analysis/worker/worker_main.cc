// fnprobe-worker: owns experiments. Serves fnprobe.v1.ExperimentService,
// drives each experiment's runs on the named inference servers, fits and
// stores networks in <data-dir>. Flags into options, start, wait for
// SIGINT/SIGTERM, shut down (runs in flight get --drain-grace to finish);
// a restart picks up unfinished experiments.
#include <iostream>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common/server_lifecycle.h"
#include "server/analysis/worker/worker_server.h"

int main(int argc, char** argv) {
  fnprobe::worker::WorkerServerOptions o;
  o.listen = "127.0.0.1:7070";
  std::string port_file;
  double grace_seconds = 5;
  double drain_seconds = 10;
  CLI::App app{
      "fnprobe-worker: run block-design experiments on fnprobe-inference "
      "servers, fit the GLM per unit and keep networks, overlaps and "
      "classifications in SQLite (gRPC fnprobe.v1.ExperimentService)."};
  app.add_option("--listen", o.listen,
                 "HOST:PORT to serve on; port 0 picks a free one")
      ->capture_default_str();
  app.add_option("--inference", o.inference,
                 "Inference server HOST:PORT; repeat the flag for several "
                 "servers (runs are shared among those serving the model)")
      ->required();
  app.add_option("--data-dir", o.data_dir,
                 "Directory for the database (fnprobe.db) and the activation "
                 "store (activations/); created if missing")
      ->required();
  app.add_option("--port-file", port_file,
                 "Write the bound port to this file once serving");
  app.add_option("--tokens-file", o.tokens_file,
                 "Bearer tokens of users, one 'TOKEN USER' per line; without "
                 "it every caller is 'anonymous'");
  app.add_option("--tls-cert", o.tls_cert, "Server certificate (PEM)");
  app.add_option("--tls-key", o.tls_key, "Server private key (PEM)");
  app.add_option("--inference-token", o.inference_token,
                 "Bearer token the worker presents to the inference servers");
  app.add_option("--inference-ca", o.inference_ca,
                 "CA certificate (PEM) to reach the inference servers over "
                 "TLS");
  app.add_option("--max-concurrent-runs", o.max_concurrent_runs,
                 "Runs streamed at once (the inference server batches them)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--max-attempts", o.max_attempts,
                 "Attempts per run before its experiment fails (inference "
                 "server unreachable or restarting)")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("--release-idle-memory", o.release_idle_memory,
                 "Keep freed heap memory for reuse while jobs run, and return "
                 "it to the system whenever no job is in flight (false, "
                 "neither, only to measure what an idle worker would "
                 "otherwise hold)")
      ->capture_default_str();
  app.add_option("--user-quota-bytes", o.user_quota_bytes,
                 "Raw activation bytes each user may store; a submit whose "
                 "estimate would pass it is refused (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--min-free-bytes", o.min_free_bytes,
                 "Free bytes kept on the data dir's file system: a run starts "
                 "only when its estimated activation bytes fit above them")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--shutdown-grace", grace_seconds,
                 "Seconds in-flight calls get at shutdown")
      ->capture_default_str();
  app.add_option("--drain-grace", drain_seconds,
                 "Seconds the runs in flight get to finish at SIGTERM/SIGINT "
                 "(after the calls' grace); runs still going are then "
                 "cancelled and redone at the next start")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 3600.0));
  CLI11_PARSE(app, argc, argv);

  sigset_t stop_signals = fnprobe::BlockStopSignals();
  auto server = fnprobe::worker::WorkerServer::Start(o);
  if (!server.ok()) {
    std::cerr << "fnprobe-worker: " << server.status().message() << "\n";
    return 1;
  }
  std::cout << "fnprobe-worker: serving on port " << (*server)->port()
            << ", database " << (*server)->database_path() << std::endl;
  if (absl::Status s = fnprobe::WritePortFile(port_file, (*server)->port());
      !s.ok()) {
    std::cerr << "fnprobe-worker: " << s.message() << "\n";
    return 1;
  }
  const int signal_number = fnprobe::WaitForStopSignal(stop_signals);
  std::cout << "fnprobe-worker: signal " << signal_number << ", shutting down"
            << std::endl;
  (*server)->Shutdown(absl::Seconds(grace_seconds),
                      absl::Seconds(drain_seconds));
  std::cout << "fnprobe-worker: stopped" << std::endl;
  return 0;
}
