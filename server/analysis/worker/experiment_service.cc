#include "server/analysis/worker/experiment_service.h"

#include <deque>
#include <filesystem>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/hook_selector.h"
#include "common/request_limits.h"
#include "common/status_util.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/run_planner.h"
#include "server/analysis/storage/activation_store.h"
#include "server/analysis/worker/experiment_phase.h"
#include "server/analysis/worker/masking_queries.h"
#include "server/analysis/worker/masking_submit.h"
#include "server/analysis/worker/proto_conversion.h"

namespace fnprobe::worker {
namespace {

// Units one GetUnitTimeCourse call may ask for.
constexpr int kMaxTimeCourseUnits = 64;

// Authenticates, then runs `fn(user)` and converts its status.
template <typename Fn>
grpc::Status Handle(const Authenticator* authenticator,
                    grpc::ServerContext* context, Fn fn) {
  absl::StatusOr<std::string> user = authenticator->Authenticate(*context);
  if (!user.ok()) return ToGrpcStatus(user.status());
  return ToGrpcStatus(fn(*user));
}

template <typename T>
absl::Status Assign(absl::StatusOr<T> result, T* out) {
  if (!result.ok()) return result.status();
  *out = std::move(*result);
  return absl::OkStatus();
}

absl::Status CheckId(int64_t id, const char* field) {
  if (id <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": must be a positive experiment id, got ", id));
  }
  return absl::OkStatus();
}

std::string PhaseMessage(const ExperimentRow& e) {
  const ExperimentProgressRow& p = e.progress;
  switch (e.phase) {
    case ExperimentPhase::kQueued:
      return "queued";
    case ExperimentPhase::kGenerating:
      return absl::StrCat("generating: ", p.runs_done, "/", p.runs_total,
                          " runs done");
    case ExperimentPhase::kAnalyzing:
      return "analyzing: fitting and thresholding";
    case ExperimentPhase::kDone:
      return "done";
    case ExperimentPhase::kFailed:
      return absl::StrCat("failed: ", e.error);
    case ExperimentPhase::kCancelled:
      return "cancelled";
    default:
      return "";
  }
}

// Token rate over the last few seconds of a watch.
class RateMeter {
 public:
  double Add(int64_t tokens) {
    const absl::Time now = absl::Now();
    samples_.push_back({now, tokens});
    while (samples_.size() > 2 &&
           now - samples_.front().first > absl::Seconds(5)) {
      samples_.pop_front();
    }
    const auto& [t0, n0] = samples_.front();
    const double seconds = absl::ToDoubleSeconds(now - t0);
    return seconds > 0.2 ? static_cast<double>(tokens - n0) / seconds : 0.0;
  }

 private:
  std::deque<std::pair<absl::Time, int64_t>> samples_;
};

// The model's hook points the spec's selectors pick, resolved by the
// inference server's own rules; appends a line to `problems` (and returns
// none) when they pick nothing.
std::vector<std::string> CheckHooks(const v1::ExperimentSpec& spec,
                                    const v1::ModelInfo& info,
                                    std::string* problems) {
  if (info.hook_points().empty()) return {};
  std::vector<std::string> names;
  for (const v1::HookPoint& h : info.hook_points()) names.push_back(h.name());
  const std::vector<std::string> selectors(spec.capture().hooks().begin(),
                                           spec.capture().hooks().end());
  absl::StatusOr<std::vector<std::string>> picked =
      ResolveHookSelector(selectors, names);
  if (!picked.ok()) {
    absl::StrAppend(problems, "capture.hooks: ", picked.status().message(),
                    " (model ", info.model(), ")\n");
    return {};
  }
  return *std::move(picked);
}

// Raw activation bytes the spec's runs will store: time points x the
// widths of the `picked` hook points x the dtype's size.
int64_t EstimatedBytes(const v1::ExperimentSpec& spec,
                       const std::vector<RunPlan>& plans,
                       const v1::ModelInfo& info,
                       const std::vector<std::string>& picked) {
  const absl::flat_hash_set<std::string> chosen(picked.begin(), picked.end());
  int64_t width = 0;
  for (const v1::HookPoint& h : info.hook_points()) {
    if (chosen.contains(h.name())) width += h.width();
  }
  int64_t time_points = 0;
  for (const RunPlan& plan : plans) time_points += plan.time_points;
  return ActivationBytes(spec, time_points, width);
}

}  // namespace

