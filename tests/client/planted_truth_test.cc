#include "client/planted_truth.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::client {
namespace {

using ::fnprobe::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// blocks.0.attn_out [0, 8), blocks.0.mlp_post [8, 24); mlp_out not
// captured.
Layout SmallLayout() {
  return Layout({{"blocks.0.attn_out", 8}, {"blocks.0.mlp_post", 16}});
}

PlantedUnits Planted() {
  return {{"alpha",
           {"blocks.0.attn_out[6]", "blocks.0.attn_out[7]",
            "blocks.0.mlp_post[14]", "blocks.0.mlp_post[15]",
            "blocks.0.mlp_out[6]"}},  // not captured: left out
          {"beta", {"blocks.0.attn_out[4]", "blocks.0.attn_out[5]"}}};
}

// Precision and recall count only the planted units the layout captures.
TEST(PlantedTruthTest, ScoresEachConditionAgainstItsCapturedPlantedUnits) {
  const FoundUnits found = {{"alpha", {6, 7, 22, 23, 0}},  // 4 true, 1 false
                            {"beta", {4}},                 // half found
                            {"gamma", {}}};                // nothing planted
  const std::vector<PlantedScore> s =
      ScorePlanted(Planted(), SmallLayout(), found);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].condition, "alpha");
  EXPECT_EQ(s[0].planted, 4);
  EXPECT_EQ(s[0].found, 5);
  EXPECT_EQ(s[0].hits, 4);
  EXPECT_DOUBLE_EQ(s[0].precision(), 0.8);
  EXPECT_DOUBLE_EQ(s[0].recall(), 1.0);
  EXPECT_DOUBLE_EQ(s[1].precision(), 1.0);
  EXPECT_DOUBLE_EQ(s[1].recall(), 0.5);
  EXPECT_DOUBLE_EQ(s[2].precision(), 1.0);
  EXPECT_DOUBLE_EQ(s[2].recall(), 1.0);

  v1::GetClassificationResponse c;
  c.set_accuracy(2.0 / 3);
  c.set_chance(1.0 / 3);
  c.set_correct(2);
  c.set_p_value(0.26);
  for (int i = 0; i < 3; ++i) c.add_predictions();
  std::ostringstream out;
  PrintPlantedTruth(s, &c, out);
  EXPECT_THAT(out.str(), HasSubstr("alpha"));
  EXPECT_THAT(out.str(), HasSubstr("2 of 3 runs right, accuracy 66.7% "
                                   "(chance 33.3%"));
  absl::Status check = CheckPlantedTruth(s, &c);
  EXPECT_THAT(check, StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_THAT(std::string(check.message()), HasSubstr("alpha precision 0.80"));
  EXPECT_THAT(std::string(check.message()), HasSubstr("beta recall 0.50"));
  EXPECT_THAT(std::string(check.message()),
              HasSubstr("held-out accuracy 66.7%"));

  const FoundUnits exact = {{"alpha", {6, 7, 22, 23}}, {"beta", {4, 5}}};
  c.set_accuracy(1.0);
  EXPECT_OK(
      CheckPlantedTruth(ScorePlanted(Planted(), SmallLayout(), exact), &c));
  EXPECT_THAT(
      CheckPlantedTruth(ScorePlanted(Planted(), SmallLayout(), exact), nullptr),
      StatusIs(absl::StatusCode::kFailedPrecondition));
}

// A condition that planted units but found nothing has precision 0.
TEST(PlantedTruthTest, NothingFoundOfSomethingPlantedIsAFailure) {
  const std::vector<PlantedScore> s =
      ScorePlanted(Planted(), SmallLayout(), {{"beta", {}}});
  ASSERT_EQ(s.size(), 1u);
  EXPECT_DOUBLE_EQ(s[0].precision(), 0.0);
  EXPECT_DOUBLE_EQ(s[0].recall(), 0.0);
}

// planted.json as fnprobe-make-model writes it; errors name the file.
TEST(PlantedTruthTest, ReadsPlantedJson) {
  const std::string dir = ::fnprobe::testing::MakeTempDir("planted_truth");
  const std::string path = dir + "/planted.json";
  std::ofstream(path) << R"({"format": "fnprobe-planted-1", "conditions": [
      {"name": "alpha", "words": ["zorblat"], "token_ids": [1000],
       "units": ["blocks.0.attn_out[58]", "blocks.0.mlp_post[254]"]}]})";
  absl::StatusOr<PlantedUnits> planted = ReadPlantedUnits(path);
  ASSERT_OK(planted);
  EXPECT_THAT(planted->at("alpha"),
              ElementsAre("blocks.0.attn_out[58]", "blocks.0.mlp_post[254]"));
  std::ofstream(path) << R"({"conditions": 3})";
  EXPECT_THAT(ReadPlantedUnits(path),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(path)));
  EXPECT_THAT(ReadPlantedUnits(dir + "/absent.json"),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace fnprobe::client
