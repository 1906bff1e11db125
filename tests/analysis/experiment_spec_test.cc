#include "server/analysis/experiment_spec.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/analysis/run_planner.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;

// The shape of DESIGN.md's example spec, with enough prompts.
std::string PaperJson(int task_prompts = 40, int baseline_prompts = 120) {
  auto pool = [](const std::string& stem, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) {
      out += (i ? ", " : "") + std::string("\"") + stem + " " +
             std::to_string(i) + "\"";
    }
    return out;
  };
  return R"({
    "name": "galactica-topics", "model": "galactica-125m",
    "generation": {"tokensPerPrompt": 24, "temperature": 0, "seed": 7},
    "capture": {"hooks": ["standard"], "dtype": "F16"},
    "baseline": {"name": "rest", "prompts": [)" +
         pool("Tell me about sailing", baseline_prompts) + R"(]},
    "conditions": [
      {"name": "political_science", "prompts": [)" +
         pool("Explain the separation of powers", task_prompts) + R"(]},
      {"name": "pathology", "prompts": [)" +
         pool("Describe a biopsy", task_prompts) + R"(]}
    ],
    "design": {"pattern": ["baseline", "task", "baseline"],
               "promptsPerBlock": 10, "repeats": 3},
    "analysis": {"hrf": "NONE", "drift": "COSINE", "noise": "OLS",
                 "threshold": {"method": "FDR", "alpha": 0.05},
                 "classify": true}
  })";
}

v1::ExperimentSpec Paper() {
  auto spec = ParseSpecJson(PaperJson(), "spec.json");
  EXPECT_OK(spec);
  return WithDefaults(*spec);
}

TEST(ExperimentSpecTest, DesignExampleIsValid) {
  v1::ExperimentSpec spec = Paper();
  EXPECT_OK(ValidateSpec(spec));
  EXPECT_EQ(spec.conditions_size(), 2);
  EXPECT_EQ(spec.capture().dtype(), v1::CaptureDType::F16);
  EXPECT_EQ(spec.analysis().threshold().method(), v1::ThresholdSpec::FDR);
  // Twice a run: 3 blocks x promptsPerBlock x tokensPerPrompt at 1 token/s.
  EXPECT_DOUBLE_EQ(spec.analysis().drift_cutoff_s(),
                   2.0 * 3 * spec.design().prompts_per_block() *
                       spec.generation().tokens_per_prompt());
  v1::ExperimentSpec small = spec;
  small.mutable_analysis()->set_drift_cutoff_s(0);
  small.mutable_design()->set_prompts_per_block(1);
  small.mutable_generation()->set_tokens_per_prompt(4);
  EXPECT_DOUBLE_EQ(WithDefaults(small).analysis().drift_cutoff_s(), 128);
}