ExperimentServiceImpl::ExperimentServiceImpl(WorkerStore* store,
                                             ExperimentRunner* runner,
                                             InferencePool* pool,
                                             ProgressHub* hub,
                                             const Authenticator* authenticator,
                                             ExperimentServiceOptions options)
    : worker_(store),
      store_(&store->experiments()),
      queries_(&store->queries()),
      ica_store_(&store->ica()),
      ica_queries_(store),
      storage_(&store->storage()),
      runner_(runner),
      pool_(pool),
      hub_(hub),
      authenticator_(authenticator),
      options_(options) {}

absl::Status ExperimentServiceImpl::CheckAgainstServer(
    const v1::ExperimentSpec& spec, const std::vector<RunPlan>& plans,
    int64_t* estimated_bytes, std::string* model_checksum) {
  *estimated_bytes = 0;
  model_checksum->clear();
  absl::Status model = pool_->CheckModel(spec.model());
  if (model.code() == absl::StatusCode::kNotFound) {
    return absl::InvalidArgumentError(absl::StrCat("model: ", model.message()));
  }
  // Unreachable servers do not refuse a spec: its runs wait for them.
  std::optional<v1::ModelInfo> info = pool_->ModelInfoFor(spec.model());
  if (!info.has_value()) return absl::OkStatus();
  const v1::Limits& limits = info->limits();
  std::string problems;
  if (limits.max_tokens_per_prompt() > 0 &&
      spec.generation().tokens_per_prompt() > limits.max_tokens_per_prompt()) {
    absl::StrAppend(&problems, "generation.tokensPerPrompt: ",
                    spec.generation().tokens_per_prompt(),
                    " exceeds the inference server's limit of ",
                    limits.max_tokens_per_prompt(), "\n");
  }
  if (!plans.empty() && limits.max_prompts_per_request() > 0 &&
      static_cast<int>(plans[0].prompts.size()) >
          limits.max_prompts_per_request()) {
    absl::StrAppend(
        &problems,
        IsTextCorpus(spec) ? "texts.textsPerGroup" : "design.promptsPerBlock",
        ": a run has ", plans[0].prompts.size(),
        " prompts; the inference server takes at most ",
        limits.max_prompts_per_request(), " per request\n");
  }
  if (IsTextCorpus(spec) && info->context_length() > 0 &&
      spec.texts().max_tokens() > info->context_length()) {
    absl::StrAppend(&problems, "texts.maxTokens: ", spec.texts().max_tokens(),
                    " exceeds the context of model ", info->model(), " (",
                    info->context_length(), " tokens)\n");
  }
  const std::vector<std::string> picked = CheckHooks(spec, *info, &problems);
  *estimated_bytes = EstimatedBytes(spec, plans, *info, picked);
  *model_checksum = info->checkpoint_sha256();
  if (problems.empty()) CheckPromptLengths(spec, *info, &problems);
  if (!problems.empty()) {
    problems.pop_back();
    return absl::InvalidArgumentError(problems);
  }
  return absl::OkStatus();
}

