// WorkerServer: everything fnprobe-worker runs, in start-up order — the
// data directory's exclusive lock (a second worker on the same directory is
// refused, naming the holder's pid), the store (SQLite, migrated), the
// inference pool, the experiment runner and the gRPC ExperimentService with
// health checking and reflection — and shut down in reverse. main() and the
// tests both use it.
//
// Thread-safe: Shutdown may be called from any thread, more than once.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_WORKER_SERVER_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_WORKER_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace fnprobe::worker {

struct WorkerServerOptions {
  std::string listen = "127.0.0.1:0";  // port 0 picks a free port
  std::string data_dir;                // database and activation store
  std::vector<std::string> inference;  // inference servers, host:port
  std::string tokens_file;             // bearer tokens of users; empty: no auth
  std::string tls_cert;                // PEM paths; both or neither
  std::string tls_key;
  std::string inference_token;  // sent to the inference servers
  std::string inference_ca;     // PEM; TLS to the inference servers
  int max_concurrent_runs = 4;
  int max_attempts = 60;  // per run
  // ExperimentRunnerOptions::release_idle_memory; off only to measure.
  bool release_idle_memory = true;
  int64_t user_quota_bytes = 0;  // 0: no limit
  // ExperimentRunnerOptions::min_free_bytes.
  int64_t min_free_bytes = int64_t{256} << 20;
};

class WorkerServer {
 public:
  // Errors name the flag or file at fault.
  static absl::StatusOr<std::unique_ptr<WorkerServer>> Start(
      const WorkerServerOptions& options);
  ~WorkerServer();

  int port() const;
  std::string database_path() const;

  // Stops accepting calls, gives calls `grace`, then gives the runs and
  // analyses in flight `drain` to finish before cancelling them (cancelled
  // runs are left pending and redone at the next start).
  void Shutdown(absl::Duration grace,
                absl::Duration drain = absl::ZeroDuration());

 private:
  struct Rep;
  explicit WorkerServer(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_WORKER_SERVER_H_
