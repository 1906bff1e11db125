// Masking experiments (Liu et al. 2025, part 2; DESIGN.md "Analysis"): the
// spec's rules, and the plan a valid spec gives once its networks are
// resolved to units.
//
// A masking spec (ExperimentSpec.masking) names networks (stored results or
// explicit units), operations (ZERO, KEEP_ONLY, MEAN, AMPLIFY), a number of
// random controls and evaluation sets of texts. The worker resolves the
// networks to units at submission (worker/masking_submit.h), draws each
// network's controls (DrawControls) and stores the plan (MaskingPlan, as
// JSON) with the experiment; every later step reads it back.
//
// The plan's runs, in order: for each evaluation set and batch of its texts
// one unmasked run, then for each operation x network x evaluation batch one
// run that scores the batch under the network's intervention and under each
// of its controls' (the worker sends those N + 1 Forward requests together,
// so that the inference server batches them).
//
// Controls: for each hook point of the network, as many units as the
// network has there, drawn uniformly without replacement from that hook
// point's other units (never the network's own: a control that removed part
// of the network would measure the network, not chance), seeded by the
// spec's seed and the network's index.
//
// Variance-matched controls (`match_variance`; DrawVarianceMatchedControls):
// a task network's units are often the loud ones, and zeroing loud units
// harms more than zeroing random, mostly quiet ones; matched controls ask
// whether the network matters more than equally loud units. Per hook point,
// all units are ranked by activation variance (ties by index) and the ranks
// cut into S strata of equal count (+-1), S = min(10, width / (3 x the
// network's units there)), at least 1, so that each stratum holds at least
// 3x the network's units of the hook where it is that wide. Each network
// unit is replaced by a unit drawn uniformly without replacement from the
// non-network units of its own stratum; a stratum that runs out borrows
// from the nearest stratum that has units left (equal distance: a coin
// flip from the same stream).
// With the 3x rule and several strata, each stratum has at least twice the
// network's units of the hook outside the network; with one stratum (the
// whole hook) submission requires at least as many. So none runs out, and
// borrowing is for other strata settings (the tests').
// Same seeding and stream as the uniform draw; same sizes per hook; never a
// network unit. The variances come from the experiment that gives MEAN's
// means (worker/unit_moments.h).
//
// Thread-safe: pure functions.
#ifndef FNPROBE_SERVER_ANALYSIS_MASKING_SPEC_H_
#define FNPROBE_SERVER_ANALYSIS_MASKING_SPEC_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fnprobe/v1/experiment_spec.pb.h"
#include "fnprobe/v1/inference.pb.h"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/run_planner.h"