void ExperimentServiceImpl::CheckPromptLengths(const v1::ExperimentSpec& spec,
                                               const v1::ModelInfo& info,
                                               std::string* problems) {
  if (info.context_length() <= 0) return;
  const int64_t generated = spec.generation().tokens_per_prompt();
  const int64_t limit = MaxPromptTokens(info.context_length(), generated);
  std::vector<std::string> fields;
  std::vector<std::string> texts;
  const auto add_pool = [&](const std::string& field,
                            const v1::PromptPool& pool) {
    for (int i = 0; i < pool.prompts_size(); ++i) {
      fields.push_back(absl::StrCat(field, ".prompts[", i, "]"));
      texts.push_back(pool.prompts(i));
    }
  };
  add_pool("baseline", spec.baseline());
  for (int c = 0; c < spec.conditions_size(); ++c) {
    add_pool(absl::StrCat("conditions[", c, "]"), spec.conditions(c));
  }
  // Lengths come from the model's own tokenizer: a byte count says little
  // (normalizers expand text, templates add special tokens). A server that
  // cannot tell refuses nothing, as an unreachable one does not.
  absl::StatusOr<std::vector<int64_t>> counts =
      pool_->CountTokens(spec.model(), texts);
  if (!counts.ok()) return;
  constexpr int kMaxListed = 20;
  int too_long = 0;
  for (size_t i = 0; i < counts->size(); ++i) {
    if ((*counts)[i] <= limit) continue;
    if (++too_long <= kMaxListed) {
      absl::StrAppend(problems, fields[i], ": ", (*counts)[i], " tokens; with ",
                      generated, " generated the limit is ", limit,
                      " (context ", info.context_length(), " of model ",
                      info.model(), ")\n");
    }
  }
  if (too_long > kMaxListed) {
    absl::StrAppend(problems, "... and ", too_long - kMaxListed,
                    " more prompts too long\n");
  }
}

absl::StatusOr<v1::Experiment> ExperimentServiceImpl::Submit(
    const std::string& user, const v1::SubmitExperimentRequest& r) {
  FNPROBE_RETURN_IF_ERROR(ValidateSpec(r.spec()));
  const v1::ExperimentSpec spec = WithDefaults(r.spec());
  if (spec.has_masking()) return SubmitMasking(user, spec);
  const std::vector<RunPlan> plans = PlanRuns(spec);
  int64_t estimated_bytes = 0;
  std::string model_checksum;
  FNPROBE_RETURN_IF_ERROR(
      CheckAgainstServer(spec, plans, &estimated_bytes, &model_checksum));
  FNPROBE_RETURN_IF_ERROR(CheckQuota(user, estimated_bytes));
  FNPROBE_ASSIGN_OR_RETURN(
      int64_t id, store_->CreateExperiment(user, spec, plans, model_checksum));
  FNPROBE_RETURN_IF_ERROR(runner_->Enqueue(id));
  hub_->Notify(id);
  FNPROBE_ASSIGN_OR_RETURN(v1::Experiment e,
                           ToProto(store_->GetExperiment(id, user)));
  e.set_estimated_bytes(estimated_bytes);
  return e;
}

absl::StatusOr<v1::Experiment> ExperimentServiceImpl::SubmitMasking(
    const std::string& user, const v1::ExperimentSpec& spec) {
  FNPROBE_ASSIGN_OR_RETURN(
      const int64_t id, CreateMaskingExperiment(spec, user, *worker_, *pool_));
  FNPROBE_RETURN_IF_ERROR(runner_->Enqueue(id));
  hub_->Notify(id);
  return ToProto(store_->GetExperiment(id, user));
}

absl::Status ExperimentServiceImpl::CheckQuota(const std::string& user,
                                               int64_t estimated_bytes) {
  if (options_.user_quota_bytes <= 0) return absl::OkStatus();
  FNPROBE_ASSIGN_OR_RETURN(const UserUsage usage, storage_->Usage(user));
  if (usage.bytes + estimated_bytes <= options_.user_quota_bytes) {
    return absl::OkStatus();
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "quota: ", user.empty() ? kAnonymousUser : user, " stores ", usage.bytes,
      " bytes of a quota of ", options_.user_quota_bytes,
      " (--user-quota-bytes); this experiment would add about ",
      estimated_bytes,
      " bytes. Delete experiments (fnprobe delete ID, or --activations-only "
      "to keep their results) or capture fewer hooks"));
}

