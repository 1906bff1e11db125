#include "server/analysis/worker/run_executor.h"

#include <grpcpp/grpcpp.h>

#include <filesystem>
#include <memory>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/auth.h"
#include "common/frame_codec.h"
#include "common/grpc_status.h"
#include "common/layout_proto.h"
#include "common/portable_hash.h"
#include "common/status_util.h"
#include "server/analysis/glm_accumulator.h"
#include "server/analysis/prompt_accumulator.h"
#include "server/analysis/run_design.h"
#include "server/analysis/storage/activation_store.h"

namespace fnprobe::worker {
namespace {

v1::Encoding EncodingOf(v1::CaptureDType::Kind dtype) {
  switch (dtype) {
    case v1::CaptureDType::F32:
      return v1::ENCODING_F32;
    case v1::CaptureDType::BF16:
      return v1::ENCODING_BF16;
    default:
      return v1::ENCODING_F16;
  }
}

DType StoredDType(v1::Encoding encoding) {
  switch (encoding) {
    case v1::ENCODING_F32:
      return DType::kF32;
    case v1::ENCODING_BF16:
      return DType::kBF16;
    default:
      return DType::kF16;
  }
}

// The state of an attempt once the header has arrived.
struct Stream {
  Layout layout;
  v1::Encoding encoding = v1::ENCODING_F16;
  std::unique_ptr<ActivationWriter> writer;
  // TOKEN inference: the run's GLM over its token time series.
  std::unique_ptr<analysis::GlmAccumulator> accumulator;
  analysis::RunDesign design;
  // PROMPT inference: the run's level one (one value per prompt and unit).
  std::unique_ptr<analysis::PromptAccumulator> prompts;
  std::vector<float> values;
  std::vector<GeneratedToken> tokens;
  RunAttemptStats stats;
};

double SecondsSince(absl::Time start) {
  return absl::ToDoubleSeconds(absl::Now() - start);
}

absl::Status StartStream(const RunAttempt& a, const v1::StreamHeader& header,
                         Stream* s) {
  FNPROBE_ASSIGN_OR_RETURN(s->layout, LayoutFromProto(header.layout()));
  if (s->layout.width() <= 0) {
    return absl::DataLossError("inference server sent an empty layout");
  }
  s->encoding = header.encoding();
  if (a.spec->analysis().inference() == v1::InferenceLevel::PROMPT) {
    FNPROBE_ASSIGN_OR_RETURN(analysis::PromptAccumulator acc,
                             analysis::PromptAccumulator::Create(
                                 *a.spec, *a.plan, s->layout.width()));
    s->prompts = std::make_unique<analysis::PromptAccumulator>(std::move(acc));
  } else {
    FNPROBE_ASSIGN_OR_RETURN(s->design,
                             analysis::BuildRunDesign(*a.spec, *a.plan));
    FNPROBE_ASSIGN_OR_RETURN(analysis::GlmAccumulator acc,
                             analysis::GlmAccumulator::Create(
                                 s->design.design.x, s->layout.width()));
    s->accumulator = std::make_unique<analysis::GlmAccumulator>(std::move(acc));
  }
  // A file at the final path belongs to an attempt that finished writing but
  // was never recorded (the worker died in between): the run is not done,
  // so the file is stale.
  std::error_code ignored;
  std::filesystem::remove(a.activation_path, ignored);
  std::filesystem::create_directories(
      std::filesystem::path(a.activation_path).parent_path(), ignored);
  ActivationWriterOptions options;
  options.dtype = StoredDType(s->encoding);
  options.fs = a.file_system;
  FNPROBE_ASSIGN_OR_RETURN(
      s->writer,
      ActivationWriter::Create(a.activation_path, s->layout.width(), options));
  s->values.resize(static_cast<size_t>(s->layout.width()));
  s->tokens.reserve(static_cast<size_t>(a.plan->time_points));
  return absl::OkStatus();
}

absl::Status AddFrame(const RunAttempt& a, const v1::ActivationFrame& f,
                      Stream* s) {
  const int tpp = a.spec->generation().tokens_per_prompt();
  if (f.prompt_index() < 0 ||
      f.prompt_index() >= static_cast<int>(a.plan->prompts.size()) ||
      f.step() < 0 || f.step() >= tpp) {
    return absl::DataLossError(absl::StrCat("frame outside the plan: prompt ",
                                            f.prompt_index(), ", step ",
                                            f.step()));
  }
  const int64_t t = static_cast<int64_t>(f.prompt_index()) * tpp + f.step();
  FNPROBE_RETURN_IF_ERROR(
      DecodeFrameValues(f.values(), s->encoding, absl::MakeSpan(s->values)));
  absl::Time start = absl::Now();
  FNPROBE_RETURN_IF_ERROR(s->writer->Append(t, s->values.data()));
  s->stats.store_s += SecondsSince(start);
  start = absl::Now();
  FNPROBE_RETURN_IF_ERROR(
      s->prompts != nullptr
          ? s->prompts->Add(t, s->values.data(), s->layout.width())
          : s->accumulator->Add(t, s->values.data(), s->layout.width()));
  s->stats.accumulate_s += SecondsSince(start);
  ++s->stats.frames;
  s->tokens.push_back(
      GeneratedToken{f.prompt_index(), f.step(), f.token_id(), f.token_text()});
  return absl::OkStatus();
}

// The run's map from what was accumulated: the level-two test over its
// prompts (PROMPT; their values go to *prompt_values) or the token GLM's.
absl::StatusOr<analysis::StatMap> FitRun(const RunAttempt& a, Stream* s,
                                         arma::mat* prompt_values) {
  if (s->prompts != nullptr) {
    FNPROBE_ASSIGN_OR_RETURN(arma::mat values, s->prompts->Values());
    FNPROBE_ASSIGN_OR_RETURN(
        analysis::RunPrompts prompts,
        analysis::MakeRunPrompts(*a.plan, std::move(values)));
    FNPROBE_ASSIGN_OR_RETURN(analysis::StatMap map,
                             analysis::PromptRunMap(*a.spec, *a.plan, prompts));
    *prompt_values = std::move(prompts.values);
    return map;
  }
  FNPROBE_ASSIGN_OR_RETURN(analysis::OlsFit fit, s->accumulator->Fit());
  return analysis::MapFromOls(fit, s->design.contrast, s->design.contrast_name);
}

absl::StatusOr<FinishedRun> FinishStream(const RunAttempt& a, Stream* s) {
  if (s->writer == nullptr) {
    return absl::DataLossError("stream ended before its header");
  }
  if (s->writer->rows() != a.plan->time_points) {
    return absl::DataLossError(
        absl::StrCat("stream ended after ", s->writer->rows(), " of ",
                     a.plan->time_points, " time points"));
  }
  absl::Time start = absl::Now();
  FinishedRun run;
  FNPROBE_ASSIGN_OR_RETURN(run.map, FitRun(a, s, &run.prompt_values));
  s->stats.fit_s = SecondsSince(start);
  start = absl::Now();
  FNPROBE_ASSIGN_OR_RETURN(run.file, s->writer->Finish());
  s->stats.store_s += SecondsSince(start);
  run.layout = s->layout;
  run.capture_dtype = StoredDType(s->encoding);
  run.time_points = a.plan->time_points;
  run.tokens = std::move(s->tokens);
  return run;
}

}  // namespace

uint64_t RunSeed(const v1::ExperimentSpec& spec, const RunPlan& plan) {
  // Distinct, well-mixed seeds per run: the run's step of a SplitMix64
  // stream seeded with the spec's seed.
  uint64_t state = spec.generation().seed() +
                   0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(plan.index);
  return SplitMix64(state);
}

v1::GenerateRequest MakeGenerateRequest(const v1::ExperimentSpec& spec,
                                        const RunPlan& plan) {
  v1::GenerateRequest request;
  for (const std::string& prompt : plan.prompts) {
    request.add_prompts()->set_text(prompt);
  }
  const v1::GenerationSpec& g = spec.generation();
  request.set_tokens_per_prompt(g.tokens_per_prompt());
  v1::SamplingParams* sampling = request.mutable_sampling();
  sampling->set_temperature(g.temperature());
  sampling->set_top_k(g.top_k());
  sampling->set_top_p(g.top_p());
  sampling->set_seed(RunSeed(spec, plan));
  request.set_stop_at_eos(false);
  for (const std::string& hook : spec.capture().hooks()) {
    request.mutable_capture()->add_hooks(hook);
  }
  request.mutable_capture()->set_encoding(EncodingOf(spec.capture().dtype()));
  return request;
}

absl::StatusOr<FinishedRun> ExecuteRunAttempt(
    v1::InferenceService::StubInterface* stub, grpc::ClientContext* context,
    const RunAttempt& a) {
  const absl::Time start = absl::Now();
  AddBearerToken(context, a.inference_token);
  const v1::GenerateRequest request = MakeGenerateRequest(*a.spec, *a.plan);
  std::unique_ptr<grpc::ClientReaderInterface<v1::GenerateResponse>> reader =
      stub->Generate(context, request);
  Stream s;
  absl::Status failure;
  int64_t frames = 0;
  v1::GenerateResponse response;
  while (failure.ok() && reader->Read(&response)) {
    if (response.has_header()) {
      failure = StartStream(a, response.header(), &s);
    } else if (response.has_frame()) {
      failure = s.writer == nullptr
                    ? absl::DataLossError("frame before the stream header")
                    : AddFrame(a, response.frame(), &s);
      if (++frames % a.progress_every == 0 && a.on_progress) {
        a.on_progress(frames);
      }
    }
  }
  if (!failure.ok()) {
    context->TryCancel();
    reader->Finish().ok();  // drains; the attempt's own error wins
    return failure;
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return ToAbslStatus(status);
  if (a.on_progress) a.on_progress(frames);
  absl::StatusOr<FinishedRun> run = FinishStream(a, &s);
  if (run.ok() && a.stats != nullptr) {
    *a.stats = s.stats;
    a.stats->wall_s = SecondsSince(start);
  }
  return run;
}

bool IsRetryable(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

}  // namespace fnprobe::worker