namespace fnprobe {

inline constexpr int kDefaultMaskingControls = 10;
inline constexpr int kMinMaskingControls = 5;
inline constexpr int kMaxMaskingControls = 100;
inline constexpr int kMaxMaskingNetworks = 16;
inline constexpr int kMaxMaskingEvaluations = 16;
inline constexpr int kMaxMaskingTextsPerSet = 1000;
inline constexpr int kMaxMaskingUnitsPerNetwork = 100000;
inline constexpr int kDefaultMaskingBatchTexts = 16;
inline constexpr int kMaxMaskingBatchTexts = 256;
inline constexpr float kMaxMaskingFactor = 1000;

// The problems of a spec with `masking` that the spec alone shows (no model,
// no store), each naming its field ("masking.networks[1].units[0]"). Called
// by FindSpecProblems for such specs.
std::vector<SpecProblem> FindMaskingSpecProblems(
    const v1::ExperimentSpec& spec);

// Defaults: controls 10, batch_texts 16, network names (condition,
// "component-K", "network-I"). REQUIRES: no problems.
v1::ExperimentSpec MaskingWithDefaults(v1::ExperimentSpec spec);

// "blocks.0.mlp_post[12]" -> hook and index. INVALID_ARGUMENT otherwise.
struct UnitRef {
  std::string hook;
  int64_t index = 0;
};
absl::StatusOr<UnitRef> ParseUnitRef(absl::string_view text);

// A set of units, by hook point name; each hook's units ascending and
// unique, no hook without units.
using UnitSelection = std::map<std::string, std::vector<int64_t>>;

int64_t SelectionSize(const UnitSelection& units);

struct MaskedNetwork {
  std::string name;
  UnitSelection units;
  std::vector<UnitSelection> controls;
  // MEAN or match_variance: the finished experiment whose stored
  // activations give each unit's mean and variance (worker/unit_moments.h);
  // 0 without either.
  int64_t mean_from = 0;
};

// One stored run of a masking experiment.
struct MaskingRun {
  // UNSPECIFIED: the unmasked run of the batch.
  v1::MaskingOperation::Kind operation = v1::MaskingOperation::UNSPECIFIED;
  int network = -1;  // index into MaskingPlan::networks; -1 when unmasked
  int evaluation = 0;
  int first_text = 0;
  int num_texts = 0;
  // Scored members: 1 (unmasked), else 1 + the network's controls (member
  // 0 the network, k >= 1 control k).
  int members = 1;
};

struct MaskingPlan {
  // The controls were drawn variance-matched (DrawVarianceMatchedControls)
  // rather than uniformly.
  bool matched_variance = false;
  std::vector<MaskedNetwork> networks;
  std::vector<MaskingRun> runs;
};

// Draws `count` control sets for `network` (see the header comment).
// `widths`: every hook point of the network and its width. REQUIRES: each
// hook has at least twice the network's units there (a control of the same
// size without a network unit).
std::vector<UnitSelection> DrawControls(
    const UnitSelection& network, const std::map<std::string, int64_t>& widths,
    int count, uint64_t seed, int network_index);

inline constexpr int kMaxVarianceStrata = 10;
inline constexpr int kMinVarianceStratumRatio = 3;

// The number of variance strata of a hook of `width` units holding
// `network_units` of the network: min(max_strata, width / (min_ratio x
// network_units)), at least 1 (min_ratio 0: max_strata, at most width).
int VarianceStrataCount(int64_t width, int64_t network_units, int max_strata,
                        int min_ratio);

// Draws `count` variance-matched control sets for `network` (see the header
// comment). `variances`: every hook point of the network, each unit's
// activation variance (the hook's width = its size). The strata settings
// are parameters so that tests can force a stratum to run out. REQUIRES:
// each hook has at least twice the network's units there.
std::vector<UnitSelection> DrawVarianceMatchedControls(
    const UnitSelection& network,
    const std::map<std::string, std::vector<double>>& variances, int count,
    uint64_t seed, int network_index, int max_strata = kMaxVarianceStrata,
    int min_stratum_ratio = kMinVarianceStratumRatio);

// The runs of `spec` (defaults applied) over networks that each have
// `controls` controls.
std::vector<MaskingRun> PlanMaskingRuns(const v1::ExperimentSpec& spec,
                                        int num_networks, int controls);

// The plan's runs as the store's RunPlans: condition "unmasked/EVAL" or
// "OPERATION/NETWORK/EVAL", repeat = the batch, the batch's texts as one
// task block; time points = texts x members (what the run scores, and what
// its progress counts).
std::vector<RunPlan> MaskingRunPlans(const v1::ExperimentSpec& spec,
                                     const MaskingPlan& plan);

std::string MaskingPlanToJson(const MaskingPlan& plan);
// DATA_LOSS for text MaskingPlanToJson did not write.
absl::StatusOr<MaskingPlan> MaskingPlanFromJson(absl::string_view json);

// The interventions of `units` under `operation` (MEAN: `means` gives each
// hook point's mean of every unit, by unit index; AMPLIFY: `factor`).
std::vector<v1::Intervention> MaskingInterventions(
    const UnitSelection& units, v1::MaskingOperation::Kind operation,
    float factor, const std::map<std::string, std::vector<float>>& means = {});

// The condition an evaluation set tests: its `condition`, else its name.
std::string EvaluationCondition(const v1::MaskingEvaluation& set);

// The condition a network belongs to, for the double dissociation: the
// stored condition it was found for, else its name (defaults applied:
// "component-K" or "network-I" unless the spec names it).
std::string NetworkCondition(const v1::MaskingNetwork& network, int index);

// "ZERO", "KEEP_ONLY", ...; "NONE" for UNSPECIFIED.
std::string OperationName(v1::MaskingOperation::Kind operation);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_MASKING_SPEC_H_