absl::StatusOr<v1::DeleteExperimentResponse> ExperimentServiceImpl::Delete(
    const std::string& user, const v1::DeleteExperimentRequest& request) {
  const int64_t id = request.experiment_id();
  FNPROBE_RETURN_IF_ERROR(CheckId(id, "experiment_id"));
  // Ownership first: another user's experiment is NOT_FOUND.
  FNPROBE_ASSIGN_OR_RETURN(ExperimentRow e,
                           store_->GetExperiment(id, user, false));
  if (!IsTerminalPhase(e.phase)) {
    absl::Status cancelled = runner_->Cancel(id);
    if (!cancelled.ok() && !absl::IsFailedPrecondition(cancelled)) {
      return cancelled;
    }
    const absl::Time deadline = absl::Now() + options_.delete_wait;
    while (!IsTerminalPhase(e.phase) || runner_->IsActive(id)) {
      if (absl::Now() > deadline) {
        return absl::UnavailableError(
            absl::StrCat("experiment ", id,
                         " was cancelled but has not stopped yet; "
                         "delete it again in a moment"));
      }
      absl::SleepFor(absl::Milliseconds(20));
      FNPROBE_ASSIGN_OR_RETURN(e, store_->GetExperiment(id, user, false));
    }
  }
  FNPROBE_ASSIGN_OR_RETURN(
      const DeletedActivations deleted,
      storage_->DeleteExperiment(id, user, request.activations_only()));
  // The rows are gone: the files follow. A crash here leaves files no row
  // refers to, which the next start removes.
  v1::DeleteExperimentResponse response;
  for (const std::string& path : deleted.paths) {
    std::error_code ec;
    if (std::filesystem::remove(path, ec)) {
      response.set_files_removed(response.files_removed() + 1);
    }
  }
  std::error_code ec;
  if (!deleted.paths.empty()) {
    const std::filesystem::path dir =
        std::filesystem::path(deleted.paths[0]).parent_path();
    if (std::filesystem::is_empty(dir, ec)) std::filesystem::remove(dir, ec);
  }
  response.set_bytes_freed(deleted.bytes);
  hub_->Notify(id);
  return response;
}

absl::StatusOr<v1::UnitTimeCourse> ExperimentServiceImpl::TimeCourse(
    const std::string& user, const v1::GetUnitTimeCourseRequest& request) {
  const int64_t id = request.experiment_id();
  FNPROBE_RETURN_IF_ERROR(CheckId(id, "experiment_id"));
  FNPROBE_ASSIGN_OR_RETURN(const ExperimentRow e,
                           store_->GetExperiment(id, user));
  const int index = request.run_index();
  if (index < 0 || index >= static_cast<int>(e.runs.size())) {
    return absl::OutOfRangeError(
        absl::StrCat("run_index ", index, " is out of range: experiment ", id,
                     " has ", e.runs.size(), " runs"));
  }
  if (request.units().empty() || request.units_size() > kMaxTimeCourseUnits) {
    return absl::InvalidArgumentError(
        absl::StrCat("units: give 1 to ", kMaxTimeCourseUnits, ", got ",
                     request.units_size()));
  }
  const RunRow& run = e.runs[index];
  if (run.state != RunState::kDone || e.activations_deleted) {
    return absl::FailedPreconditionError(
        absl::StrCat("run ", index, " of experiment ", id,
                     e.activations_deleted ? " has no activations (deleted)"
                                           : " is not done"));
  }
  FNPROBE_ASSIGN_OR_RETURN(auto reader,
                           ActivationReader::Open(run.activation_path));
  for (int64_t unit : request.units()) {
    if (unit < 0 || unit >= reader->width()) {
      return absl::InvalidArgumentError(
          absl::StrCat("units: ", unit, " is outside the layout's ",
                       reader->width(), " units"));
    }
  }
  const int64_t time_points = run.time_points;
  v1::UnitTimeCourse out;
  out.set_run_id(run.id);
  std::vector<std::vector<float>> values(
      request.units_size(),
      std::vector<float>(time_points, std::numeric_limits<float>::quiet_NaN()));
  FNPROBE_RETURN_IF_ERROR(reader->VisitChunks(
      [&](const ActivationReader::Chunk& chunk) -> absl::Status {
        for (int64_t r = 0; r < chunk.rows; ++r) {
          const int64_t t = chunk.time_points[r];
          if (t < 0 || t >= time_points) continue;
          const float* row = chunk.values + r * reader->width();
          for (int u = 0; u < request.units_size(); ++u) {
            values[u][t] = row[request.units(u)];
          }
        }
        return absl::OkStatus();
      }));
  for (int u = 0; u < request.units_size(); ++u) {
    v1::UnitTimeCourse::Unit* unit = out.add_units();
    unit->set_unit(request.units(u));
    unit->mutable_values()->Add(values[u].begin(), values[u].end());
  }
  return out;
}

