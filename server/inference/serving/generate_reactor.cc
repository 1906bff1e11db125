#include "server/inference/serving/generate_reactor.h"

#include "common/frame_codec.h"
#include "common/grpc_status.h"

namespace fnprobe {

GenerateReactor::GenerateReactor(Scheduler* scheduler,
                                 const Tokenizer* tokenizer,
                                 ReactorExecutor* executor,
                                 std::shared_ptr<RequestStream> stream,
                                 v1::StreamHeader header)
    : scheduler_(scheduler),
      tokenizer_(tokenizer),
      executor_(executor),
      stream_(std::move(stream)),
      encoding_(*ResolveEncoding(header.encoding())) {
  {
    absl::MutexLock lock(&mu_);
    *response_.mutable_header() = std::move(header);
    response_.mutable_header()->set_encoding(encoding_);
    writing_ = true;
  }
  stream_->SetListener([this] { Kick(); });
  StartWrite(&response_);
}

void GenerateReactor::OnWriteDone(bool ok) {
  if (!ok) {
    // The client is gone: stop generating for it.
    scheduler_->Cancel(stream_.get());
    absl::MutexLock lock(&mu_);
    write_failed_ = true;
  }
  {
    absl::MutexLock lock(&mu_);
    writing_ = false;
  }
  Pump();
}

void GenerateReactor::OnCancel() { scheduler_->Cancel(stream_.get()); }

void GenerateReactor::OnDone() {
  // Waits for an in-flight listener call, so no Kick follows this.
  stream_->SetListener(nullptr);
  Unref();
}

void GenerateReactor::Kick() {
  // One posted task per burst of frames: it pops everything there is, and
  // later writes are started by OnWriteDone.
  if (kick_posted_.exchange(true)) return;
  refs_.fetch_add(1);
  executor_->Schedule([this] {
    // Cleared first, so that a frame pushed during this Pump posts again.
    kick_posted_.store(false);
    Pump();
    Unref();
  });
}

void GenerateReactor::Unref() {
  if (refs_.fetch_sub(1) == 1) delete this;
}

void GenerateReactor::EncodeFrame(const ActivationRecord& record) {
  v1::ActivationFrame* frame = response_.mutable_frame();
  frame->set_prompt_index(record.prompt);
  frame->set_step(record.step);
  frame->set_token_id(record.token);
  frame->set_token_text(tokenizer_->Decode({record.token}));
  frame->set_batch_size(record.batch_sequences);
  frame->set_batch_tokens(record.batch_tokens);
  EncodedValues encoded =
      *EncodeFrameValues(record.values.Contiguous(&scratch_), encoding_);
  frame->set_values(std::move(encoded.bytes));
  frame->set_overflow_count(static_cast<int32_t>(encoded.overflow_count));
  if (record.scored) {
    frame->set_next_token_logprob(record.next_logprob);
    frame->set_next_token_top1(record.next_top1);
  } else {
    frame->clear_next_token_logprob();
    frame->clear_next_token_top1();
  }
  summary_.set_frames(summary_.frames() + 1);
  summary_.set_overflow_values(summary_.overflow_values() +
                               encoded.overflow_count);
}

GenerateReactor::Next GenerateReactor::Decide() {
  if (writing_ || finished_) return Next::kNothing;
  if (write_failed_) {
    final_status_ = grpc::Status(grpc::StatusCode::CANCELLED,
                                 "client stopped reading the stream");
    finished_ = true;
    return Next::kFinish;
  }
  ActivationRecord record;
  if (stream_->Pop(&record)) {
    EncodeFrame(record);
    writing_ = true;
    return Next::kWrite;
  }
  std::optional<absl::Status> done = stream_->Done();
  if (!done.has_value()) return Next::kNothing;
  if (done->ok() && !summary_sent_) {
    summary_.set_generated_tokens(summary_.frames());
    *response_.mutable_summary() = summary_;
    summary_sent_ = true;
    writing_ = true;
    return Next::kWrite;
  }
  final_status_ = ToGrpcStatus(*done);
  finished_ = true;
  return Next::kFinish;
}

void GenerateReactor::Pump() {
  // Decide under the lock; start the write or finish outside it, since
  // gRPC may run the next reaction on another thread at once.
  Next next;
  grpc::Status status;
  {
    absl::MutexLock lock(&mu_);
    next = Decide();
    status = final_status_;
  }
  if (next == Next::kWrite) StartWrite(&response_);
  if (next == Next::kFinish) Finish(status);
}

}  // namespace fnprobe
