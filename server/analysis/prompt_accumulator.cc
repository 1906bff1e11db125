#include "server/analysis/prompt_accumulator.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_util.h"
#include "server/analysis/design_matrix.h"
#include "server/analysis/run_design.h"

namespace fnprobe::analysis {
namespace {

// One HRF-convolved regressor per prompt (named so that the builder's
// by-name order is presentation order), then the drift without its
// constant: the prompts' regressors sum to ~1 after the response's rise, so
// a constant beside them would make X near-singular.
absl::StatusOr<arma::mat> HrfPromptDesign(const v1::ExperimentSpec& spec,
                                          const RunPlan& plan) {
  FNPROBE_ASSIGN_OR_RETURN(DesignOptions options, RunDesignOptions(spec, plan));
  const double seconds = spec.generation().tokens_per_prompt() /
                         spec.analysis().tokens_per_second();
  std::vector<Event> events;
  for (size_t p = 0; p < plan.prompts.size(); ++p) {
    events.push_back(
        {p * seconds, seconds, absl::StrFormat("prompt%06d", p), 1.0});
  }
  FNPROBE_ASSIGN_OR_RETURN(DesignMatrix d,
                           DesignMatrixBuilder(options).Build(events));
  arma::mat x = d.x.cols(0, d.x.n_cols - 2);  // drop the constant (last)
  return x;
}

}  // namespace

absl::StatusOr<PromptAccumulator> PromptAccumulator::Create(
    const v1::ExperimentSpec& spec, const RunPlan& plan, int64_t num_units) {
  if (num_units <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompt accumulator: ", num_units, " units"));
  }
  PromptAccumulator a;
  a.num_prompts_ = static_cast<int64_t>(plan.prompts.size());
  a.tokens_per_prompt_ = spec.generation().tokens_per_prompt();
  a.num_units_ = num_units;
  if (a.num_prompts_ == 0 || a.tokens_per_prompt_ <= 0) {
    return absl::InvalidArgumentError("prompt accumulator: empty plan");
  }
  if (spec.analysis().hrf() == v1::HrfModel::NONE) {
    a.sums_.zeros(num_units, a.num_prompts_);
    a.seen_.assign(a.num_prompts_ * a.tokens_per_prompt_, false);
    return a;
  }
  FNPROBE_ASSIGN_OR_RETURN(arma::mat x, HrfPromptDesign(spec, plan));
  auto glm = GlmAccumulator::Create(x, num_units);
  if (!glm.ok()) return Annotate(glm.status(), "prompt-level first level");
  a.glm_ = std::make_unique<GlmAccumulator>(*std::move(glm));
  return a;
}

absl::Status PromptAccumulator::Check(int64_t t, int64_t n) const {
  if (t < 0 || t >= static_cast<int64_t>(seen_.size())) {
    return absl::OutOfRangeError(
        absl::StrCat("time point ", t, " outside [0, ", seen_.size(), ")"));
  }
  if (n != num_units_) {
    return absl::InvalidArgumentError(
        absl::StrCat("frame has ", n, " values, expected ", num_units_));
  }
  if (seen_[t]) {
    return absl::AlreadyExistsError(
        absl::StrCat("time point ", t, " was added before"));
  }
  return absl::OkStatus();
}

absl::Status PromptAccumulator::Add(int64_t t, const float* y, int64_t n) {
  if (glm_ != nullptr) return glm_->Add(t, y, n);
  FNPROBE_RETURN_IF_ERROR(Check(t, n));
  double* sums = sums_.colptr(t / tokens_per_prompt_);
  for (int64_t u = 0; u < n; ++u) sums[u] += y[u];
  seen_[t] = true;
  ++rows_added_;
  return absl::OkStatus();
}

absl::Status PromptAccumulator::AddRows(const int64_t* t, const float* rows,
                                        int64_t count, int64_t n) {
  if (glm_ != nullptr) return glm_->AddRows(t, rows, count, n);
  if (count < 0) return absl::InvalidArgumentError("negative row count");
  std::vector<bool> in_block(seen_.size(), false);
  for (int64_t r = 0; r < count; ++r) {
    FNPROBE_RETURN_IF_ERROR(Check(t[r], n));
    if (in_block[t[r]]) {
      return absl::AlreadyExistsError(
          absl::StrCat("time point ", t[r], " repeats within the block"));
    }
    in_block[t[r]] = true;
  }
  for (int64_t r = 0; r < count; ++r) {
    FNPROBE_RETURN_IF_ERROR(Add(t[r], rows + r * n, n));
  }
  return absl::OkStatus();
}

absl::StatusOr<arma::mat> PromptAccumulator::Values() const {
  if (glm_ != nullptr) {
    FNPROBE_ASSIGN_OR_RETURN(OlsFit fit, glm_->Fit());
    return arma::mat(fit.beta.rows(0, num_prompts_ - 1));
  }
  if (rows_added_ != static_cast<int64_t>(seen_.size())) {
    return absl::FailedPreconditionError(
        absl::StrCat("prompt values need all ", seen_.size(), " time points; ",
                     rows_added_, " added"));
  }
  return arma::mat(sums_.t() / static_cast<double>(tokens_per_prompt_));
}

absl::StatusOr<RunPrompts> MakeRunPrompts(const RunPlan& plan,
                                          arma::mat values) {
  if (values.n_rows != plan.prompts.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("run ", plan.index, ": ", values.n_rows,
                     " prompt values for ", plan.prompts.size(), " prompts"));
  }
  RunPrompts out;
  out.values = std::move(values);
  out.text = plan.prompts;
  out.task.assign(plan.prompts.size(), 0);
  for (const RunBlock& b : plan.blocks) {
    if (!b.task) continue;
    for (int i = 0; i < b.num_prompts; ++i) out.task[b.first_prompt + i] = 1;
  }
  return out;
}

