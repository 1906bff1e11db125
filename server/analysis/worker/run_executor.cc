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
  // A text group's run: where each text's positions start in the run's
  // time series, and how many it has (after truncation to maxTokens).
  std::vector<int64_t> text_offsets;
  std::vector<int64_t> text_lengths;
  int64_t time_points = 0;  // what the stream must deliver
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
  if (IsTextGroup(*a.plan)) {
    // No design to fit: the run's analysis is ICA over the stored file.
  } else if (a.spec->analysis().inference() == v1::InferenceLevel::PROMPT) {
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
  s->tokens.reserve(static_cast<size_t>(s->time_points));
  return absl::OkStatus();
}

// The frame's time point: prompt x tokens_per_prompt + step for a
// generated run, the text's offset + position for a text group's.
absl::StatusOr<int64_t> TimePointOf(const RunAttempt& a,
                                    const v1::ActivationFrame& f,
                                    const Stream& s) {
  const bool text = IsTextGroup(*a.plan);
  const int64_t steps =
      f.prompt_index() < 0 ||
              f.prompt_index() >= static_cast<int>(a.plan->prompts.size())
          ? 0
      : text ? s.text_lengths[f.prompt_index()]
             : a.spec->generation().tokens_per_prompt();
  if (f.step() < 0 || f.step() >= steps) {
    return absl::DataLossError(absl::StrCat("frame outside the plan: prompt ",
                                            f.prompt_index(), ", step ",
                                            f.step()));
  }
  return text ? s.text_offsets[f.prompt_index()] + f.step()
              : static_cast<int64_t>(f.prompt_index()) * steps + f.step();
}

absl::Status AddFrame(const RunAttempt& a, const v1::ActivationFrame& f,
                      Stream* s) {
  FNPROBE_ASSIGN_OR_RETURN(const int64_t t, TimePointOf(a, f, *s));
  FNPROBE_RETURN_IF_ERROR(
      DecodeFrameValues(f.values(), s->encoding, absl::MakeSpan(s->values)));
  absl::Time start = absl::Now();
  FNPROBE_RETURN_IF_ERROR(s->writer->Append(t, s->values.data()));
  s->stats.store_s += SecondsSince(start);
  start = absl::Now();
  if (s->prompts != nullptr) {
    FNPROBE_RETURN_IF_ERROR(
        s->prompts->Add(t, s->values.data(), s->layout.width()));
  } else if (s->accumulator != nullptr) {
    FNPROBE_RETURN_IF_ERROR(
        s->accumulator->Add(t, s->values.data(), s->layout.width()));
  }
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
  if (s->writer->rows() != s->time_points) {
    return absl::DataLossError(absl::StrCat("stream ended after ",
                                            s->writer->rows(), " of ",
                                            s->time_points, " time points"));
  }
  absl::Time start = absl::Now();
  FinishedRun run;
  if (!IsTextGroup(*a.plan)) {
    FNPROBE_ASSIGN_OR_RETURN(run.map, FitRun(a, s, &run.prompt_values));
  }
  s->stats.fit_s = SecondsSince(start);
  start = absl::Now();
  FNPROBE_ASSIGN_OR_RETURN(run.file, s->writer->Finish());
  s->stats.store_s += SecondsSince(start);
  run.layout = s->layout;
  run.capture_dtype = StoredDType(s->encoding);
  run.time_points = s->time_points;
  run.tokens = std::move(s->tokens);
  return run;
}

// A text group's texts as token ids (the server's tokenizer, with its
// special tokens), each cut to the spec's maxTokens.
absl::StatusOr<std::vector<v1::TokenIds>> TokenizeTexts(
    v1::InferenceService::StubInterface* stub, const RunAttempt& a) {
  v1::TokenizeRequest request;
  for (const std::string& text : a.plan->prompts) request.add_texts(text);
  v1::TokenizeResponse response;
  grpc::ClientContext context;
  AddBearerToken(&context, a.inference_token);
  FNPROBE_RETURN_IF_ERROR(
      ToAbslStatus(stub->Tokenize(&context, request, &response)));
  if (response.tokens_size() != request.texts_size()) {
    return absl::DataLossError(
        absl::StrCat("Tokenize returned ", response.tokens_size(),
                     " token lists for ", request.texts_size(), " texts"));
  }
  const int max_tokens = a.spec->texts().max_tokens();
  std::vector<v1::TokenIds> texts(response.tokens().begin(),
                                  response.tokens().end());
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i].ids_size() == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "text ", i, " of run ", a.plan->index, " tokenizes to nothing"));
    }
    if (max_tokens > 0 && texts[i].ids_size() > max_tokens) {
      texts[i].mutable_ids()->Truncate(max_tokens);
    }
  }
  return texts;
}

// Opens the run's stream: Generate for a block-design run (its time
// points are planned), Forward over the tokenized texts for a text group's
// (its time points are the texts' lengths).
absl::StatusOr<
    std::unique_ptr<grpc::ClientReaderInterface<v1::GenerateResponse>>>
OpenStream(v1::InferenceService::StubInterface* stub,
           grpc::ClientContext* context, const RunAttempt& a, Stream* s) {
  if (!IsTextGroup(*a.plan)) {
    s->time_points = a.plan->time_points;
    AddBearerToken(context, a.inference_token);
    return stub->Generate(context, MakeGenerateRequest(*a.spec, *a.plan));
  }
  FNPROBE_ASSIGN_OR_RETURN(std::vector<v1::TokenIds> texts,
                           TokenizeTexts(stub, a));
  v1::ForwardRequest request;
  for (v1::TokenIds& ids : texts) {
    s->text_offsets.push_back(s->time_points);
    s->text_lengths.push_back(ids.ids_size());
    s->time_points += ids.ids_size();
    *request.add_prompts()->mutable_tokens() = std::move(ids);
  }
  request.set_no_special_tokens(true);
  for (const std::string& hook : a.spec->capture().hooks()) {
    request.mutable_capture()->add_hooks(hook);
  }
  request.mutable_capture()->set_encoding(
      EncodingOf(a.spec->capture().dtype()));
  AddBearerToken(context, a.inference_token);
  return stub->Forward(context, request);
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
  Stream s;
  FNPROBE_ASSIGN_OR_RETURN(
      std::unique_ptr<grpc::ClientReaderInterface<v1::GenerateResponse>> reader,
      OpenStream(stub, context, a, &s));
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
