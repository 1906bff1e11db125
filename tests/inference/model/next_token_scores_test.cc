// ScoreNextTokens against a direct computation: log_softmax of the
// reference model's logits (transformers, tests/data/reference) at every
// position, taken at the prompt's next token, and the argmax.
#include "server/inference/model/next_token_scores.h"

#include <cmath>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/inference/model/batch_generator.h"
#include "server/inference/model/model.h"
#include "server/inference/model/torch_engine.h"
#include "tests/support/reference_data.h"
#include "tests/support/reference_tensors.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::ReferenceTensors;

// log_softmax(row)[next] the plain way, in long double.
double DirectLogProb(const float* row, int64_t vocab, int64_t next) {
  long double sum = 0;
  for (int64_t v = 0; v < vocab; ++v) sum += std::exp((long double)row[v]);
  return static_cast<double>(row[next] - std::log(sum));
}

TEST(NextTokenScoresTest, MatchLogSoftmaxOfTheReferenceLogits) {
  for (const char* family : {"gpt2", "llama"}) {
    ReferenceTensors ref(family);
    const auto& prompts = ref.index()["prompts"];
    const int64_t vocab = ref.index()["config"]["vocab_size"];
    ModelOptions options;
    options.device = "cpu";
    auto model = Model::Load(ref.model_dir(), options);
    ASSERT_OK(model);
    std::unique_ptr<Engine> engine = NewTorchEngine(*model);
    for (size_t k = 0; k < prompts.size(); ++k) {
      const std::vector<int64_t> ids = prompts[k]["input_ids"];
      const std::vector<float> logits =
          ref.Floats(absl::StrCat("p", k, ".logits"));
      ASSERT_EQ(logits.size(), ids.size() * vocab);
      // The engine's own logits, scored, against the reference's.
      std::vector<NextTokenScore> ours;
      ASSERT_OK(ForwardBatch(*engine, {ids}, Layout(),
                             [&](const PromptActivations& a) {
                               ours = ScoreNextTokens(a.logits, vocab, ids);
                               return absl::OkStatus();
                             }));
      const std::vector<NextTokenScore> theirs =
          ScoreNextTokens(logits, vocab, ids);
      ASSERT_EQ(ours.size(), ids.size());
      for (size_t p = 0; p + 1 < ids.size(); ++p) {
        const float* row = logits.data() + p * vocab;
        const double direct = DirectLogProb(row, vocab, ids[p + 1]);
        EXPECT_NEAR(theirs[p].logprob, direct, 1e-5) << family << " " << p;
        EXPECT_NEAR(ours[p].logprob, direct, 1e-4) << family << " " << p;
        int64_t best = 0;
        for (int64_t v = 1; v < vocab; ++v) {
          if (row[v] > row[best]) best = v;
        }
        EXPECT_EQ(theirs[p].top1, best == ids[p + 1]) << family << " " << p;
        EXPECT_EQ(ours[p].top1, theirs[p].top1) << family << " " << p;
        EXPECT_LE(ours[p].logprob, 0.0f);
      }
      // The last position has no next token.
      EXPECT_TRUE(std::isnan(ours.back().logprob));
      EXPECT_FALSE(ours.back().top1);
    }
  }
}

TEST(NextTokenScoresTest, TopOneIsTheLowestIdAmongTies) {
  const std::vector<float> logits = {1, 3, 3, 0, 0, 0};  // 2 positions
  const std::vector<int64_t> tokens = {0, 1};
  const auto s = ScoreNextTokens(logits, 3, tokens);
  EXPECT_TRUE(s[0].top1);
  EXPECT_NEAR(s[0].logprob, 3 - std::log(std::exp(1.0) + 2 * std::exp(3.0)),
              1e-6);
}

}  // namespace
}  // namespace fnprobe
