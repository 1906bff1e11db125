// TorchEngine's step results where they depend on how much a step holds:
// every position's logits of a step larger than one logit chunk (written
// to the host in chunks of rows, torch_engine.cc LogitsToHost) equal each
// sequence's logits run alone.
#include "server/inference/model/torch_engine.h"

#include <cmath>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "server/inference/model/engine.h"
#include "server/inference/model/model.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

constexpr int kSequences = 30;
constexpr int kTokens = 120;  // 3,600 rows: past one 3,336-row chunk at
                              // the reference vocabulary (1,257)

std::vector<int64_t> Prompt(int k, int64_t vocab) {
  std::vector<int64_t> ids;
  for (int t = 0; t < kTokens; ++t) ids.push_back((k * 131 + t * 17) % vocab);
  return ids;
}

// All-position logits of `prompts`, all in one step, per prompt.
std::vector<std::vector<float>> Logits(
    Engine& engine, const std::vector<std::vector<int64_t>>& prompts,
    int64_t vocab) {
  StepRequest request;
  for (const auto& p : prompts) {
    StepItem item;
    item.sequence = engine.StartSequence();
    item.tokens = p;
    item.all_positions = true;
    item.want_logits = true;
    request.items.push_back(item);
  }
  StepResult result;
  EXPECT_OK(engine.Step(request, &result));
  std::vector<std::vector<float>> out;
  for (size_t k = 0; k < prompts.size(); ++k) {
    const int64_t begin = result.logit_row_begin.at(k) * vocab;
    out.emplace_back(result.logits.begin() + begin,
                     result.logits.begin() + begin + kTokens * vocab);
    engine.EndSequence(request.items[k].sequence);
  }
  return out;
}

void ExpectChunkedEqualsAlone(bool batch_invariant) {
  ModelOptions options;
  options.device = "cpu";
  options.batch_invariant = batch_invariant;
  auto model = Model::Load(testing::ReferencePath("models/gpt2"), options);
  ASSERT_OK(model);
  const int64_t vocab = (*model)->config().vocab_size;
  std::unique_ptr<Engine> engine = NewTorchEngine(*model);
  std::vector<std::vector<int64_t>> prompts;
  for (int k = 0; k < kSequences; ++k) prompts.push_back(Prompt(k, vocab));
  const auto together = Logits(*engine, prompts, vocab);
  ASSERT_EQ(together.size(), prompts.size());
  for (int k : {0, 13, kSequences - 1}) {  // first, middle, last chunk
    const auto alone = Logits(*engine, {prompts[k]}, vocab);
    ASSERT_EQ(alone[0].size(), together[k].size());
    if (batch_invariant) {
      EXPECT_EQ(alone[0], together[k]) << "sequence " << k;
      continue;
    }
    double worst = 0;
    for (size_t i = 0; i < alone[0].size(); ++i) {
      worst = std::max<double>(worst, std::abs(alone[0][i] - together[k][i]));
    }
    EXPECT_LT(worst, 1e-4) << "sequence " << k;
  }
}

TEST(TorchEngineTest, LogitsOfAStepPastOneChunkEqualEachSequenceAlone) {
  ExpectChunkedEqualsAlone(/*batch_invariant=*/false);
}

TEST(TorchEngineTest, BatchInvariantLogitsPastOneChunkAreBitIdentical) {
  ExpectChunkedEqualsAlone(/*batch_invariant=*/true);
}

}  // namespace
}  // namespace fnprobe
