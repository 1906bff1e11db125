#include "server/analysis/worker/masking_runner.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/auth.h"
#include "common/grpc_status.h"
#include "common/status_util.h"
#include "server/analysis/storage/crc32c.h"
#include "server/analysis/worker/run_executor.h"
#include "server/analysis/worker/unit_moments.h"

namespace fnprobe::worker {
namespace {

void Log(const std::string& line) {
  std::cerr << "fnprobe-worker: " << line << std::endl;
}

// One member's stream, accumulated per text.
absl::StatusOr<std::vector<MaskingScore>> ReadMember(
    v1::InferenceService::StubInterface* stub, grpc::ClientContext* context,
    const v1::ForwardRequest& request, int run_index, int member,
    int first_text) {
  std::unique_ptr<grpc::ClientReaderInterface<v1::GenerateResponse>> reader =
      stub->Forward(context, request);
  const int n = request.prompts_size();
  std::vector<MaskingScore> scores(n);
  std::vector<int64_t> positions(n, 0), lengths(n, -1);
  for (int i = 0; i < n; ++i) {
    scores[i].run = run_index;
    scores[i].member = member;
    scores[i].text = first_text + i;
  }
  absl::Status failure;
  v1::GenerateResponse response;
  while (failure.ok() && reader->Read(&response)) {
    if (response.has_header()) {
      const auto& tokens = response.header().prompt_tokens();
      if (tokens.size() != n) {
        failure = absl::DataLossError("header does not list every text");
        break;
      }
      for (int i = 0; i < n; ++i) lengths[i] = tokens[i].ids_size();
      continue;
    }
    if (!response.has_frame()) continue;
    const v1::ActivationFrame& f = response.frame();
    if (f.prompt_index() < 0 || f.prompt_index() >= n) {
      failure = absl::DataLossError(
          absl::StrCat("frame of an unknown text ", f.prompt_index()));
      break;
    }
    ++positions[f.prompt_index()];
    if (std::isnan(f.next_token_logprob())) continue;  // a text's last
    MaskingScore& s = scores[f.prompt_index()];
    ++s.tokens;
    s.nll_sum -= f.next_token_logprob();
    s.top1 += f.next_token_top1() ? 1 : 0;
  }
  if (!failure.ok()) {
    context->TryCancel();
    reader->Finish().ok();
    return failure;
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return ToAbslStatus(status);
  for (int i = 0; i < n; ++i) {
    if (lengths[i] < 0 || positions[i] != lengths[i]) {
      return absl::DataLossError(absl::StrCat("text ", first_text + i, ": ",
                                              positions[i], " of ", lengths[i],
                                              " positions arrived"));
    }
  }
  return scores;
}

// Writes `text` to `path` durably (the Env's temporary, fsync and rename),
// making the experiment's directory first.
absl::Status WriteScores(Env& env, const std::string& path,
                         const std::string& text) {
  FNPROBE_RETURN_IF_ERROR(env.CreateDirectories(ParentDirectory(path)));
  return WriteFileAtomically(env, path, text);
}

}  // namespace

std::string MaskingScoresPath(const std::string& data_dir, int64_t id,
                              int64_t run_id) {
  return absl::StrCat(data_dir, "/activations/experiment-", id, "/run-", run_id,
                      ".scores.csv");
}

v1::ForwardRequest MakeMaskingRequest(
    const v1::ExperimentSpec& spec, const MaskingPlan& plan,
    const MaskingRun& run, int member,
    const std::map<std::string, std::vector<float>>& means) {
  v1::ForwardRequest request;
  const v1::MaskingEvaluation& set = spec.masking().evaluation(run.evaluation);
  for (int i = 0; i < run.num_texts; ++i) {
    request.add_prompts()->set_text(set.texts(run.first_text + i));
  }
  request.set_score(true);
  if (run.network < 0) return request;
  const MaskedNetwork& network = plan.networks[run.network];
  const UnitSelection& units =
      member == 0 ? network.units : network.controls[member - 1];
  for (v1::Intervention& iv : MaskingInterventions(
           units, run.operation, spec.masking().factor(), means)) {
    *request.add_interventions() = std::move(iv);
  }
  return request;
}

absl::StatusOr<std::vector<MaskingScore>> ExecuteMaskingAttempt(
    v1::InferenceService::StubInterface* stub, const MaskingAttempt& a) {
  const MaskingRun& run = a.plan->runs[a.run_index];
  const int members = run.members;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  for (int m = 0; m < members; ++m) {
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    AddBearerToken(contexts.back().get(), a.inference_token);
  }
  int registered = 0;
  for (; registered < members; ++registered) {
    if (a.add_context && !a.add_context(contexts[registered].get())) break;
  }
  std::vector<absl::StatusOr<std::vector<MaskingScore>>> results(
      members, absl::CancelledError("run abandoned"));
  if (registered == members) {
    std::mutex mu;
    bool failed = false;
    std::vector<std::thread> threads;
    for (int m = 0; m < members; ++m) {
      threads.emplace_back([&, m] {
        results[m] =
            ReadMember(stub, contexts[m].get(),
                       MakeMaskingRequest(*a.spec, *a.plan, run, m, a.means),
                       a.run_index, m, run.first_text);
        if (!results[m].ok()) {
          // One member's failure dooms the attempt: stop the others.
          std::lock_guard<std::mutex> lock(mu);
          if (!failed) {
            failed = true;
            for (auto& c : contexts) c->TryCancel();
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
  }
  if (a.remove_context) {
    for (int m = 0; m < registered; ++m) a.remove_context(contexts[m].get());
  }
  // The first real error, rather than the cancellations it caused.
  const absl::Status* first = nullptr;
  for (const auto& r : results) {
    if (r.ok()) continue;
    if (first == nullptr ||
        (absl::IsCancelled(*first) && !absl::IsCancelled(r.status()))) {
      first = &r.status();
    }
  }
  if (first != nullptr) return *first;
  std::vector<MaskingScore> out;
  for (auto& r : results) out.insert(out.end(), r->begin(), r->end());
  return out;
}

MaskingRunOutcome ExecuteMaskingRun(const MaskingRunHost& host, int64_t id,
                                    const v1::ExperimentSpec& spec,
                                    int64_t run_id, int index) {
  ExperimentStore& experiments = *host.experiments;
  absl::StatusOr<MaskingPlan> plan = host.masking->LoadPlan(id);
  if (!plan.ok()) {
    return {MaskingRunOutcome::kFailed,
            absl::StrCat("masking plan: ", plan.status().message())};
  }
  if (index < 0 || index >= static_cast<int>(plan->runs.size())) {
    return {MaskingRunOutcome::kFailed,
            absl::StrCat("run ", index, " is not in the masking plan")};
  }
  const MaskingRun& run = plan->runs[index];
  const std::string where = absl::StrCat(
      "masking run ", index, " (",
      run.network < 0 ? std::string("unmasked")
                      : absl::StrCat(OperationName(run.operation), " ",
                                     plan->networks[run.network].name),
      ", ", spec.masking().evaluation(run.evaluation).name(), ")");
  absl::Status started = experiments.StartRun(id, run_id);
  if (absl::IsFailedPrecondition(started)) return {};
  if (!started.ok()) {
    return {MaskingRunOutcome::kFailed,
            absl::StrCat(where, ": ", started.message())};
  }
  if (host.notify) host.notify();
  MaskingAttempt attempt;
  attempt.spec = &spec;
  attempt.plan = &*plan;
  attempt.run_index = index;
  attempt.inference_token = host.inference_token;
  attempt.add_context = host.add_context;
  attempt.remove_context = host.remove_context;
  if (run.operation == v1::MaskingOperation::MEAN) {
    const MaskedNetwork& network = plan->networks[run.network];
    std::vector<std::string> hooks;
    for (const auto& [hook, units] : network.units) hooks.push_back(hook);
    absl::StatusOr<std::map<std::string, HookMoments>> moments =
        UnitMoments(experiments, network.mean_from, hooks);
    if (!moments.ok()) {
      return {MaskingRunOutcome::kFailed,
              absl::StrCat(where, ": means from experiment ", network.mean_from,
                           ": ", moments.status().message())};
    }
    for (const auto& [hook, m] : *moments) {
      attempt.means[hook].assign(m.mean.begin(), m.mean.end());
    }
  }
  const std::string path = MaskingScoresPath(host.data_dir, id, run_id);
  absl::Duration backoff = host.initial_backoff;
  for (int n = 1;; ++n) {
    absl::Status status;
    absl::StatusOr<InferenceTarget> target = host.pool->Pick(spec.model());
    if (!target.ok()) {
      status = target.status();
    } else {
      const absl::Time begin = absl::Now();
      absl::StatusOr<std::vector<MaskingScore>> scores =
          ExecuteMaskingAttempt(target->stub, attempt);
      if (scores.ok()) {
        ScoredRun scored;
        scored.path = path;
        scored.scores = *std::move(scores);
        const std::string csv = ScoresCsv(scored.scores);
        scored.checksum = crc32c::Format(crc32c::Value(csv));
        scored.bytes = static_cast<int64_t>(csv.size());
        Env& env = host.env != nullptr ? *host.env : *Env::Default();
        status = WriteScores(env, path, csv);
        if (status.ok()) {
          status = host.masking->MarkRunScored(run_id, scored);
          // Not recorded: the file would be an orphan.
          if (!status.ok()) env.DeleteFile(path).IgnoreError();
        }
        if (status.ok()) {
          Log(
              absl::StrFormat("experiment %d: %s done: %d member(s) x %d "
                              "text(s) in %.2f s",
                              id, where, run.members, run.num_texts,
                              absl::ToDoubleSeconds(absl::Now() - begin)));
          return {MaskingRunOutcome::kDone, ""};
        }
      } else {
        status = scores.status();
        if (IsRetryable(status)) host.pool->Forget(target->address);
      }
    }
    if (host.abandoned()) return {};
    if (!IsRetryable(status) || n >= host.max_attempts) {
      return {MaskingRunOutcome::kFailed,
              absl::StrCat(where, " failed after ", n,
                           " attempt(s): ", status.message())};
    }
    Log(absl::StrCat("experiment ", id, ": ", where, " attempt ", n, ": ",
                     status.ToString(), "; retrying in ",
                     absl::FormatDuration(backoff)));
    if (!host.backoff(backoff)) return {};
    backoff = std::min(backoff * 2, host.max_backoff);
    absl::Status restarted = experiments.StartRun(id, run_id);
    if (absl::IsFailedPrecondition(restarted)) return {};
    if (!restarted.ok()) {
      return {MaskingRunOutcome::kFailed,
              absl::StrCat(where, ": ", restarted.message())};
    }
  }
}

}  // namespace fnprobe::worker