TEST(ExperimentSpecTest, ParseErrorsNameTheSource) {
  EXPECT_THAT(
      ParseSpecJson(R"({"nmae": "x"})", "my.json"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("my.json")));
  EXPECT_THAT(ParseSpecJson(R"({"design": {"repeats": "three"}})", "my.json"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// Every problem is reported at once, each naming its field.
TEST(ExperimentSpecTest, ReportsEveryProblemWithItsField) {
  v1::ExperimentSpec spec = Paper();
  spec.set_name("bad name!");
  spec.mutable_generation()->set_tokens_per_prompt(0);
  spec.mutable_conditions(1)->set_name("political_science");
  spec.mutable_conditions(0)->mutable_prompts()->RemoveLast();
  spec.mutable_conditions(0)->set_prompts(3, "");
  spec.mutable_design()->set_pattern(1, "rest");
  spec.mutable_analysis()->mutable_threshold()->set_alpha(1.5);
  std::vector<std::string> fields;
  for (const SpecProblem& p : FindSpecProblems(spec)) fields.push_back(p.field);
  EXPECT_THAT(fields,
              ::testing::IsSupersetOf(
                  {"name", "generation.tokensPerPrompt", "conditions[1].name",
                   "conditions[0].prompts[3]", "design.pattern[1]",
                   "design.pattern", "analysis.threshold.alpha"}));
  absl::Status status = ValidateSpec(spec);
  EXPECT_THAT(status,
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("conditions[1].name: 'political_science' "
                                 "is used by another condition")));
}

TEST(ExperimentSpecTest, TooFewPromptsSaysHowManyAreNeeded) {
  auto spec = ParseSpecJson(PaperJson(29, 19), "spec.json");
  ASSERT_OK(spec);
  EXPECT_THAT(ValidateSpec(*spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(
                           HasSubstr("conditions[0].prompts: has 29 prompts; 1 "
                                     "task block(s) x 10 prompts x 3 repeats "
                                     "need 30"),
                           HasSubstr("baseline.prompts: has 19 prompts"))));
}

// One run per condition x repeat, off/on/off, 30 prompts x 24 tokens.
std::vector<std::string> ProblemsOf(const v1::ExperimentSpec& spec) {
  std::vector<std::string> out;
  for (const SpecProblem& p : FindSpecProblems(spec)) {
    out.push_back(p.field + ": " + p.problem);
  }
  return out;
}

TEST(ExperimentSpecTest, ControlCharactersInPromptsAreRefusedNamingTheField) {
  v1::ExperimentSpec spec = Paper();
  spec.mutable_conditions(0)->set_prompts(2, std::string("Explain\0 it", 11));
  spec.mutable_conditions(1)->set_prompts(0, "Describe\r a biopsy");
  spec.mutable_conditions(1)->set_prompts(1, "Describe \x1b[2J a biopsy");
  spec.mutable_conditions(1)->set_prompts(2, "Describe \xC2\x85 a biopsy");
  spec.mutable_baseline()->set_prompts(0, "Tell me\xff about sailing");
  // Newlines and tabs are text.
  spec.mutable_conditions(1)->set_prompts(3, "Describe\n\ta biopsy");
  EXPECT_THAT(
      ProblemsOf(spec),
      ::testing::UnorderedElementsAre(
          HasSubstr("baseline.prompts[0]: is not valid UTF-8 (byte 7)"),
          "conditions[0].prompts[2]: contains the control character U+0000 "
          "(byte 7); only newline and tab are allowed",
          HasSubstr("conditions[1].prompts[0]: contains the control "
                    "character U+000D"),
          HasSubstr("conditions[1].prompts[1]: contains the control "
                    "character U+001B"),
          HasSubstr("conditions[1].prompts[2]: contains the control "
                    "character U+0085")));
  EXPECT_THAT(ValidateSpec(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("conditions[0].prompts[2]: contains the "
                                 "control character U+0000")));
}

TEST(ExperimentSpecTest, NamesInAnyScriptAreAccepted) {
  v1::ExperimentSpec spec = Paper();
  spec.mutable_conditions(0)->set_name("патология");
  spec.mutable_conditions(1)->set_name("病理学_2");
  spec.mutable_baseline()->set_name("علم-الأمراض");
  spec.set_name("Ελληνικά.v1");
  EXPECT_OK(ValidateSpec(spec));
  spec.mutable_conditions(0)->set_name(std::string(128, 'a'));
  std::string cyrillic;
  for (int i = 0; i < 128; ++i) cyrillic += "ж";  // 256 bytes
  spec.mutable_conditions(1)->set_name(cyrillic);
  EXPECT_OK(ValidateSpec(spec));
  spec.mutable_conditions(1)->set_name(cyrillic + "ж");
  EXPECT_THAT(ProblemsOf(spec),
              ::testing::ElementsAre(
                  "conditions[1].name: is longer than 128 characters"));
}

TEST(ExperimentSpecTest, ControlBidiAndInvisibleCharactersInNamesAreRefused) {
  struct Case {
    std::string name;
    std::string problem;
  };
  const Case cases[] = {
      {"path\x01ology", "contains the control character U+0001 (byte 4)"},
      {"path\nology", "contains the control character U+000A (byte 4)"},
      {"alpha\xE2\x80\xAE"
       "ygolohtap",
       "contains the bidirectional control U+202E (byte 5)"},
      {"\xE2\x81\xA6pathology\xE2\x81\xA9",
       "contains the bidirectional control U+2066 (byte 0)"},
      {"патология\xE2\x80\xAA", "contains the bidirectional control U+202A"},
      {"path\xE2\x80\x8Bology",
       "contains the invisible or space character "
       "U+200B (byte 4)"},
      {"path\xC2\xA0ology", "contains the invisible or space character U+00A0"},
      {"path\xC0\xAFology", "is not valid UTF-8 (byte 4)"},
      {"path ology", "'path ology' may use only letters, digits"},
  };
  for (const Case& c : cases) {
    v1::ExperimentSpec spec = Paper();
    spec.mutable_conditions(1)->set_name(c.name);
    const std::vector<std::string> problems = ProblemsOf(spec);
    ASSERT_EQ(problems.size(), 1u) << c.problem;
    EXPECT_THAT(problems[0], HasSubstr("conditions[1].name: " + c.problem));
    // A refused name with a control is not echoed back.
    if (c.problem.find("may use") == std::string::npos) {
      EXPECT_THAT(problems[0], ::testing::Not(HasSubstr("ology")));
    }
  }
}

// 5,000 conditions: one problem naming the limit, found without looking at
// any pool, in a message that fits gRPC's metadata.
TEST(ExperimentSpecTest, SizeLimitsAreCheckedFirst) {
  v1::ExperimentSpec spec = Paper();
  const v1::PromptPool pool = spec.conditions(0);
  for (int c = 0; c < 5000; ++c) {
    v1::PromptPool* added = spec.add_conditions();
    added->add_prompts(pool.prompts(0));
    added->set_name("");  // would be a problem of its own
  }
  EXPECT_THAT(ProblemsOf(spec),
              ::testing::ElementsAre(
                  "conditions: 5002 conditions exceed the limit of 64"));
  const absl::Status status = ValidateSpec(spec);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               HasSubstr("exceed the limit of 64")));
  EXPECT_LT(status.message().size(), 200u);

  v1::ExperimentSpec big = Paper();
  for (int i = 0; i < kMaxPromptsPerPool + 1; ++i) {
    big.mutable_baseline()->add_prompts(std::string(900, 'x'));
  }
  EXPECT_THAT(ProblemsOf(big),
              ::testing::UnorderedElementsAre(
                  HasSubstr("the spec is "),
                  "baseline.prompts: 10121 prompts exceed the limit of 10000"));
}

