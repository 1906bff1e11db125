// Plans an experiment's runs: one run per condition x repeat, each laid out
// as the spec's block pattern (e.g. baseline, task, baseline), with prompts
// drawn without replacement using the spec's seed:
//   - a condition's task prompts are drawn without replacement across its
//     repeats, so a held-out run never reuses a prompt of the runs that
//     define the network it is scored against;
//   - baseline prompts are drawn without replacement across repeats: the
//     pool is shuffled once and repeat r takes its own share, which every
//     condition's repeat-r run presents in an order of its own. A held-out
//     repeat therefore shares no prompt with the runs whose networks it is
//     scored against, and within a condition no prompt is counted twice.
// Every prompt yields tokens_per_prompt time points, so each time point's
// place in the design is known before generation starts (streaming GLM).
//
// Pure functions of the spec: the same spec plans the same runs on every
// machine. The worker plans an experiment once, at submission, and stores
// the plan (ExperimentStore); every later step reads it back.
#ifndef FNPROBE_SERVER_ANALYSIS_RUN_PLANNER_H_
#define FNPROBE_SERVER_ANALYSIS_RUN_PLANNER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "fnprobe/v1/experiment_spec.pb.h"

namespace fnprobe {

// One BIDS event (events.tsv row): times in seconds.
struct BidsEvent {
  double onset = 0;
  double duration = 0;
  std::string trial_type;
};

struct RunBlock {
  bool task = false;
  int first_prompt = 0;  // index into RunPlan::prompts
  int num_prompts = 0;
};

// The condition name stored for a text group's run (condition -1).
inline constexpr char kTextGroupCondition[] = "texts";

struct RunPlan {
  int index = 0;  // run number within the experiment
  // Index into spec.conditions; -1 for a text corpus's group, whose
  // condition_name is kTextGroupCondition and repeat the group's index.
  int condition = 0;
  std::string condition_name;
  int repeat = 0;
  std::vector<std::string> prompts;  // in presentation order
  std::vector<RunBlock> blocks;
  std::vector<BidsEvent> events;  // one per block; none for a text group
  // Block design: prompts x tokens_per_prompt. Text group: texts x
  // maxTokens until the run has tokenized its texts, then their token
  // count (the stored run's time points).
  int64_t time_points = 0;
};

inline bool IsTextGroup(const RunPlan& plan) { return plan.condition < 0; }

// The planner's version, stored with every experiment (plan_version). Bump
// it whenever PlanRuns would plan a stored spec differently. 1: baseline
// prompts drawn per run; 2: without replacement across repeats.
inline constexpr int kPlanVersion = 2;

// The run's BIDS events, one per block, timed by the spec's tokens per
// prompt and analysis.tokens_per_second (PlanRuns fills RunPlan::events
// so; a re-analysis that changes the timing recomputes them from the
// stored blocks).
std::vector<BidsEvent> BlockEvents(const v1::ExperimentSpec& spec,
                                   const RunPlan& run);

// Baseline prompts one run presents: baseline blocks x prompts per block.
int BaselinePromptsPerRun(const v1::BlockDesign& design);

// REQUIRES: ValidateSpec(spec).ok() (so the baseline pool holds repeats x
// BaselinePromptsPerRun prompts); defaults applied (WithDefaults).
// Runs ordered by repeat, then condition, so that an interrupted experiment
// has every condition's first repeat before any second. A text corpus
// (spec.texts) plans one run per group instead: text i of a group comes
// from pool i mod P, drawn without replacement within the group (groups
// draw independently), the group's texts presented in a shuffled order, one
// block (task false) per text.
std::vector<RunPlan> PlanRuns(const v1::ExperimentSpec& spec);

// The run's events as BIDS events.tsv text (header, tab-separated, "\n").
std::string EventsTsv(const RunPlan& run);

// Condition (trial_type) of time point `t` of a run: the condition name in
// a task block, the baseline name otherwise.
const std::string& TrialTypeAt(const v1::ExperimentSpec& spec,
                               const RunPlan& run, int64_t t);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_RUN_PLANNER_H_
