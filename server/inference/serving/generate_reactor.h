// GenerateReactor: one Generate (or Forward) stream to one client. Writes
// the header, then each frame its RequestStream yields, then a summary, with
// at most one write in flight (gRPC's flow control gives backpressure; while
// the client is slow, frames wait in the bounded RequestStream and the
// scheduler pauses this request's sequences). Never blocks inside a
// reaction. A failed write or a cancelled call cancels the request in the
// scheduler, freeing its sequences at the next step.
//
// Frames are popped, gathered, encoded and written on gRPC's callback
// threads (after a write completes) or on the ReactorExecutor's threads
// (when frames arrive while no write is in flight), never on the
// scheduler's thread: its arrival notice only posts a task, once per
// burst.
//
// Owns itself: deleted when gRPC is done with it (OnDone) and no executor
// task holds it. Thread-safe (reactions, the stream's listener and
// executor tasks may run on different threads).
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_GENERATE_REACTOR_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_GENERATE_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "fnprobe/v1/inference.pb.h"
#include "server/inference/serving/reactor_executor.h"
#include "server/inference/serving/request_stream.h"
#include "server/inference/serving/scheduler.h"
#include "server/inference/tokenizer/tokenizer.h"

namespace fnprobe {

class GenerateReactor final
    : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  // REQUIRES: scheduler, tokenizer and executor outlive the reactor.
  GenerateReactor(Scheduler* scheduler, const Tokenizer* tokenizer,
                  ReactorExecutor* executor,
                  std::shared_ptr<RequestStream> stream,
                  v1::StreamHeader header);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // What to do next, decided under the lock and carried out outside it.
  enum class Next { kNothing, kWrite, kFinish };

  // The stream's listener (on the scheduler's thread): posts one Pump to
  // the executor unless one is already posted.
  void Kick();
  void Pump();
  void Unref();
  Next Decide() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EncodeFrame(const ActivationRecord& record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Scheduler* const scheduler_;
  const Tokenizer* const tokenizer_;
  ReactorExecutor* const executor_;
  const std::shared_ptr<RequestStream> stream_;
  const v1::Encoding encoding_;

  // gRPC's hold (until OnDone) plus one per posted executor task.
  std::atomic<int> refs_{1};
  std::atomic<bool> kick_posted_{false};

  absl::Mutex mu_;
  std::vector<float> scratch_ ABSL_GUARDED_BY(mu_);     // gathered values
  v1::GenerateResponse response_ ABSL_GUARDED_BY(mu_);  // the write in flight
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool summary_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status final_status_ ABSL_GUARDED_BY(mu_);
  v1::StreamSummary summary_ ABSL_GUARDED_BY(mu_);
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_SERVING_GENERATE_REACTOR_H_
