// Reading and validating an ExperimentSpec (proto/fnprobe/v1/
// experiment_spec.proto). Validation finds every problem at once and names
// each field, so a researcher fixes a spec in one round; a refused spec is
// refused whole.
#ifndef FNPROBE_SERVER_ANALYSIS_EXPERIMENT_SPEC_H_
#define FNPROBE_SERVER_ANALYSIS_EXPERIMENT_SPEC_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fnprobe/v1/experiment_spec.pb.h"

namespace fnprobe {

// Limits on a spec's size.
inline constexpr int kMaxConditions = 64;
inline constexpr int kMaxPromptsPerPool = 10000;
inline constexpr int kMaxPromptBytes = 4096;
inline constexpr int kMaxTokensPerPrompt = 4096;
inline constexpr int kMaxRepeats = 100;
inline constexpr int kMaxPermutations = 100000;
// Across all pools, and of the whole spec (its proto encoding): checked
// before anything else, so that an oversized spec costs nothing more.
inline constexpr int kMaxPromptsTotal = 100000;
inline constexpr int64_t kMaxSpecBytes = 8 << 20;
// Of a text corpus (TextCorpus): groups, texts per group, and time points
// per group (texts x maxTokens), which bounds one run's activation matrix.
inline constexpr int kMaxTextGroups = 1000;
inline constexpr int kMaxTextsPerGroup = 10000;
inline constexpr int64_t kMaxTextGroupTokens = 1 << 20;
inline constexpr int kDefaultTextMaxTokens = 128;
// Of an ICA analysis (IcaSpec).
inline constexpr int kMaxIcaComponents = 500;
inline constexpr int kMaxIcaRestarts = 100;
inline constexpr int kDefaultIcaComponents = 20;
// Of a condition or baseline name, in Unicode characters.
inline constexpr int kMaxNameCharacters = 128;
// Problems listed in ValidateSpec's message, and its size; the rest are
// counted. The message must fit in gRPC's metadata (8 KiB by default), or
// the client sees "metadata size exceeds limit" instead of it.
inline constexpr int kMaxReportedProblems = 40;
inline constexpr size_t kMaxProblemReportBytes = 3000;

// One problem: the field path as the JSON names it ("conditions[2].name")
// and what is wrong with it.
struct SpecProblem {
  std::string field;
  std::string problem;
};

// Parses the proto JSON mapping of a spec. INVALID_ARGUMENT naming `source`
// and what the parser reports (unknown field, wrong type, ...).
absl::StatusOr<v1::ExperimentSpec> ParseSpecJson(absl::string_view json,
                                                 absl::string_view source);

// Every problem of `spec`, in field order; empty when valid. When a size
// limit (conditions, prompts per pool or in all, bytes) is exceeded, only
// those problems: the rest is not looked at.
std::vector<SpecProblem> FindSpecProblems(const v1::ExperimentSpec& spec);

// OK, or INVALID_ARGUMENT whose message lists the problems, one
// "field: problem" per line (the first kMaxReportedProblems, then how many
// more).
absl::Status ValidateSpec(const v1::ExperimentSpec& spec);

// The cosine drift cut-off used when the spec gives none: twice a run's
// duration, at least 128 s. Block designs of language-model runs are long
// (the paper's run is 720 tokens of 240-token blocks): SPM's usual 128 s
// would put 92% of the task regressor's variance into the drift basis and
// leave little to detect; at twice the run the basis holds at most one half
// cosine, which a symmetric baseline/task/baseline regressor is orthogonal
// to.
double DefaultDriftCutoff(const v1::ExperimentSpec& spec);

// Whether the spec is a text corpus (teacher-forced groups analysed by ICA)
// rather than a block design.
inline bool IsTextCorpus(const v1::ExperimentSpec& spec) {
  return spec.has_texts();
}

// The spec with defaults made explicit (capture hooks "standard", dtype F16,
// alpha 0.05, tokens_per_second 1, drift cut-off DefaultDriftCutoff,
// polynomial order 3, 1000 permutations; for a text corpus maxTokens 128 and
// ICA with 20 components, z 3.6, the generation seed, 1 restart, 200
// iterations). REQUIRES: ValidateSpec(spec).ok().
v1::ExperimentSpec WithDefaults(v1::ExperimentSpec spec);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_EXPERIMENT_SPEC_H_
