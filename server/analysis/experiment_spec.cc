#include "server/analysis/experiment_spec.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fnprobe {
namespace {

class Problems {
 public:
  void Add(std::string field, std::string problem) {
    list_.push_back({std::move(field), std::move(problem)});
  }
  std::vector<SpecProblem> Take() { return std::move(list_); }

 private:
  std::vector<SpecProblem> list_;
};

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         c == '-' || c == '.';
}

void CheckName(const std::string& field, const std::string& name, Problems& p) {
  if (name.empty()) return p.Add(field, "is empty");
  if (name.size() > 128) return p.Add(field, "is longer than 128 characters");
  for (char c : name) {
    if (!IsNameChar(c)) {
      return p.Add(field, absl::StrCat("'", name,
                                       "' may use only letters, digits, '_', "
                                       "'-' and '.'"));
    }
  }
}

void CheckPool(const std::string& field, const v1::PromptPool& pool,
               Problems& p) {
  if (pool.prompts_size() == 0) p.Add(field + ".prompts", "is empty");
  if (pool.prompts_size() > kMaxPromptsPerPool) {
    p.Add(field + ".prompts",
          absl::StrCat(pool.prompts_size(), " prompts exceed the limit of ",
                       kMaxPromptsPerPool));
  }
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < pool.prompts_size(); ++i) {
    const std::string& text = pool.prompts(i);
    const std::string f = absl::StrCat(field, ".prompts[", i, "]");
    if (absl::StripAsciiWhitespace(text).empty()) p.Add(f, "is empty");
    if (static_cast<int>(text.size()) > kMaxPromptBytes) {
      p.Add(f, absl::StrCat("is ", text.size(), " bytes; the limit is ",
                            kMaxPromptBytes));
    }
    if (!seen.insert(text).second) p.Add(f, "repeats an earlier prompt");
  }
}

void CheckGeneration(const v1::GenerationSpec& g, Problems& p) {
  if (g.tokens_per_prompt() < 1 ||
      g.tokens_per_prompt() > kMaxTokensPerPrompt) {
    p.Add("generation.tokensPerPrompt",
          absl::StrCat("must be in [1, ", kMaxTokensPerPrompt, "], got ",
                       g.tokens_per_prompt()));
  }
  if (!(g.temperature() >= 0)) p.Add("generation.temperature", "must be >= 0");
  if (g.top_k() < 0) p.Add("generation.topK", "must be >= 0");
  if (!(g.top_p() >= 0 && g.top_p() <= 1)) {
    p.Add("generation.topP", "must be in [0, 1]");
  }
}

// Blocks of each kind in one run.
std::pair<int, int> CountBlocks(const v1::BlockDesign& d) {
  int baseline = 0, task = 0;
  for (const std::string& b : d.pattern()) {
    baseline += b == "baseline";
    task += b == "task";
  }
  return {baseline, task};
}

void CheckDesign(const v1::ExperimentSpec& spec, Problems& p) {
  const v1::BlockDesign& d = spec.design();
  if (d.pattern_size() == 0) p.Add("design.pattern", "is empty");
  for (int i = 0; i < d.pattern_size(); ++i) {
    if (d.pattern(i) != "baseline" && d.pattern(i) != "task") {
      p.Add(absl::StrCat("design.pattern[", i, "]"),
            absl::StrCat("'", d.pattern(i), "' is neither baseline nor task"));
    }
  }
  auto [baseline_blocks, task_blocks] = CountBlocks(d);
  if (d.pattern_size() > 0 && task_blocks == 0) {
    p.Add("design.pattern", "has no task block");
  }
  if (d.pattern_size() > 0 && baseline_blocks == 0) {
    p.Add("design.pattern", "has no baseline block");
  }
  if (d.prompts_per_block() < 1) {
    p.Add("design.promptsPerBlock", "must be at least 1");
  }
  if (d.repeats() < 1 || d.repeats() > kMaxRepeats) {
    p.Add("design.repeats",
          absl::StrCat("must be in [1, ", kMaxRepeats, "], got ", d.repeats()));
  }
  if (d.prompts_per_block() < 1 || d.repeats() < 1) return;
  // Task prompts are drawn without replacement across a condition's runs
  // (held-out runs see unseen prompts); baseline prompts within a run.
  const int64_t task_needed =
      int64_t{task_blocks} * d.prompts_per_block() * d.repeats();
  for (int c = 0; c < spec.conditions_size(); ++c) {
    if (spec.conditions(c).prompts_size() < task_needed) {
      p.Add(absl::StrCat("conditions[", c, "].prompts"),
            absl::StrCat("has ", spec.conditions(c).prompts_size(),
                         " prompts; ", task_blocks, " task block(s) x ",
                         d.prompts_per_block(), " prompts x ", d.repeats(),
                         " repeats need ", task_needed));
    }
  }
  const int64_t baseline_needed =
      int64_t{baseline_blocks} * d.prompts_per_block();
  if (spec.baseline().prompts_size() < baseline_needed) {
    p.Add(
        "baseline.prompts",
        absl::StrCat("has ", spec.baseline().prompts_size(), " prompts; ",
                     baseline_blocks, " baseline block(s) x ",
                     d.prompts_per_block(), " prompts need ", baseline_needed));
  }
}

