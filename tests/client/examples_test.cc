// The example specs in client/examples (Nencka et al. 2023 as an fnprobe
// experiment) parse, validate and plan the way their README promises.
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/analysis/experiment_spec.h"
#include "server/analysis/masking_spec.h"
#include "server/analysis/run_planner.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::testing::ElementsAre;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

v1::ExperimentSpec Load(const std::string& file) {
  const std::string path = std::string(FNPROBE_EXAMPLES_DIR) + "/" + file;
  absl::StatusOr<v1::ExperimentSpec> spec = ParseSpecJson(ReadFile(path), path);
  EXPECT_OK(spec);
  if (!spec.ok()) return {};
  EXPECT_OK(ValidateSpec(*spec));
  return WithDefaults(*spec);
}

std::vector<std::string> Names(const v1::ExperimentSpec& spec) {
  std::vector<std::string> names;
  for (const v1::PromptPool& pool : spec.conditions()) {
    names.push_back(pool.name());
  }
  return names;
}

int Distinct(const v1::PromptPool& pool) {
  return static_cast<int>(
      std::set<std::string>(pool.prompts().begin(), pool.prompts().end())
          .size());
}

// Checks shared by both files.
void CheckPools(const v1::ExperimentSpec& spec) {
  EXPECT_THAT(Names(spec), ElementsAre("political_science", "medical_imaging",
                                       "paleontology", "archeology",
                                       "pathology", "random_strings"));
  EXPECT_EQ(spec.baseline().name(), "rest");
  EXPECT_GE(Distinct(spec.baseline()), 120);
  EXPECT_EQ(Distinct(spec.baseline()), spec.baseline().prompts_size());
  for (const v1::PromptPool& pool : spec.conditions()) {
    EXPECT_GE(Distinct(pool), 40) << pool.name();
    EXPECT_EQ(Distinct(pool), pool.prompts_size()) << pool.name();
  }
  // No prompt belongs to two pools; all plain ASCII and short.
  std::set<std::string> all;
  int total = 0;
  auto add = [&](const v1::PromptPool& pool) {
    for (const std::string& p : pool.prompts()) {
      all.insert(p);
      ++total;
      EXPECT_LT(p.size(), 200u) << pool.name() << ": " << p;
      for (unsigned char c : p) {
        EXPECT_TRUE(c >= 0x20 && c < 0x7f) << pool.name() << ": " << p;
      }
    }
  };
  add(spec.baseline());
  for (const v1::PromptPool& pool : spec.conditions()) add(pool);
  EXPECT_EQ(static_cast<int>(all.size()), total)
      << "a prompt is shared between pools";
}

// Checks of the planned runs: one per condition x repeat, off/on/off,
// task prompts never reused across a condition's repeats, baseline prompts
// never reused within a run.
void CheckPlan(const v1::ExperimentSpec& spec) {
  const std::vector<RunPlan> runs = PlanRuns(spec);
  ASSERT_EQ(runs.size(), 18u);
  const int ppb = spec.design().prompts_per_block();
  std::vector<std::set<std::string>> task_seen(spec.conditions_size());
  std::vector<int> task_count(spec.conditions_size(), 0);
  std::set<std::pair<int, int>> condition_repeat;
  for (const RunPlan& run : runs) {
    condition_repeat.insert({run.condition, run.repeat});
    EXPECT_EQ(run.condition_name, spec.conditions(run.condition).name());
    ASSERT_EQ(run.blocks.size(), 3u);
    EXPECT_FALSE(run.blocks[0].task);
    EXPECT_TRUE(run.blocks[1].task);
    EXPECT_FALSE(run.blocks[2].task);
    EXPECT_EQ(static_cast<int>(run.prompts.size()), 3 * ppb);
    EXPECT_EQ(run.time_points,
              int64_t{3} * ppb * spec.generation().tokens_per_prompt());
    const std::set<std::string> pool(
        spec.conditions(run.condition).prompts().begin(),
        spec.conditions(run.condition).prompts().end());
    const std::set<std::string> base(spec.baseline().prompts().begin(),
                                     spec.baseline().prompts().end());
    std::set<std::string> run_baseline;
    for (const RunBlock& b : run.blocks) {
      EXPECT_EQ(b.num_prompts, ppb);
      for (int i = b.first_prompt; i < b.first_prompt + b.num_prompts; ++i) {
        const std::string& p = run.prompts[i];
        if (b.task) {
          EXPECT_TRUE(pool.count(p) > 0) << run.condition_name << ": " << p;
          EXPECT_TRUE(task_seen[run.condition].insert(p).second)
              << run.condition_name << " reuses task prompt: " << p;
          ++task_count[run.condition];
        } else {
          EXPECT_TRUE(base.count(p) > 0) << p;
          EXPECT_TRUE(run_baseline.insert(p).second)
              << "run " << run.index << " reuses baseline prompt: " << p;
        }
      }
    }
    EXPECT_EQ(run.events.size(), 3u);
  }
  EXPECT_EQ(condition_repeat.size(), 18u);
  for (int c = 0; c < spec.conditions_size(); ++c) {
    EXPECT_EQ(task_count[c], ppb * spec.design().repeats());
  }
}