grpc::Status ExperimentServiceImpl::GetUnitTimeCourse(
    grpc::ServerContext* context, const v1::GetUnitTimeCourseRequest* request,
    v1::UnitTimeCourse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    return Assign(TimeCourse(user, *request), response);
  });
}

grpc::Status ExperimentServiceImpl::GetMaskingResults(
    grpc::ServerContext* context, const v1::GetMaskingResultsRequest* request,
    v1::GetMaskingResultsResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    return Assign(LoadMaskingResults(*worker_, request->experiment_id(), user),
                  response);
  });
}

grpc::Status ExperimentServiceImpl::DeleteExperiment(
    grpc::ServerContext* context, const v1::DeleteExperimentRequest* request,
    v1::DeleteExperimentResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    return Assign(Delete(user, *request), response);
  });
}

grpc::Status ExperimentServiceImpl::GetUsage(grpc::ServerContext* context,
                                             const v1::GetUsageRequest*,
                                             v1::Usage* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_ASSIGN_OR_RETURN(const UserUsage usage, storage_->Usage(user));
    response->set_bytes(usage.bytes);
    response->set_experiments(usage.experiments);
    response->set_quota_bytes(options_.user_quota_bytes);
    return absl::OkStatus();
  });
}

grpc::Status ExperimentServiceImpl::SubmitExperiment(
    grpc::ServerContext* context, const v1::SubmitExperimentRequest* request,
    v1::Experiment* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    return Assign(Submit(user, *request), response);
  });
}

grpc::Status ExperimentServiceImpl::GetExperiment(
    grpc::ServerContext* context, const v1::GetExperimentRequest* request,
    v1::Experiment* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    return Assign(
        ToProto(store_->GetExperiment(request->experiment_id(), user)),
        response);
  });
}

grpc::Status ExperimentServiceImpl::ListExperiments(
    grpc::ServerContext* context, const v1::ListExperimentsRequest* request,
    v1::ListExperimentsResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    if (request->page_size() < 0 || request->page_size() > 1000) {
      return absl::InvalidArgumentError(absl::StrCat(
          "page_size: must be in [0, 1000], got ", request->page_size()));
    }
    return Assign(ToProto(store_->ListExperiments(user, request->page_size(),
                                                  request->page_token())),
                  response);
  });
}

grpc::Status ExperimentServiceImpl::WatchExperiment(
    grpc::ServerContext* context, const v1::WatchExperimentRequest* request,
    grpc::ServerWriter<v1::ExperimentProgress>* writer) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    const int64_t id = request->experiment_id();
    FNPROBE_RETURN_IF_ERROR(CheckId(id, "experiment_id"));
    RateMeter rate;
    uint64_t seen = hub_->Version(id);
    while (true) {
      FNPROBE_ASSIGN_OR_RETURN(const ExperimentRow e,
                               store_->GetExperiment(id, user, false));
      v1::ExperimentProgress progress = ProgressToProto(e);
      progress.set_message(PhaseMessage(e));
      progress.set_tokens_per_second(e.phase == ExperimentPhase::kGenerating
                                         ? rate.Add(progress.tokens_done())
                                         : 0.0);
      if (!writer->Write(progress)) return absl::OkStatus();  // client gone
      if (IsTerminalPhase(e.phase)) return absl::OkStatus();
      if (context->IsCancelled()) {
        return absl::CancelledError("watch cancelled by the client");
      }
      if (hub_->shut_down()) {
        return absl::UnavailableError("fnprobe-worker is shutting down");
      }
      seen = hub_->WaitForChange(id, seen, absl::Milliseconds(500));
    }
  });
}

