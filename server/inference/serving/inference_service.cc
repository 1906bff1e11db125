#include "server/inference/serving/inference_service.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/layout_proto.h"
#include "server/inference/model/hook_points.h"
#include "server/inference/serving/generate_reactor.h"

namespace fnprobe {
namespace {

// A write reactor that only reports an error.
class FailedStream final
    : public grpc::ServerWriteReactor<v1::GenerateResponse> {
 public:
  explicit FailedStream(const absl::Status& status) {
    Finish(ToGrpcStatus(status));
  }
  void OnDone() override { delete this; }
};

std::string ModelName(const Model& model) {
  return std::filesystem::path(model.directory()).filename().string();
}

}  // namespace

InferenceServiceImpl::InferenceServiceImpl(std::shared_ptr<const Model> model,
                                           Scheduler* scheduler,
                                           const Authenticator* authenticator,
                                           RequestLimits limits,
                                           SchedulerOptions scheduling)
    : model_(std::move(model)),
      scheduler_(scheduler),
      authenticator_(authenticator),
      limits_(limits),
      scheduling_(scheduling),
      executor_(/*threads=*/0) {}

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceServiceImpl::Generate(
    grpc::CallbackServerContext* context, const v1::GenerateRequest* request) {
  absl::StatusOr<std::string> user = authenticator_->Authenticate(*context);
  if (!user.ok()) return new FailedStream(user.status());
  return Stream(BuildGenerateRequest(*model_, limits_, *user, *request),
                request->capture().encoding());
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceServiceImpl::Forward(
    grpc::CallbackServerContext* context, const v1::ForwardRequest* request) {
  absl::StatusOr<std::string> user = authenticator_->Authenticate(*context);
  if (!user.ok()) return new FailedStream(user.status());
  return Stream(BuildForwardRequest(*model_, limits_, *user, *request),
                request->capture().encoding());
}

grpc::ServerWriteReactor<v1::GenerateResponse>* InferenceServiceImpl::Stream(
    absl::StatusOr<ScheduledRequest> request, v1::Encoding encoding) {
  if (!request.ok()) return new FailedStream(request.status());
  v1::StreamHeader header;
  *header.mutable_layout() = LayoutToProto(request->layout);
  header.set_encoding(encoding);
  header.set_model(ModelName(*model_));
  header.set_vocab_size(model_->config().vocab_size);
  for (const auto& prompt : request->prompts) {
    header.add_prompt_tokens()->mutable_ids()->Add(prompt.begin(),
                                                   prompt.end());
  }
  absl::StatusOr<std::shared_ptr<RequestStream>> stream =
      scheduler_->Submit(*std::move(request));
  if (!stream.ok()) return new FailedStream(stream.status());
  return new GenerateReactor(scheduler_, &model_->tokenizer(), &executor_,
                             *stream, std::move(header));
}

grpc::ServerUnaryReactor* InferenceServiceImpl::GetModelInfo(
    grpc::CallbackServerContext* context, const v1::GetModelInfoRequest*,
    v1::ModelInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<std::string> user = authenticator_->Authenticate(*context);
  if (!user.ok()) {
    reactor->Finish(ToGrpcStatus(user.status()));
    return reactor;
  }
  const ModelConfig& c = model_->config();
  response->set_family(std::string(FamilyName(c.family)));
  response->set_model_type(c.model_type);
  response->set_model(ModelName(*model_));
  response->set_num_layers(c.num_layers);
  response->set_hidden_size(c.hidden_size);
  response->set_vocab_size(c.vocab_size);
  response->set_context_length(c.max_positions);
  response->set_device(model_->device());
  response->set_dtype(std::string(DTypeName(model_->dtype())));
  response->set_checkpoint_sha256(model_->checkpoint_sha256());
  for (const HookSpec& h : ModelHookPoints(c)) {
    v1::HookPoint* p = response->add_hook_points();
    p->set_name(h.name);
    p->set_width(h.width);
  }
  for (const char* preset : {"residual", "neurons", "standard", "all"}) {
    auto layout = SelectLayout(c, {preset});
    if (layout.ok())
      (*response->mutable_presets())[preset] = LayoutToProto(*layout);
  }
  v1::Limits* limits = response->mutable_limits();
  limits->set_max_prompts_per_request(limits_.max_prompts_per_request);
  limits->set_max_tokens_per_prompt(limits_.max_tokens_per_prompt);
  limits->set_max_prompt_tokens(static_cast<int32_t>(c.max_positions));
  limits->set_max_request_bytes(limits_.max_request_bytes);
  limits->set_max_batch_sequences(scheduling_.max_batch_sequences);
  limits->set_max_queued_sequences(scheduling_.max_queued_sequences);
  limits->set_max_interventions(limits_.max_interventions);
  for (int64_t id : c.eos_token_ids) response->add_eos_token_ids(id);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* InferenceServiceImpl::Tokenize(
    grpc::CallbackServerContext* context, const v1::TokenizeRequest* request,
    v1::TokenizeResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<std::string> user = authenticator_->Authenticate(*context);
  if (!user.ok()) {
    reactor->Finish(ToGrpcStatus(user.status()));
    return reactor;
  }
  if (request->texts_size() > limits_.max_prompts_per_request) {
    reactor->Finish(ToGrpcStatus(absl::ResourceExhaustedError(absl::StrCat(
        "texts: ", request->texts_size(), " exceed max_prompts_per_request (",
        limits_.max_prompts_per_request, ")"))));
    return reactor;
  }
  for (int i = 0; i < request->texts_size(); ++i) {
    auto ids = model_->tokenizer().Encode(request->texts(i),
                                          !request->no_special_tokens());
    if (!ids.ok()) {
      reactor->Finish(ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("texts[", i, "]: ", ids.status().message()))));
      return reactor;
    }
    response->add_tokens()->mutable_ids()->Add(ids->begin(), ids->end());
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace fnprobe
