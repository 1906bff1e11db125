#include "server/analysis/run_planner.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_format.h"
#include "common/portable_hash.h"

namespace fnprobe {
namespace {

// SplitMix64: a small, portable, seedable generator (std distributions are
// implementation-defined, which would make plans differ across toolchains).
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() { return SplitMix64(state_); }
  // Uniform in [0, n), n > 0 (Lemire's multiply-shift; bias < 2^-32).
  size_t Below(size_t n) {
    return static_cast<size_t>((static_cast<unsigned __int128>(Next()) * n) >>
                               64);
  }

 private:
  uint64_t state_;
};

uint64_t HashName(const std::string& s) { return Fnv1a64(s); }

// A seeded Fisher-Yates permutation of 0..n-1.
std::vector<int> Shuffled(int n, uint64_t seed) {
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  for (int i = n - 1; i > 0; --i) {
    std::swap(order[i], order[rng.Below(static_cast<size_t>(i) + 1)]);
  }
  return order;
}

// The baseline prompts of one run: repeat `repeat`'s share of the pool
// (disjoint from every other repeat's), in an order of the run's own.
std::vector<int> BaselineOrder(const v1::ExperimentSpec& spec,
                               const std::vector<int>& pool_order, int repeat,
                               int index) {
  const int per_run = BaselinePromptsPerRun(spec.design());
  std::vector<int> share(pool_order.begin() + repeat * per_run,
                         pool_order.begin() + (repeat + 1) * per_run);
  const std::vector<int> order =
      Shuffled(per_run, spec.generation().seed() ^ HashName("baseline") ^
                            (uint64_t(index) << 32));
  std::vector<int> out;
  for (int i : order) out.push_back(share[i]);
  return out;
}

RunPlan PlanOne(const v1::ExperimentSpec& spec, int condition, int repeat,
                const std::vector<int>& task_order,
                const std::vector<int>& base_order, int index) {
  const v1::BlockDesign& d = spec.design();
  const v1::PromptPool& pool = spec.conditions(condition);
  const int ppb = d.prompts_per_block();
  int task_blocks = 0;
  for (const std::string& b : d.pattern()) task_blocks += b == "task";
  int next_task = repeat * task_blocks * ppb, next_base = 0;

  RunPlan run;
  run.index = index;
  run.condition = condition;
  run.condition_name = pool.name();
  run.repeat = repeat;
  for (const std::string& kind : d.pattern()) {
    RunBlock block{kind == "task", static_cast<int>(run.prompts.size()), ppb};
    for (int i = 0; i < ppb; ++i) {
      run.prompts.push_back(
          block.task ? pool.prompts(task_order[next_task++])
                     : spec.baseline().prompts(base_order[next_base++]));
    }
    run.blocks.push_back(block);
  }
  run.events = BlockEvents(spec, run);
  run.time_points = static_cast<int64_t>(run.prompts.size()) *
                    spec.generation().tokens_per_prompt();
  return run;
}

std::vector<RunPlan> PlanTextGroups(const v1::ExperimentSpec& spec) {
  const v1::TextCorpus& t = spec.texts();
  const int pools = t.pools_size();
  std::vector<RunPlan> runs;
  for (int g = 0; g < t.groups(); ++g) {
    const uint64_t group_seed =
        spec.generation().seed() ^ HashName("texts") ^ (uint64_t(g) << 32);
    std::vector<std::vector<int>> orders;
    for (int p = 0; p < pools; ++p) {
      orders.push_back(Shuffled(t.pools(p).prompts_size(),
                                group_seed ^ HashName(t.pools(p).name())));
    }
    std::vector<std::string> drawn;
    for (int i = 0; i < t.texts_per_group(); ++i) {
      const int p = i % pools;
      drawn.push_back(t.pools(p).prompts(orders[p][i / pools]));
    }
    RunPlan run;
    run.index = g;
    run.condition = -1;
    run.condition_name = kTextGroupCondition;
    run.repeat = g;
    for (int i : Shuffled(t.texts_per_group(), group_seed)) {
      run.blocks.push_back({false, static_cast<int>(run.prompts.size()), 1});
      run.prompts.push_back(drawn[i]);
    }
    run.time_points = int64_t{t.texts_per_group()} * t.max_tokens();
    runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace

std::vector<BidsEvent> BlockEvents(const v1::ExperimentSpec& spec,
                                   const RunPlan& run) {
  if (IsTextGroup(run)) return {};
  const double seconds_per_prompt = spec.generation().tokens_per_prompt() /
                                    spec.analysis().tokens_per_second();
  std::vector<BidsEvent> events;
  events.reserve(run.blocks.size());
  for (const RunBlock& block : run.blocks) {
    events.push_back(
        {block.first_prompt * seconds_per_prompt,
         block.num_prompts * seconds_per_prompt,
         block.task ? run.condition_name : spec.baseline().name()});
  }
  return events;
}

int BaselinePromptsPerRun(const v1::BlockDesign& design) {
  int blocks = 0;
  for (const std::string& b : design.pattern()) blocks += b == "baseline";
  return blocks * design.prompts_per_block();
}

std::vector<RunPlan> PlanRuns(const v1::ExperimentSpec& spec) {
  if (spec.has_texts()) return PlanTextGroups(spec);
  const std::vector<int> baseline_order =
      Shuffled(spec.baseline().prompts_size(),
               spec.generation().seed() ^ HashName("baseline"));
  std::vector<std::vector<int>> task_orders;
  for (const v1::PromptPool& pool : spec.conditions()) {
    task_orders.push_back(Shuffled(
        pool.prompts_size(), spec.generation().seed() ^ HashName(pool.name())));
  }
  std::vector<RunPlan> runs;
  for (int repeat = 0; repeat < spec.design().repeats(); ++repeat) {
    for (int c = 0; c < spec.conditions_size(); ++c) {
      const int index = static_cast<int>(runs.size());
      runs.push_back(PlanOne(spec, c, repeat, task_orders[c],
                             BaselineOrder(spec, baseline_order, repeat, index),
                             index));
    }
  }
  return runs;
}

std::string EventsTsv(const RunPlan& run) {
  std::string out = "onset\tduration\ttrial_type\n";
  for (const BidsEvent& e : run.events) {
    out +=
        absl::StrFormat("%.6g\t%.6g\t%s\n", e.onset, e.duration, e.trial_type);
  }
  return out;
}

const std::string& TrialTypeAt(const v1::ExperimentSpec& spec,
                               const RunPlan& run, int64_t t) {
  const int64_t prompt = t / spec.generation().tokens_per_prompt();
  for (const RunBlock& b : run.blocks) {
    if (prompt >= b.first_prompt && prompt < b.first_prompt + b.num_prompts) {
      return b.task ? spec.conditions(run.condition).name()
                    : spec.baseline().name();
    }
  }
  return spec.baseline().name();
}

}  // namespace fnprobe
