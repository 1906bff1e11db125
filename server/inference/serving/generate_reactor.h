// GenerateReactor: one Generate (or Forward) stream to one client. Writes
// the header, then each frame its RequestStream yields, then a summary, with
// at most one write in flight (gRPC's flow control gives backpressure; while
// the client is slow, frames wait in the bounded RequestStream and the
// scheduler pauses this request's sequences). Never blocks inside a
// reaction. A failed write or a cancelled call cancels the request in the
// scheduler, freeing its sequences at the next step.
//
// Owns itself: deleted in OnDone. Thread-safe (reactions and the stream's
// listener may run on different threads).
#ifndef FNPROBE_SERVER_INFERENCE_SERVING_GENERATE_REACTOR_H_
#define FNPROBE_SERVER_INFERENCE_SERVING_GENERATE_REACTOR_H_

#include <grpcpp/grpcpp.h>

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "fnprobe/v1/inference.pb.h"
#include "server/inference/serving/request_stream.h"
#include "server/inference/serving/scheduler.h"
#include "server/inference/tokenizer/tokenizer.h"

namespace fnprobe {

class GenerateReactor final
    : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  // REQUIRES: scheduler and tokenizer outlive the reactor.
  GenerateReactor(Scheduler* scheduler, const Tokenizer* tokenizer,
                  std::shared_ptr<RequestStream> stream,
                  v1::StreamHeader header);

  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // What to do next, decided under the lock and carried out outside it.
  enum class Next { kNothing, kWrite, kFinish };

  void Pump();
  Next Decide() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void EncodeFrame(const ActivationRecord& record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Scheduler* const scheduler_;
  const Tokenizer* const tokenizer_;
  const std::shared_ptr<RequestStream> stream_;
  const v1::Encoding encoding_;

  absl::Mutex mu_;
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
