#include "server/inference/serving/request_builder.h"

#include "absl/strings/str_cat.h"
#include "common/request_limits.h"
#include "common/status_util.h"
#include "server/inference/model/hook_points.h"

namespace fnprobe {
namespace {

using PromptList = google::protobuf::RepeatedPtrField<v1::Prompt>;
using InterventionList = google::protobuf::RepeatedPtrField<v1::Intervention>;

absl::Status Invalid(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

absl::StatusOr<std::vector<std::vector<int64_t>>> TokenizePrompts(
    const Model& model, const RequestLimits& limits, const PromptList& prompts,
    bool special_tokens, int64_t generated) {
  if (prompts.empty()) return Invalid("prompts", "no prompts");
  if (prompts.size() > limits.max_prompts_per_request) {
    return absl::ResourceExhaustedError(
        absl::StrCat("prompts: ", prompts.size(),
                     " prompts exceed max_prompts_per_request (",
                     limits.max_prompts_per_request, ")"));
  }
  const ModelConfig& c = model.config();
  // The rule the worker checks specs against at submission.
  const int64_t max_prompt = MaxPromptTokens(c.max_positions, generated);
  std::vector<std::vector<int64_t>> out;
  for (int i = 0; i < prompts.size(); ++i) {
    const v1::Prompt& p = prompts[i];
    const std::string field = absl::StrCat("prompts[", i, "]");
    std::vector<int64_t> ids;
    if (p.has_tokens()) {
      for (int64_t id : p.tokens().ids()) {
        if (id < 0 || id >= c.vocab_size) {
          return Invalid(field + ".tokens",
                         absl::StrCat("token id ", id, " outside [0, ",
                                      c.vocab_size, ")"));
        }
        ids.push_back(id);
      }
    } else if (p.input_case() == v1::Prompt::kText) {
      auto encoded = model.tokenizer().Encode(p.text(), special_tokens);
      if (!encoded.ok())
        return Invalid(field + ".text", encoded.status().message());
      ids = *std::move(encoded);
    } else {
      return Invalid(field, "neither text nor tokens set");
    }
    if (ids.empty()) return Invalid(field, "has no tokens");
    if (static_cast<int64_t>(ids.size()) > max_prompt) {
      return Invalid(field,
                     absl::StrCat(ids.size(), " tokens; with ", generated,
                                  " generated the limit is ", max_prompt,
                                  " (context ", c.max_positions, ")"));
    }
    out.push_back(std::move(ids));
  }
  return out;
}

absl::StatusOr<UnitIntervention::Op> ConvertOp(v1::Intervention::Op op,
                                               int index) {
  switch (op) {
    case v1::Intervention::OP_ZERO:
      return UnitIntervention::Op::kZero;
    case v1::Intervention::OP_SET:
      return UnitIntervention::Op::kSet;
    case v1::Intervention::OP_SCALE:
      return UnitIntervention::Op::kScale;
    case v1::Intervention::OP_ADD:
      return UnitIntervention::Op::kAdd;
    case v1::Intervention::OP_KEEP_ONLY:
      return UnitIntervention::Op::kKeepOnly;
    default:
      return Invalid(absl::StrCat("interventions[", index, "].op"),
                     "unspecified or unknown operation");
  }
}

absl::StatusOr<std::shared_ptr<const std::vector<UnitIntervention>>>
ConvertInterventions(const ModelConfig& config, const RequestLimits& limits,
                     const InterventionList& list) {
  if (list.size() > limits.max_interventions) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "interventions: ", list.size(), " exceed max_interventions (",
        limits.max_interventions, ")"));
  }
  auto out = std::make_shared<std::vector<UnitIntervention>>();
  for (int i = 0; i < list.size(); ++i) {
    const v1::Intervention& in = list[i];
    UnitIntervention iv;
    iv.hook = in.hook();
    iv.units.assign(in.units().begin(), in.units().end());
    FNPROBE_ASSIGN_OR_RETURN(iv.op, ConvertOp(in.op(), i));
    iv.value = in.value();
    iv.values.assign(in.values().begin(), in.values().end());
    out->push_back(std::move(iv));
  }
  FNPROBE_RETURN_IF_ERROR(ValidateInterventions(config, *out));
  return std::shared_ptr<const std::vector<UnitIntervention>>(std::move(out));
}

absl::StatusOr<Layout> ResolveCapture(const ModelConfig& config,
                                      const v1::CaptureSpec& capture) {
  if (capture.hooks().empty()) return Layout();
  std::vector<std::string> selectors(capture.hooks().begin(),
                                     capture.hooks().end());
  auto layout = SelectLayout(config, selectors);
  if (!layout.ok()) return Invalid("capture.hooks", layout.status().message());
  if (!v1::Encoding_IsValid(capture.encoding())) {
    return Invalid("capture.encoding", "unknown encoding");
  }
  return layout;
}

}  // namespace

absl::StatusOr<ScheduledRequest> BuildGenerateRequest(
    const Model& model, const RequestLimits& limits, const std::string& user,
    const v1::GenerateRequest& request) {
  const ModelConfig& c = model.config();
  ScheduledRequest out;
  out.user = user;
  out.tokens_per_prompt = request.tokens_per_prompt();
  if (out.tokens_per_prompt <= 0) {
    return Invalid("tokens_per_prompt", "must be positive");
  }
  if (out.tokens_per_prompt > limits.max_tokens_per_prompt) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "tokens_per_prompt: ", out.tokens_per_prompt,
        " exceeds max_tokens_per_prompt (", limits.max_tokens_per_prompt, ")"));
  }
  FNPROBE_ASSIGN_OR_RETURN(
      out.prompts,
      TokenizePrompts(model, limits, request.prompts(),
                      !request.no_special_tokens(), out.tokens_per_prompt));
  out.stop_at_eos = request.stop_at_eos();
  const v1::SamplingParams& s = request.sampling();
  out.sampling.temperature = s.temperature();
  out.sampling.top_k = s.top_k();
  out.sampling.top_p = s.top_p() == 0 ? 1.0 : s.top_p();
  out.sampling.seed = s.seed();
  absl::Status sampling = ValidateSamplingOptions(out.sampling);
  if (!sampling.ok()) return Invalid("sampling", sampling.message());
  FNPROBE_ASSIGN_OR_RETURN(out.layout, ResolveCapture(c, request.capture()));
  FNPROBE_ASSIGN_OR_RETURN(
      out.interventions,
      ConvertInterventions(c, limits, request.interventions()));
  return out;
}

absl::StatusOr<ScheduledRequest> BuildForwardRequest(
    const Model& model, const RequestLimits& limits, const std::string& user,
    const v1::ForwardRequest& request) {
  const ModelConfig& c = model.config();
  ScheduledRequest out;
  out.user = user;
  out.forward = true;
  out.score = request.score();
  FNPROBE_ASSIGN_OR_RETURN(out.prompts,
                           TokenizePrompts(model, limits, request.prompts(),
                                           !request.no_special_tokens(), 0));
  FNPROBE_ASSIGN_OR_RETURN(out.layout, ResolveCapture(c, request.capture()));
  FNPROBE_ASSIGN_OR_RETURN(
      out.interventions,
      ConvertInterventions(c, limits, request.interventions()));
  return out;
}

}  // namespace fnprobe