TEST(ExperimentSpecTest, LongProblemListsAreCut) {
  v1::ExperimentSpec spec = Paper();
  for (int i = 0; i < 40; ++i) {
    spec.mutable_conditions(0)->set_prompts(i, absl::StrCat("a\x01", i));
    spec.mutable_conditions(1)->set_prompts(i, absl::StrCat("b\x01", i));
  }
  const absl::Status status = ValidateSpec(spec);
  EXPECT_THAT(status.message(), HasSubstr("(80 problem(s))"));
  EXPECT_THAT(status.message(), HasSubstr("\n... and "));
  EXPECT_THAT(status.message(), HasSubstr("conditions[0].prompts[0]: "));
  EXPECT_LT(status.message().size(), 4096u);
}

TEST(RunPlannerTest, PlansEveryConditionAndRepeat) {
  v1::ExperimentSpec spec = Paper();
  std::vector<RunPlan> runs = PlanRuns(spec);
  ASSERT_EQ(runs.size(), 6u);
  EXPECT_EQ(runs[0].condition_name, "political_science");
  EXPECT_EQ(runs[1].condition_name, "pathology");
  EXPECT_EQ(runs[2].repeat, 1);
  for (const RunPlan& run : runs) {
    EXPECT_EQ(run.prompts.size(), 30u);
    EXPECT_EQ(run.time_points, 720);
    ASSERT_EQ(run.events.size(), 3u);
    EXPECT_EQ(run.events[1].trial_type, run.condition_name);
    EXPECT_DOUBLE_EQ(run.events[1].onset, 240);
    EXPECT_DOUBLE_EQ(run.events[1].duration, 240);
    EXPECT_EQ(TrialTypeAt(spec, run, 239), "rest");
    EXPECT_EQ(TrialTypeAt(spec, run, 240), run.condition_name);
    EXPECT_EQ(TrialTypeAt(spec, run, 480), "rest");
    // Baseline blocks hold distinct baseline prompts.
    std::set<std::string> base(run.prompts.begin(), run.prompts.begin() + 10);
    base.insert(run.prompts.begin() + 20, run.prompts.end());
    EXPECT_EQ(base.size(), 20u);
  }
  EXPECT_EQ(EventsTsv(runs[0]),
            "onset\tduration\ttrial_type\n0\t240\trest\n240\t240\t"
            "political_science\n480\t240\trest\n");
}

// A condition's repeats never share a task prompt; plans are a function of
// the seed.
TEST(RunPlannerTest, TaskPromptsWithoutReplacementAcrossRepeatsAndSeeded) {
  v1::ExperimentSpec spec = Paper();
  std::vector<RunPlan> runs = PlanRuns(spec);
  std::set<std::string> task;
  for (const RunPlan& run : runs) {
    if (run.condition != 0) continue;
    task.insert(run.prompts.begin() + 10, run.prompts.begin() + 20);
  }
  EXPECT_EQ(task.size(), 30u);
  EXPECT_EQ(PlanRuns(spec)[3].prompts, runs[3].prompts);
  v1::ExperimentSpec other = spec;
  other.mutable_generation()->set_seed(8);
  EXPECT_NE(PlanRuns(other)[3].prompts, runs[3].prompts);
}

}  // namespace
}  // namespace fnprobe
