#include "server/analysis/experiment_spec.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/analysis/level_two.h"
#include "server/analysis/masking_spec.h"

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

// --- text: names and prompts ---

// The code point of the UTF-8 sequence at text[*i], advancing *i past it;
// -1 (advancing one byte) for a malformed, overlong or surrogate sequence.
int32_t NextCodePoint(absl::string_view text, size_t* i) {
  const auto byte = [&](size_t k) {
    return static_cast<unsigned char>(text[k]);
  };
  const unsigned char b0 = byte(*i);
  int length = 0;
  int32_t c = 0;
  if (b0 < 0x80) {
    ++*i;
    return b0;
  } else if ((b0 & 0xE0) == 0xC0) {
    length = 2;
    c = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3;
    c = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    length = 4;
    c = b0 & 0x07;
  } else {
    ++*i;
    return -1;
  }
  if (*i + length > text.size()) {
    ++*i;
    return -1;
  }
  for (int k = 1; k < length; ++k) {
    if ((byte(*i + k) & 0xC0) != 0x80) {
      ++*i;
      return -1;
    }
    c = (c << 6) | (byte(*i + k) & 0x3F);
  }
  constexpr int32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (c < kMinForLength[length] || c > 0x10FFFF ||
      (c >= 0xD800 && c <= 0xDFFF)) {
    ++*i;
    return -1;
  }
  *i += length;
  return c;
}

std::string CodePointName(int32_t c) {
  return absl::StrCat(
      "U+", absl::AsciiStrToUpper(absl::StrCat(absl::Hex(c, absl::kZeroPad4))));
}

bool IsControl(int32_t c) { return c < 0x20 || (c >= 0x7F && c <= 0x9F); }