TEST(ExamplesTest, PaperSpec) {
  const v1::ExperimentSpec spec = Load("nencka2023.json");
  EXPECT_EQ(spec.name(), "nencka2023-galactica-topics");
  EXPECT_EQ(spec.model(), "galactica-125m");
  EXPECT_EQ(spec.generation().tokens_per_prompt(), 24);
  EXPECT_EQ(spec.generation().temperature(), 0);
  EXPECT_EQ(spec.generation().seed(), 7u);
  EXPECT_THAT(spec.capture().hooks(), ElementsAre("standard"));
  EXPECT_EQ(spec.capture().dtype(), v1::CaptureDType::F16);
  EXPECT_THAT(spec.design().pattern(),
              ElementsAre("baseline", "task", "baseline"));
  EXPECT_EQ(spec.design().prompts_per_block(), 10);
  EXPECT_EQ(spec.design().repeats(), 3);
  EXPECT_EQ(spec.analysis().hrf(), v1::HrfModel::NONE);
  EXPECT_EQ(spec.analysis().drift(), v1::DriftModel::COSINE);
  EXPECT_EQ(spec.analysis().noise(), v1::NoiseModel::OLS);
  EXPECT_EQ(spec.analysis().threshold().method(), v1::ThresholdSpec::FDR);
  EXPECT_DOUBLE_EQ(spec.analysis().threshold().alpha(), 0.05);
  EXPECT_TRUE(spec.analysis().classify());
  CheckPools(spec);
  CheckPlan(spec);
}

TEST(ExamplesTest, SmallSpec) {
  const v1::ExperimentSpec spec = Load("nencka2023-small.json");
  EXPECT_EQ(spec.model(), "demo");
  EXPECT_EQ(spec.generation().tokens_per_prompt(), 8);
  EXPECT_EQ(spec.design().prompts_per_block(), 3);
  EXPECT_EQ(spec.design().repeats(), 3);
  EXPECT_EQ(spec.analysis().threshold().method(), v1::ThresholdSpec::FDR);
  EXPECT_TRUE(spec.analysis().classify());
  CheckPools(spec);
  CheckPlan(spec);
}

// The small file carries the paper file's pools unchanged.
TEST(ExamplesTest, SmallSpecHasThePaperPools) {
  const v1::ExperimentSpec paper = Load("nencka2023.json");
  const v1::ExperimentSpec small = Load("nencka2023-small.json");
  ASSERT_EQ(paper.conditions_size(), small.conditions_size());
  EXPECT_THAT(small.baseline().prompts(),
              ::testing::ElementsAreArray(paper.baseline().prompts()));
  for (int c = 0; c < paper.conditions_size(); ++c) {
    EXPECT_EQ(small.conditions(c).name(), paper.conditions(c).name());
    EXPECT_THAT(small.conditions(c).prompts(),
                ::testing::ElementsAreArray(paper.conditions(c).prompts()));
  }
}

