// Interventions applied by the engine: zero, set, scale, add and keep-only
// on units of a hook point, confined to the item that asked for them.
#include <memory>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference/model/engine.h"
#include "server/inference/model/hook_points.h"
#include "server/inference/model/model.h"
#include "server/inference/model/torch_engine.h"
#include "tests/support/reference_data.h"
#include "tests/support/reference_tensors.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::MaxAbsDiff;
using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;
using Op = UnitIntervention::Op;

constexpr char kHook[] = "blocks.0.mlp_post";

class InterventionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ModelOptions options;
    options.device = "cpu";
    auto model = Model::Load(testing::ReferencePath("models/gpt2"), options);
    ASSERT_OK(model);
    model_ = *model;
    engine_ = NewTorchEngine(model_);
    layout_ = *SelectLayout(model_->config(),
                            {kHook, "blocks.0.mlp_out", "final_norm"});
    prompt_a_ = {39, 695, 78, 11, 995, 0};
    prompt_b_ = {464, 995, 318};
  }

  // Prefills prompts (each with its interventions) in one step and returns
  // per prompt the captured [T, width] values followed by its logits.
  std::vector<std::vector<float>> Run(
      const std::vector<std::vector<UnitIntervention>>& per_prompt) {
    std::vector<std::vector<int64_t>> prompts = {prompt_a_, prompt_b_};
    StepRequest request;
    request.capture = layout_;
    for (size_t k = 0; k < prompts.size(); ++k) {
      StepItem item;
      item.sequence = engine_->StartSequence();
      item.tokens = prompts[k];
      item.all_positions = true;
      item.interventions =
          std::make_shared<std::vector<UnitIntervention>>(per_prompt[k]);
      request.items.push_back(item);
    }
    StepResult result;
    absl::Status status = engine_->Step(request, &result);
    EXPECT_OK(status);
    std::vector<std::vector<float>> out;
    if (!status.ok()) return {{}, {}};
    const int64_t width = layout_.width(), vocab = model_->config().vocab_size;
    for (size_t k = 0; k < prompts.size(); ++k) {
      const int64_t t = static_cast<int64_t>(prompts[k].size());
      std::vector<float> v(
          result.values.begin() + result.value_row_begin[k] * width,
          result.values.begin() + (result.value_row_begin[k] + t) * width);
      v.insert(v.end(),
               result.logits.begin() + result.logit_row_begin[k] * vocab,
               result.logits.begin() + (result.logit_row_begin[k] + t) * vocab);
      out.push_back(v);
      engine_->EndSequence(request.items[k].sequence);
    }
    return out;
  }

  // Value of unit `u` of kHook at position `t` from a Run() row block.
  float Unit(const std::vector<float>& v, int64_t t, int64_t u) const {
    return v[t * layout_.width() + u];
  }

  std::shared_ptr<const Model> model_;
  std::unique_ptr<Engine> engine_;
  Layout layout_;
  std::vector<int64_t> prompt_a_, prompt_b_;
};

// Zeroing neurons zeroes them at every position, changes what follows, and
// leaves the other item of the batch exactly as without intervention.
TEST_F(InterventionTest, ZeroConfinedToItsItem) {
  auto base = Run({{}, {}});
  auto zeroed = Run({{{kHook, {3, 7, 200}, Op::kZero}}, {}});
  for (int64_t t = 0; t < 6; ++t) {
    EXPECT_EQ(Unit(zeroed[0], t, 3), 0.0f);
    EXPECT_EQ(Unit(zeroed[0], t, 200), 0.0f);
    EXPECT_EQ(Unit(zeroed[0], t, 4), Unit(base[0], t, 4));
    EXPECT_NE(Unit(base[0], t, 3), 0.0f);
  }
  EXPECT_GT(MaxAbsDiff(zeroed[0], base[0]), 1e-4);  // downstream changed
  EXPECT_EQ(zeroed[1], base[1]);
}

// Scale by 1 and add 0 change nothing; set, scale, add act per unit.
TEST_F(InterventionTest, SetScaleAddKeepOnly) {
  auto base = Run({{}, {}});
  EXPECT_EQ(Run({{{kHook, {1, 2}, Op::kScale, 1.0f}}, {}})[0], base[0]);
  EXPECT_EQ(Run({{{kHook, {1, 2}, Op::kAdd, 0.0f}}, {}})[0], base[0]);

  auto set = Run({{{kHook, {5, 6}, Op::kSet, 0, {2.5f, -1.0f}}}, {}});
  auto scaled = Run({{{kHook, {5}, Op::kScale, 3.0f}}, {}});
  auto added = Run({{{kHook, {5}, Op::kAdd, 0.25f}}, {}});
  auto keep = Run({{{kHook, {0, 9}, Op::kKeepOnly}}, {}});
  for (int64_t t = 0; t < 6; ++t) {
    EXPECT_EQ(Unit(set[0], t, 5), 2.5f);
    EXPECT_EQ(Unit(set[0], t, 6), -1.0f);
    EXPECT_FLOAT_EQ(Unit(scaled[0], t, 5), 3.0f * Unit(base[0], t, 5));
    EXPECT_FLOAT_EQ(Unit(added[0], t, 5), Unit(base[0], t, 5) + 0.25f);
    EXPECT_EQ(Unit(keep[0], t, 9), Unit(base[0], t, 9));
    for (int64_t u : {1, 2, 100, 255}) EXPECT_EQ(Unit(keep[0], t, u), 0.0f);
  }
}

TEST(InterventionValidationTest, NamesTheField) {
  ModelOptions options;
  options.device = "cpu";
  auto model = Model::Load(testing::ReferencePath("models/llama"), options);
  ASSERT_OK(model);
  const ModelConfig& c = (*model)->config();
  EXPECT_OK(
      ValidateInterventions(c, {{"blocks.1.mlp_post", {171}, Op::kZero}}));
  EXPECT_THAT(
      ValidateInterventions(c, {{"blocks.1.mlp_post", {172}}}),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("interventions[0].units: 172 outside [0, 172)")));
  EXPECT_THAT(ValidateInterventions(c, {{}, {"blocks.9.mlp_post", {1}}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("interventions[0].hook")));
  EXPECT_THAT(ValidateInterventions(c, {{"embed", {1, 1}}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("1 listed twice")));
  EXPECT_THAT(ValidateInterventions(c, {{"embed", {1, 2}, Op::kSet, 0, {1}}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("interventions[0].values: 1 values for 2")));
  EXPECT_THAT(ValidateInterventions(c, {{"embed", {}}}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("interventions[0].units: empty")));
}

}  // namespace
}  // namespace fnprobe