// Bidirectional controls (embeddings, overrides, isolates and marks): they
// reorder how a name displays, so that one condition can pass for another
// ("Trojan Source").
bool IsBidiControl(int32_t c) {
  return c == 0x061C || c == 0x200E || c == 0x200F ||
         (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

// Characters that display as nothing, or as a space.
bool IsInvisibleOrSpace(int32_t c) {
  return c == 0x00A0 || c == 0x00AD || c == 0x1680 || c == 0x180E ||
         (c >= 0x2000 && c <= 0x200D) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || (c >= 0x205F && c <= 0x2064) || c == 0x3000 ||
         c == 0xFEFF;
}

// A name is printable text in any script: ASCII letters, digits, '_', '-'
// and '.', and any other Unicode character except controls, bidirectional
// controls, invisible characters and spaces. Only the first problem of a
// name is reported, and a refused name is not echoed (it may be what
// misleads the reader).
void CheckName(const std::string& field, const std::string& name, Problems& p) {
  if (name.empty()) return p.Add(field, "is empty");
  int characters = 0;
  for (size_t i = 0; i < name.size();) {
    const size_t at = i;
    const int32_t c = NextCodePoint(name, &i);
    ++characters;
    if (c < 0) {
      return p.Add(field, absl::StrCat("is not valid UTF-8 (byte ", at, ")"));
    }
    if (IsControl(c)) {
      return p.Add(field, absl::StrCat("contains the control character ",
                                       CodePointName(c), " (byte ", at, ")"));
    }
    if (IsBidiControl(c)) {
      return p.Add(field,
                   absl::StrCat("contains the bidirectional control ",
                                CodePointName(c), " (byte ", at,
                                "), which can make it display as another "
                                "name"));
    }
    if (IsInvisibleOrSpace(c)) {
      return p.Add(field, absl::StrCat("contains the invisible or space "
                                       "character ",
                                       CodePointName(c), " (byte ", at, ")"));
    }
    if (c < 0x80 && !IsNameChar(static_cast<char>(c))) {
      return p.Add(field, absl::StrCat("'", name,
                                       "' may use only letters, digits, '_', "
                                       "'-' and '.'"));
    }
  }
  if (characters > kMaxNameCharacters) {
    p.Add(field,
          absl::StrCat("is longer than ", kMaxNameCharacters, " characters"));
  }
}

// Prompts are free text, but a control character other than newline and
// tab (a NUL above all) is never what a researcher meant, and some
// tokenizers and terminals treat it specially.
void CheckPromptText(const std::string& field, const std::string& text,
                     Problems& p) {
  for (size_t i = 0; i < text.size();) {
    const size_t at = i;
    const int32_t c = NextCodePoint(text, &i);
    if (c < 0) {
      return p.Add(field, absl::StrCat("is not valid UTF-8 (byte ", at, ")"));
    }
    if (IsControl(c) && c != '\n' && c != '\t') {
      return p.Add(field, absl::StrCat("contains the control character ",
                                       CodePointName(c), " (byte ", at,
                                       "); only newline and tab are allowed"));
    }
  }
}

// The limits on a spec's size, before anything looks at its contents.
// Returns whether one was exceeded.
bool CheckSizeLimits(const v1::ExperimentSpec& spec, Problems& p) {
  bool exceeded = false;
  const size_t bytes = spec.ByteSizeLong();
  if (bytes > static_cast<size_t>(kMaxSpecBytes)) {
    p.Add("", absl::StrCat("the spec is ", bytes, " bytes; the limit is ",
                           kMaxSpecBytes));
    exceeded = true;
  }
  if (spec.conditions_size() > kMaxConditions) {
    p.Add("conditions",
          absl::StrCat(spec.conditions_size(),
                       " conditions exceed the limit of ", kMaxConditions));
    exceeded = true;
  }
  int64_t total = spec.baseline().prompts_size();
  const auto check_pool = [&](const std::string& field,
                              const v1::PromptPool& pool) {
    if (pool.prompts_size() > kMaxPromptsPerPool) {
      p.Add(field + ".prompts",
            absl::StrCat(pool.prompts_size(), " prompts exceed the limit of ",
                         kMaxPromptsPerPool));
      exceeded = true;
    }
  };
  check_pool("baseline", spec.baseline());
  for (int c = 0; c < spec.conditions_size(); ++c) {
    total += spec.conditions(c).prompts_size();
    if (c < kMaxConditions) {
      check_pool(absl::StrCat("conditions[", c, "]"), spec.conditions(c));
    }
  }
  for (int i = 0; i < spec.texts().pools_size(); ++i) {
    total += spec.texts().pools(i).prompts_size();
    check_pool(absl::StrCat("texts.pools[", i, "]"), spec.texts().pools(i));
  }
  if (spec.texts().pools_size() > kMaxConditions) {
    p.Add("texts.pools",
          absl::StrCat(spec.texts().pools_size(), " pools exceed the limit of ",
                       kMaxConditions));
    exceeded = true;
  }
  if (total > kMaxPromptsTotal) {
    p.Add("conditions", absl::StrCat(total,
                                     " prompts in all exceed the limit "
                                     "of ",
                                     kMaxPromptsTotal));
    exceeded = true;
  }
  return exceeded;
}

void CheckPool(const std::string& field, const v1::PromptPool& pool,
               Problems& p) {
  if (pool.prompts_size() == 0) p.Add(field + ".prompts", "is empty");
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < pool.prompts_size(); ++i) {
    const std::string& text = pool.prompts(i);
    const std::string f = absl::StrCat(field, ".prompts[", i, "]");
    if (absl::StripAsciiWhitespace(text).empty()) p.Add(f, "is empty");
    if (static_cast<int>(text.size()) > kMaxPromptBytes) {
      p.Add(f, absl::StrCat("is ", text.size(), " bytes; the limit is ",
                            kMaxPromptBytes));
    }
    CheckPromptText(f, text, p);
    if (!seen.insert(text).second) p.Add(f, "repeats an earlier prompt");
  }
}

// A text corpus generates nothing: tokensPerPrompt may be left out.
void CheckGeneration(const v1::GenerationSpec& g, bool text_corpus,
                     Problems& p) {
  if (!(text_corpus && g.tokens_per_prompt() == 0) &&
      (g.tokens_per_prompt() < 1 ||
       g.tokens_per_prompt() > kMaxTokensPerPrompt)) {
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
  // Baseline prompts are drawn without replacement across repeats too
  // (run_planner.h), so a held-out repeat shares no prompt with the others.
  const int64_t baseline_needed =
      int64_t{baseline_blocks} * d.prompts_per_block() * d.repeats();
  if (spec.baseline().prompts_size() < baseline_needed) {
    p.Add("baseline.prompts",
          absl::StrCat("has ", spec.baseline().prompts_size(), " prompts; ",
                       baseline_blocks, " baseline block(s) x ",
                       d.prompts_per_block(), " prompts x ", d.repeats(),
                       " repeats need ", baseline_needed,
                       " (each repeat has baseline prompts of its own)"));
  }
}

// A prompt is one observation of one kind: one text in the baseline and in
// a condition would be both task and baseline, and (with classify) one text
// in two conditions lets a held-out run meet a prompt that the network it
// is scored against has seen.
void CheckPromptsDisjoint(const v1::ExperimentSpec& spec, Problems& p) {
  absl::flat_hash_map<std::string, std::string> owner;
  for (int i = 0; i < spec.baseline().prompts_size(); ++i) {
    owner.try_emplace(spec.baseline().prompts(i),
                      absl::StrCat("baseline.prompts[", i, "]"));
  }
  const bool classify = spec.analysis().classify();
  for (int c = 0; c < spec.conditions_size(); ++c) {
    const v1::PromptPool& pool = spec.conditions(c);
    for (int i = 0; i < pool.prompts_size(); ++i) {
      const std::string field =
          absl::StrCat("conditions[", c, "].prompts[", i, "]");
      auto [it, inserted] = owner.try_emplace(pool.prompts(i), field);
      if (inserted) continue;
      // A repeat within one pool is CheckPool's to report.
      if (absl::StartsWith(it->second, absl::StrCat("conditions[", c, "]."))) {
        continue;
      }
      if (absl::StartsWith(it->second, "baseline")) {
        p.Add(field, absl::StrCat("is also ", it->second,
                                  "; a prompt cannot be both task and "
                                  "baseline"));
      } else if (classify) {
        p.Add(field, absl::StrCat("is also ", it->second,
                                  "; held-out identification (classify) "
                                  "needs prompts that no other condition "
                                  "uses"));
      }
    }
  }
}

// Prompt-level inference: what its level two needs of one run (the run's
// own map is the same test over its prompts), and whether a permutation
// threshold can reach alpha with the labellings one run allows.
void CheckPromptInference(const v1::ExperimentSpec& spec, Problems& p) {
  const v1::AnalysisSpec& a = spec.analysis();
  if (a.noise() == v1::NoiseModel::AR1) {
    p.Add("analysis.noise",
          "AR1 whitens a token time series; prompt-level inference (the "
          "default) tests prompts, which are independent: use OLS, or "
          "inference TOKEN");
  }
  if (a.hrf() != v1::HrfModel::NONE &&
      spec.generation().tokens_per_prompt() < 2) {
    p.Add("analysis.hrf",
          "a first-level GLM per prompt needs at least 2 tokens per prompt");
  }
  const v1::BlockDesign& d = spec.design();
  auto [baseline_blocks, task_blocks] = CountBlocks(d);
  const int task = task_blocks * d.prompts_per_block();
  const int baseline = baseline_blocks * d.prompts_per_block();
  if (task < 1 || baseline < 1) return;  // CheckDesign says why
  if (a.level_two() == v1::LevelTwoModel::WELCH && (task < 2 || baseline < 2)) {
    p.Add("analysis.levelTwo",
          absl::StrCat("WELCH needs at least 2 task and 2 baseline prompts "
                       "per run; the design has ",
                       task, " and ", baseline));
  } else if (task + baseline < 3) {
    p.Add("design.promptsPerBlock",
          "a run needs at least 3 prompts for a level-two test");
  }
  if (a.threshold().method() != v1::ThresholdSpec::PERMUTATION) return;
  const double alpha = a.threshold().alpha() > 0 ? a.threshold().alpha() : 0.05;
  const int permutations =
      a.threshold().permutations() > 0 ? a.threshold().permutations() : 1000;
  analysis::PromptSample run;
  run.values.zeros(task + baseline, 1);
  run.task.assign(task + baseline, 0);
  std::fill(run.task.begin(), run.task.begin() + task, 1);
  run.run.assign(task + baseline, 0);
  const double distinct = analysis::DistinctLabellings(run);
  const double smallest =
      analysis::SmallestPermutationP(distinct, task == baseline, permutations);
  if (smallest > alpha) {
    p.Add("analysis.threshold",
          absl::StrFormat(
              "PERMUTATION cannot reach alpha %g: a run of %d task and %d "
              "baseline prompts allows %.0f labellings (with %d "
              "permutations), so its smallest p-value is %.3g; use more "
              "promptsPerBlock, more permutations, a larger alpha, or FDR",
              alpha, task, baseline, distinct, permutations, smallest));
  }
}

// A text corpus replaces the block design: its pools, group sizes, and
// that each pool holds its share of a group (text i of a group comes from
// pool i mod P, drawn without replacement within the group).
void CheckTextCorpus(const v1::ExperimentSpec& spec, Problems& p) {
  const v1::TextCorpus& t = spec.texts();
  if (spec.conditions_size() > 0 || spec.has_design() || spec.has_baseline()) {
    p.Add("texts",
          "a text corpus replaces conditions, baseline and design: give "
          "either; decompose a block-design experiment with `fnprobe ica`");
  }
  if (t.pools_size() == 0) p.Add("texts.pools", "is empty");
  absl::flat_hash_set<std::string> names;
  for (int i = 0; i < t.pools_size(); ++i) {
    const std::string field = absl::StrCat("texts.pools[", i, "]");
    CheckName(field + ".name", t.pools(i).name(), p);
    if (!t.pools(i).name().empty() && !names.insert(t.pools(i).name()).second) {
      p.Add(field + ".name",
            absl::StrCat("'", t.pools(i).name(), "' is used by another pool"));
    }
    CheckPool(field, t.pools(i), p);
  }
  if (t.groups() < 1 || t.groups() > kMaxTextGroups) {
    p.Add("texts.groups", absl::StrCat("must be in [1, ", kMaxTextGroups,
                                       "], got ", t.groups()));
  }
  if (t.texts_per_group() < 1 || t.texts_per_group() > kMaxTextsPerGroup) {
    p.Add("texts.textsPerGroup",
          absl::StrCat("must be in [1, ", kMaxTextsPerGroup, "], got ",
                       t.texts_per_group()));
  }
  if (t.max_tokens() < 0 || t.max_tokens() > kMaxTokensPerPrompt) {
    p.Add("texts.maxTokens",
          absl::StrCat("must be in [1, ", kMaxTokensPerPrompt, "], got ",
                       t.max_tokens()));
  }
  const int64_t max_tokens =
      t.max_tokens() > 0 ? t.max_tokens() : kDefaultTextMaxTokens;
  if (int64_t{t.texts_per_group()} * max_tokens > kMaxTextGroupTokens) {
    p.Add("texts.textsPerGroup",
          absl::StrCat(t.texts_per_group(), " texts x ", max_tokens,
                       " tokens exceed the limit of ", kMaxTextGroupTokens,
                       " time points per group"));
  }
  const int pools = t.pools_size();
  if (pools == 0 || t.texts_per_group() < 1) return;
  for (int i = 0; i < pools; ++i) {
    const int share = (t.texts_per_group() - i + pools - 1) / pools;
    if (t.pools(i).prompts_size() > 0 && t.pools(i).prompts_size() < share) {
      p.Add(
          absl::StrCat("texts.pools[", i, "].prompts"),
          absl::StrCat("has ", t.pools(i).prompts_size(), " texts; a group of ",
                       t.texts_per_group(), " texts over ", pools,
                       " pool(s) draws ", share, " from it"));
    }
  }
}

void CheckIca(const v1::ExperimentSpec& spec, Problems& p) {
  const v1::IcaSpec& ica = spec.ica();
  if (ica.components() < 0 || ica.components() > kMaxIcaComponents) {
    p.Add("ica.components", absl::StrCat("must be in [1, ", kMaxIcaComponents,
                                         "], got ", ica.components()));
  }
  for (int i = 0; i < ica.hooks_size(); ++i) {
    if (ica.hooks(i).empty()) {
      p.Add(absl::StrCat("ica.hooks[", i, "]"), "is empty");
    }
  }
  if (ica.components() > 0 && spec.texts().texts_per_group() > 0 &&
      ica.components() > spec.texts().texts_per_group() *
                             int64_t{spec.texts().max_tokens() > 0
                                         ? spec.texts().max_tokens()
                                         : kDefaultTextMaxTokens}) {
    p.Add("ica.components", "exceeds the time points a group can have");
  }
  if (!(ica.z() >= 0) || !std::isfinite(ica.z())) {
    p.Add("ica.z", "must be a finite number >= 0");
  }
  if (ica.restarts() < 0 || ica.restarts() > kMaxIcaRestarts) {
    p.Add("ica.restarts",
          absl::StrCat("must be in [1, ", kMaxIcaRestarts, "]"));
  }
  if (ica.max_iter() < 0 || ica.max_iter() > 100000) {
    p.Add("ica.maxIter", "must be in [1, 100000]");
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
  if (CheckSizeLimits(spec, p)) return p.Take();
  if (spec.has_masking()) return FindMaskingSpecProblems(spec);
  CheckName("name", spec.name(), p);
  if (spec.model().empty()) p.Add("model", "is empty");
  CheckGeneration(spec.generation(), IsTextCorpus(spec), p);
  for (int i = 0; i < spec.capture().hooks_size(); ++i) {
    if (spec.capture().hooks(i).empty()) {
      p.Add(absl::StrCat("capture.hooks[", i, "]"), "is empty");
    }
  }
  if (IsTextCorpus(spec)) {
    CheckTextCorpus(spec, p);
    CheckIca(spec, p);
    return p.Take();
  }
  if (spec.has_ica()) CheckIca(spec, p);
  CheckName("baseline.name", spec.baseline().name(), p);
  CheckPool("baseline", spec.baseline(), p);
  if (spec.conditions_size() == 0) p.Add("conditions", "is empty");
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
  CheckPromptsDisjoint(spec, p);
  CheckAnalysis(spec.analysis(), p);
  if (spec.analysis().inference() == v1::InferenceLevel::PROMPT) {
    CheckPromptInference(spec, p);
  } else if (spec.analysis().level_two() != v1::LevelTwoModel::RUN_OLS) {
    p.Add("analysis.levelTwo", "applies to PROMPT inference only");
  }
  return p.Take();
}

absl::Status ValidateSpec(const v1::ExperimentSpec& spec) {
  std::vector<SpecProblem> problems = FindSpecProblems(spec);
  if (problems.empty()) return absl::OkStatus();
  std::vector<std::string> lines;
  size_t bytes = 0;
  for (const SpecProblem& p : problems) {
    if (static_cast<int>(lines.size()) == kMaxReportedProblems ||
        bytes > kMaxProblemReportBytes) {
      lines.push_back(
          absl::StrCat("... and ", problems.size() - lines.size(), " more"));
      break;
    }
    lines.push_back(p.field.empty() ? p.problem
                                    : absl::StrCat(p.field, ": ", p.problem));
    bytes += lines.back().size() + 1;
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
  if (spec.has_masking()) return MaskingWithDefaults(std::move(spec));
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
  if (IsTextCorpus(spec)) {
    v1::TextCorpus* t = spec.mutable_texts();
    if (t->max_tokens() == 0) t->set_max_tokens(kDefaultTextMaxTokens);
  }
  if (IsTextCorpus(spec) || spec.has_ica()) {
    v1::IcaSpec* ica = spec.mutable_ica();
    if (ica->components() == 0) ica->set_components(kDefaultIcaComponents);
    if (ica->z() == 0) ica->set_z(3.6);
    if (ica->seed() == 0) ica->set_seed(spec.generation().seed());
    if (ica->restarts() == 0) ica->set_restarts(1);
    if (ica->max_iter() == 0) ica->set_max_iter(200);
  }
  return spec;
}

}  // namespace fnprobe