// The demo's spec (`fnprobe demo`) against its PLANT.json: its conditions
// are the planted ones, every task prompt holds words of its own condition
// only, and no baseline prompt holds a planted word, so that the planted
// units are the whole truth of the experiment.
TEST(ExamplesTest, PlantedDemoSpecMatchesItsPlantedWords) {
  const v1::ExperimentSpec spec = Load("planted-demo.json");
  const nlohmann::json plant = nlohmann::json::parse(
      ReadFile(std::string(FNPROBE_EXAMPLES_DIR) + "/planted-demo.plant.json"));
  EXPECT_EQ(spec.model(), "demo");
  EXPECT_TRUE(spec.analysis().classify());
  ASSERT_EQ(spec.conditions_size(),
            static_cast<int>(plant["conditions"].size()));
  auto words_of = [&](const nlohmann::json& c) {
    std::set<std::string> words;
    for (const auto& w : c["words"]) words.insert(w.get<std::string>());
    return words;
  };
  auto planted_in = [](const std::string& prompt,
                       const std::set<std::string>& words) {
    int n = 0;
    for (absl::string_view w : absl::StrSplit(prompt, ' ')) {
      n += words.count(std::string(w));
    }
    return n;
  };
  std::set<std::string> all_words;
  for (const auto& c : plant["conditions"]) {
    const std::set<std::string> w = words_of(c);
    all_words.insert(w.begin(), w.end());
  }
  for (int i = 0; i < spec.conditions_size(); ++i) {
    const nlohmann::json& c = plant["conditions"][i];
    EXPECT_EQ(spec.conditions(i).name(), c["name"].get<std::string>());
    const std::set<std::string> own = words_of(c);
    for (const std::string& p : spec.conditions(i).prompts()) {
      EXPECT_GT(planted_in(p, own), 0) << p;
      EXPECT_EQ(planted_in(p, own), planted_in(p, all_words)) << p;
    }
  }
  for (const std::string& p : spec.baseline().prompts()) {
    EXPECT_EQ(planted_in(p, all_words), 0) << p;
  }
  EXPECT_EQ(
      PlanRuns(spec).size(),
      static_cast<size_t>(spec.conditions_size() * spec.design().repeats()));
}

// The masking example: valid, with the interface's names, masking the
// demo's planted networks (experiment 1 of a fresh worker is the demo's).
TEST(ExamplesTest, MaskingDemoIsValid) {
  const v1::ExperimentSpec spec = Load("masking-demo.json");
  ASSERT_TRUE(spec.has_masking());
  EXPECT_EQ(spec.model(), "demo");
  EXPECT_EQ(spec.masking().networks(0).name(), "alpha");
  EXPECT_EQ(spec.masking().controls(), 10);
  EXPECT_EQ(spec.masking().evaluation_size(), 3);
}

// The double-dissociation example: alpha's and beta's networks, each
// condition's texts split into two sets that name it.
TEST(ExamplesTest, MaskingDissociationIsValid) {
  const v1::ExperimentSpec spec = Load("masking-dissociation.json");
  ASSERT_TRUE(spec.has_masking());
  ASSERT_EQ(spec.masking().networks_size(), 2);
  EXPECT_EQ(NetworkCondition(spec.masking().networks(1), 1), "beta");
  ASSERT_EQ(spec.masking().evaluation_size(), 4);
  EXPECT_EQ(spec.masking().evaluation(1).name(), "alpha-long");
  EXPECT_EQ(EvaluationCondition(spec.masking().evaluation(1)), "alpha");
  EXPECT_EQ(EvaluationCondition(spec.masking().evaluation(3)), "beta");
}

// The variance-matched example: the demo's networks against controls of
// their units' variance (from experiment 1, the networks' own).
TEST(ExamplesTest, MaskingMatchedIsValid) {
  const v1::ExperimentSpec spec = Load("masking-matched.json");
  ASSERT_TRUE(spec.has_masking());
  EXPECT_TRUE(spec.masking().match_variance());
  EXPECT_EQ(spec.masking().mean_from(), 0);
  EXPECT_EQ(spec.masking().networks(0).experiment(), 1);
  EXPECT_EQ(spec.masking().evaluation_size(), 2);
}

// The ICA example: a network by component, group and hook.
TEST(ExamplesTest, MaskingIcaIsValid) {
  const v1::ExperimentSpec spec = Load("masking-ica.json");
  ASSERT_TRUE(spec.has_masking());
  const v1::MaskingNetwork& n = spec.masking().networks(0);
  EXPECT_TRUE(n.has_component());
  EXPECT_EQ(n.component(), 3);
  EXPECT_TRUE(n.has_group());
  EXPECT_EQ(n.group(), 0);
}

}  // namespace
}  // namespace fnprobe