grpc::Status ExperimentServiceImpl::CancelExperiment(
    grpc::ServerContext* context, const v1::CancelExperimentRequest* request,
    v1::Experiment* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    const int64_t id = request->experiment_id();
    FNPROBE_RETURN_IF_ERROR(CheckId(id, "experiment_id"));
    // Ownership first: another user's experiment is NOT_FOUND.
    FNPROBE_RETURN_IF_ERROR(store_->GetExperiment(id, user, false).status());
    FNPROBE_RETURN_IF_ERROR(runner_->Cancel(id));
    return Assign(ToProto(store_->GetExperiment(id, user)), response);
  });
}

grpc::Status ExperimentServiceImpl::ReanalyzeExperiment(
    grpc::ServerContext* context, const v1::ReanalyzeExperimentRequest* request,
    v1::Experiment* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    const int64_t id = request->experiment_id();
    FNPROBE_RETURN_IF_ERROR(CheckId(id, "experiment_id"));
    FNPROBE_ASSIGN_OR_RETURN(const ExperimentRow e,
                             store_->GetExperiment(id, user, false));
    if (e.phase != ExperimentPhase::kDone) {
      return absl::FailedPreconditionError(
          absl::StrCat("experiment ", id, " is ", PhaseName(e.phase),
                       "; only a finished experiment can be reanalyzed"));
    }
    if (e.activations_deleted) {
      return absl::FailedPreconditionError(absl::StrCat(
          "experiment ", id,
          "'s raw activations were deleted (fnprobe delete "
          "--activations-only): its results stay readable, but a re-analysis "
          "fits the activations again; resubmit the spec to analyse it anew"));
    }
    // Refused, changing nothing, when the plan that labels its prompts is
    // not stored (an earlier planner's experiment).
    FNPROBE_RETURN_IF_ERROR(store_->LoadPlans(id).status());
    v1::ExperimentSpec spec = e.spec;
    *spec.mutable_analysis() = request->analysis();
    absl::Status valid = ValidateSpec(spec);
    if (!valid.ok()) return valid;
    spec = WithDefaults(spec);
    FNPROBE_RETURN_IF_ERROR(store_->SetAnalysisSpec(id, spec.analysis()));
    FNPROBE_RETURN_IF_ERROR(runner_->Reanalyze(id));
    hub_->Notify(id);
    return Assign(ToProto(store_->GetExperiment(id, user)), response);
  });
}

grpc::Status ExperimentServiceImpl::ListNetworks(
    grpc::ServerContext* context, const v1::ListNetworksRequest* request,
    v1::ListNetworksResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    return Assign(ToProto(queries_->ListNetworks(FromProto(*request), user)),
                  response);
  });
}

grpc::Status ExperimentServiceImpl::GetNetwork(
    grpc::ServerContext* context, const v1::GetNetworkRequest* request,
    v1::GetNetworkResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    if (request->network_id() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("network_id: must be a positive network id, got ",
                       request->network_id()));
    }
    return Assign(ToProto(queries_->GetNetwork(FromProto(*request), user)),
                  response);
  });
}

grpc::Status ExperimentServiceImpl::CompareNetworks(
    grpc::ServerContext* context, const v1::CompareNetworksRequest* request,
    v1::CompareNetworksResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    return Assign(
        ToProto(queries_->CompareNetworks(request->experiment_id(),
                                          FromProto(request->kind()), user)),
        response);
  });
}

grpc::Status ExperimentServiceImpl::GetRepeatability(
    grpc::ServerContext* context, const v1::GetRepeatabilityRequest* request,
    v1::GetRepeatabilityResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    return Assign(
        ToProto(queries_->GetRepeatability(request->experiment_id(), user)),
        response);
  });
}

grpc::Status ExperimentServiceImpl::GetClassification(
    grpc::ServerContext* context, const v1::GetClassificationRequest* request,
    v1::GetClassificationResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    return Assign(
        ToProto(queries_->GetClassification(request->experiment_id(), user)),
        response);
  });
}

grpc::Status ExperimentServiceImpl::GetRunEvents(
    grpc::ServerContext* context, const v1::GetRunEventsRequest* request,
    v1::GetRunEventsResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    return Assign(ToProto(queries_->GetRunEvents(request->experiment_id(),
                                                 request->run_index(), user)),
                  response);
  });
}