absl::StatusOr<PromptSample> PoolRuns(
    const std::vector<const RunPrompts*>& runs) {
  if (runs.empty()) return absl::InvalidArgumentError("pool: no runs");
  const arma::uword v = runs[0]->values.n_cols;
  // (label, text) -> row of the sample; occurrences per row.
  absl::flat_hash_map<std::pair<uint8_t, std::string>, arma::uword> row_of;
  std::vector<const RunPrompts*> source_run;
  std::vector<std::vector<std::pair<int, arma::uword>>> occurrences;
  PromptSample s;
  for (size_t r = 0; r < runs.size(); ++r) {
    const RunPrompts& run = *runs[r];
    if (run.values.n_cols != v || run.values.n_rows != run.task.size() ||
        run.text.size() != run.task.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "pool: run ", r, " has ", run.values.n_rows, " x ", run.values.n_cols,
          " values for ", run.task.size(), " prompts; expected width ", v));
    }
    for (arma::uword p = 0; p < run.task.size(); ++p) {
      auto [it, inserted] = row_of.try_emplace(
          std::make_pair(run.task[p], run.text[p]), occurrences.size());
      if (inserted) {
        occurrences.emplace_back();
        s.task.push_back(run.task[p]);
        s.run.push_back(static_cast<int>(r));
      }
      occurrences[it->second].emplace_back(static_cast<int>(r), p);
    }
  }
  // Sums in place, then means: no row temporaries (a row of the 125m shape
  // is 54k values, and one fresh row per prompt made this the worker's
  // busiest function at a run's end).
  s.values.zeros(occurrences.size(), v);
  arma::vec counts(occurrences.size());
  for (size_t i = 0; i < occurrences.size(); ++i) {
    for (auto [r, p] : occurrences[i])
      s.values.row(i) += runs[r]->values.row(p);
    counts(i) = static_cast<double>(occurrences[i].size());
  }
  s.values.each_col() /= counts;
  // Run ids must be 0..R-1: renumber in order of first use (a run whose
  // prompts all occurred earlier contributes none of its own).
  std::vector<int> renumber(runs.size(), -1);
  int next = 0;
  for (int& r : s.run) {
    if (renumber[r] < 0) renumber[r] = next++;
    r = renumber[r];
  }
  return s;
}

LevelTwoModel LevelTwoModelOf(const v1::AnalysisSpec& analysis) {
  return analysis.level_two() == v1::LevelTwoModel::WELCH
             ? LevelTwoModel::kWelch
             : LevelTwoModel::kRunOls;
}

absl::StatusOr<StatMap> PromptRunMap(const v1::ExperimentSpec& spec,
                                     const RunPlan& plan,
                                     const RunPrompts& prompts) {
  FNPROBE_ASSIGN_OR_RETURN(PromptSample sample, PoolRuns({&prompts}));
  auto map = LevelTwoMap(
      sample, LevelTwoModelOf(spec.analysis()),
      absl::StrCat(plan.condition_name, " > ", spec.baseline().name()));
  if (!map.ok()) {
    return Annotate(map.status(), absl::StrCat("run ", plan.index));
  }
  map->noise_model = "OLS";  // level two is a linear model of the prompts
  return map;
}

}  // namespace fnprobe::analysis