void CheckAnalysis(const v1::AnalysisSpec& a, Problems& p) {
  const double alpha = a.threshold().alpha();
  if (alpha != 0 && !(alpha > 0 && alpha < 1)) {
    p.Add("analysis.threshold.alpha", "must be in (0, 1)");
  }
  if (a.threshold().permutations() < 0 ||
      a.threshold().permutations() > kMaxPermutations) {
    p.Add("analysis.threshold.permutations",
          absl::StrCat("must be in [0, ", kMaxPermutations, "]"));
  }
  if (a.tokens_per_second() < 0) {
    p.Add("analysis.tokensPerSecond", "must be positive");
  }
  if (a.drift_cutoff_s() < 0) p.Add("analysis.driftCutoffS", "must be >= 0");
  if (a.drift_order() < 0 || a.drift_order() > 10) {
    p.Add("analysis.driftOrder", "must be in [0, 10]");
  }
}

}  // namespace

absl::StatusOr<v1::ExperimentSpec> ParseSpecJson(absl::string_view json,
                                                 absl::string_view source) {
  v1::ExperimentSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status = google::protobuf::util::JsonStringToMessage(std::string(json),
                                                            &spec, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": ", std::string(status.message())));
  }
  return spec;
}

std::vector<SpecProblem> FindSpecProblems(const v1::ExperimentSpec& spec) {
  Problems p;
  CheckName("name", spec.name(), p);
  if (spec.model().empty()) p.Add("model", "is empty");
  CheckGeneration(spec.generation(), p);
  for (int i = 0; i < spec.capture().hooks_size(); ++i) {
    if (spec.capture().hooks(i).empty()) {
      p.Add(absl::StrCat("capture.hooks[", i, "]"), "is empty");
    }
  }
  CheckName("baseline.name", spec.baseline().name(), p);
  CheckPool("baseline", spec.baseline(), p);
  if (spec.conditions_size() == 0) p.Add("conditions", "is empty");
  if (spec.conditions_size() > kMaxConditions) {
    p.Add("conditions",
          absl::StrCat(spec.conditions_size(),
                       " conditions exceed the limit of ", kMaxConditions));
  }
  absl::flat_hash_set<std::string> names = {spec.baseline().name()};
  for (int c = 0; c < spec.conditions_size(); ++c) {
    const std::string field = absl::StrCat("conditions[", c, "]");
    const std::string& name = spec.conditions(c).name();
    CheckName(field + ".name", name, p);
    if (!name.empty() && !names.insert(name).second) {
      p.Add(field + ".name",
            absl::StrCat("'", name,
                         "' is used by another condition or the "
                         "baseline"));
    }
    CheckPool(field, spec.conditions(c), p);
  }
  CheckDesign(spec, p);
  CheckAnalysis(spec.analysis(), p);
  return p.Take();
}

absl::Status ValidateSpec(const v1::ExperimentSpec& spec) {
  std::vector<SpecProblem> problems = FindSpecProblems(spec);
  if (problems.empty()) return absl::OkStatus();
  std::vector<std::string> lines;
  for (const SpecProblem& p : problems) {
    lines.push_back(absl::StrCat(p.field, ": ", p.problem));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("invalid experiment spec (", problems.size(),
                   " problem(s)):\n", absl::StrJoin(lines, "\n")));
}

double DefaultDriftCutoff(const v1::ExperimentSpec& spec) {
  const double tokens_per_second = spec.analysis().tokens_per_second() > 0
                                       ? spec.analysis().tokens_per_second()
                                       : 1.0;
  const double run_seconds = static_cast<double>(spec.design().pattern_size()) *
                             spec.design().prompts_per_block() *
                             spec.generation().tokens_per_prompt() /
                             tokens_per_second;
  return std::max(128.0, 2.0 * run_seconds);
}

v1::ExperimentSpec WithDefaults(v1::ExperimentSpec spec) {
  if (spec.capture().hooks_size() == 0)
    spec.mutable_capture()->add_hooks("standard");
  if (spec.capture().dtype() == v1::CaptureDType::UNSPECIFIED) {
    spec.mutable_capture()->set_dtype(v1::CaptureDType::F16);
  }
  v1::AnalysisSpec* a = spec.mutable_analysis();
  if (a->threshold().alpha() == 0) a->mutable_threshold()->set_alpha(0.05);
  if (a->threshold().permutations() == 0) {
    a->mutable_threshold()->set_permutations(1000);
  }
  if (a->tokens_per_second() == 0) a->set_tokens_per_second(1.0);
  if (a->drift_cutoff_s() == 0) a->set_drift_cutoff_s(DefaultDriftCutoff(spec));
  if (a->drift_order() == 0) a->set_drift_order(3);
  if (spec.generation().top_p() == 0) spec.mutable_generation()->set_top_p(1);
  return spec;
}

}  // namespace fnprobe