grpc::Status ExperimentServiceImpl::FindUnit(grpc::ServerContext* context,
                                             const v1::FindUnitRequest* request,
                                             v1::FindUnitResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    return Assign(ToProto(queries_->FindUnit(FromProto(*request), user)),
                  response);
  });
}

grpc::Status ExperimentServiceImpl::GetStatMap(
    grpc::ServerContext* context, const v1::GetStatMapRequest* request,
    v1::StatMap* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    if (request->condition().empty() == (request->run_id() == 0)) {
      return absl::InvalidArgumentError(
          "condition, run_id: name exactly one of them");
    }
    return Assign(ToProto(queries_->GetStatMap(FromProto(*request), user)),
                  response);
  });
}

grpc::Status ExperimentServiceImpl::ListModels(
    grpc::ServerContext* context, const v1::ListModelsRequest* /*request*/,
    v1::ListModelsResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& /*user*/) {
    *response = pool_->ListModels();
    return absl::OkStatus();
  });
}

// --- ICA ---

absl::StatusOr<v1::Experiment> ExperimentServiceImpl::Decompose(
    const std::string& user, const v1::DecomposeExperimentRequest& request) {
  const int64_t id = request.experiment_id();
  FNPROBE_RETURN_IF_ERROR(CheckId(id, "experiment_id"));
  FNPROBE_ASSIGN_OR_RETURN(const ExperimentRow e,
                           store_->GetExperiment(id, user, false));
  if (e.phase != ExperimentPhase::kDone) {
    return absl::FailedPreconditionError(
        absl::StrCat("experiment ", id, " is ", PhaseName(e.phase),
                     "; only a finished experiment can be decomposed"));
  }
  if (e.activations_deleted) {
    return absl::FailedPreconditionError(absl::StrCat(
        "experiment ", id,
        "'s raw activations were deleted (fnprobe delete --activations-only): "
        "ICA decomposes them, so it cannot run; resubmit the spec"));
  }
  v1::ExperimentSpec spec = e.spec;
  *spec.mutable_ica() = request.ica();
  if (spec.ica().seed() == 0) {
    spec.mutable_ica()->set_seed(spec.generation().seed());
  }
  FNPROBE_RETURN_IF_ERROR(ValidateSpec(spec));
  FNPROBE_RETURN_IF_ERROR(ica_store_->SetIcaSpec(id, spec.ica()));
  FNPROBE_RETURN_IF_ERROR(runner_->Reanalyze(id, /*ica_only=*/true));
  hub_->Notify(id);
  return ToProto(store_->GetExperiment(id, user));
}

grpc::Status ExperimentServiceImpl::DecomposeExperiment(
    grpc::ServerContext* context, const v1::DecomposeExperimentRequest* request,
    v1::Experiment* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    return Assign(Decompose(user, *request), response);
  });
}

grpc::Status ExperimentServiceImpl::ListIcaComponents(
    grpc::ServerContext* context, const v1::ListIcaComponentsRequest* request,
    v1::ListIcaComponentsResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    return Assign(ica_queries_.ListComponents(*request, user), response);
  });
}

grpc::Status ExperimentServiceImpl::GetRecurrence(
    grpc::ServerContext* context, const v1::GetRecurrenceRequest* request,
    v1::GetRecurrenceResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    return Assign(ica_queries_.GetRecurrence(*request, user), response);
  });
}

grpc::Status ExperimentServiceImpl::GetKeyNeurons(
    grpc::ServerContext* context, const v1::GetKeyNeuronsRequest* request,
    v1::GetKeyNeuronsResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    return Assign(ica_queries_.GetKeyNeurons(*request, user), response);
  });
}

grpc::Status ExperimentServiceImpl::CompareMethods(
    grpc::ServerContext* context, const v1::CompareMethodsRequest* request,
    v1::CompareMethodsResponse* response) {
  return Handle(authenticator_, context, [&](const std::string& user) {
    FNPROBE_RETURN_IF_ERROR(CheckId(request->experiment_id(), "experiment_id"));
    return Assign(ica_queries_.CompareMethods(*request, user), response);
  });
}

}  // namespace fnprobe::worker
