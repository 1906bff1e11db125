// InferencePool: the inference servers a worker drives (--inference, one or
// more), with the model each serves. Runs go to a server that serves the
// experiment's model, round-robin, so that several servers share the work and
// a restarting one is skipped while another can take the run.
//
// Model information is fetched on demand (GetModelInfo) and cached; a server
// that fails a call is asked again next time.
//
// Thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_INFERENCE_POOL_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_INFERENCE_POOL_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "fnprobe/v1/experiments.pb.h"
#include "fnprobe/v1/inference.grpc.pb.h"

namespace fnprobe::worker {

struct InferencePoolOptions {
  std::vector<std::string> addresses;  // host:port, at least one
  std::string token;                   // bearer token for the servers
  std::string ca_cert;                 // PEM; empty: plaintext
  absl::Duration info_timeout = absl::Seconds(5);
};

// One server chosen for a call.
struct InferenceTarget {
  std::string address;
  v1::InferenceService::StubInterface* stub = nullptr;  // owned by the pool
};

class InferencePool {
 public:
  // INVALID_ARGUMENT for no addresses or an unreadable CA file.
  static absl::StatusOr<std::unique_ptr<InferencePool>> Create(
      const InferencePoolOptions& options);

  // Every server's model information, asking each one now (for
  // ListModels).
  v1::ListModelsResponse ListModels();

  // The next server (round-robin) known to serve `model`. Servers whose
  // model is unknown are asked first. UNAVAILABLE naming the addresses when
  // none can be reached; NOT_FOUND when servers answer but none serves
  // `model` (naming the models they serve).
  absl::StatusOr<InferenceTarget> Pick(const std::string& model);

  // OK if some reachable server serves `model`, NOT_FOUND (naming the
  // models served) if all reachable servers serve others, UNAVAILABLE if
  // none is reachable.
  absl::Status CheckModel(const std::string& model);

  // The model info of a server that serves `model`, if one is known.
  std::optional<v1::ModelInfo> ModelInfoFor(const std::string& model);

  // The number of tokens of each of `texts` as a server serving `model`
  // tokenizes a Generate prompt (special tokens included), asked in
  // batches of its max_prompts_per_request, by the first such server (not
  // a turn in the runs' rotation). CheckModel's errors, or the
  // Tokenize call's (UNIMPLEMENTED from a server without it).
  absl::StatusOr<std::vector<int64_t>> CountTokens(
      const std::string& model, const std::vector<std::string>& texts);

  // Drops what is cached about `address` (after a failed call: the server
  // may come back serving another model).
  void Forget(const std::string& address);

  const std::string& token() const { return options_.token; }

 private:
  struct Server {
    std::string address;
    std::unique_ptr<v1::InferenceService::StubInterface> stub;
    std::optional<v1::ModelInfo> info;  // cached once known
  };

  explicit InferencePool(InferencePoolOptions options);
  // Asks server `i` for its model info (no lock held during the call).
  absl::StatusOr<v1::ModelInfo> FetchInfo(size_t i);
  // Refreshes servers without cached info; returns the last error.
  absl::Status RefreshUnknown();

  const InferencePoolOptions options_;
  std::vector<Server> servers_;  // fixed after Create; `info` under mu_
  absl::Mutex mu_;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_INFERENCE_POOL_H_
