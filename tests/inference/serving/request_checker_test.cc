#include "server/inference/serving/request_checker.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/inference/model/hook_points.h"
#include "tests/inference/serving/fake_engine.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;

ScheduledRequest Valid() {
  ScheduledRequest r;
  r.user = "alice";
  r.prompts = {{1, 2, 3}};
  r.tokens_per_prompt = 4;
  r.layout = Layout({ModelHookPoints(FakeEngine::TinyConfig())[0]});
  return r;
}

TEST(RequestCheckerTest, AcceptsAValidRequestAndNamesEachFault) {
  const RequestChecker checker(FakeEngine::TinyConfig());
  EXPECT_THAT(checker.Check(Valid()), IsOk());

  ScheduledRequest r = Valid();
  r.tokens_per_prompt = 0;
  EXPECT_THAT(checker.Check(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("tokens_per_prompt")));
  r.forward = true;  // Forward generates nothing: no token count needed
  EXPECT_THAT(checker.Check(r), IsOk());

  r = Valid();
  r.prompts.push_back({});
  EXPECT_THAT(checker.Check(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("prompts[1]: no tokens")));

  r = Valid();
  r.prompts[0][1] = FakeEngine::kVocab;
  EXPECT_THAT(checker.Check(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("vocabulary")));

  // 3 prompt tokens + 61 fed back = 64 fits the context; one more does not.
  r = Valid();
  r.tokens_per_prompt = FakeEngine::kContext - 3 + 1;
  EXPECT_THAT(checker.Check(r), IsOk());
  r.tokens_per_prompt += 1;
  EXPECT_THAT(checker.Check(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("context of 64")));

  r = Valid();
  r.layout = Layout({HookSpec{"blocks.9.mlp_post", 8}});
  EXPECT_THAT(checker.Check(r), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("blocks.9.mlp_post")));
}

}  // namespace
}  // namespace fnprobe
