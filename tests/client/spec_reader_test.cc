#include "client/spec_reader.h"

#include "client/yaml_to_json.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/support/status_matchers.h"

namespace fnprobe::client {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Plain scalars become JSON literals by the YAML 1.2 core schema; quoted
// ones stay strings.
TEST(YamlToJsonTest, TypesScalarsLikeYamlCoreSchema) {
  auto json = YamlToJson(
      "a: 1\nb: -2.5\nc: true\nd: ~\ne: \"7\"\nf: hello world\ng: 0.05\n"
      "h: [x, 'y', 3]\ni: .inf\n",
      "t.yaml");
  ASSERT_THAT(json, IsOk());
  EXPECT_EQ(nlohmann::json::parse(*json),
            nlohmann::json::parse(
                R"({"a":1,"b":-2.5,"c":true,"d":null,"e":"7",
                    "f":"hello world","g":0.05,"h":["x","y",3],"i":".inf"})"));
}

TEST(YamlToJsonTest, SyntaxErrorsNameFileAndLine) {
  EXPECT_THAT(YamlToJson("a: [1, 2\nb: 3\n", "spec.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("spec.yaml: line")));
  EXPECT_THAT(YamlToJson("", "empty.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("empty YAML document")));
  EXPECT_THAT(YamlToJson("[1]: x\n", "k.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("mapping keys must be scalars")));
}

// JSON and YAML read into the same spec; enums by name, camelCase or proto
// field names.
TEST(SpecReaderTest, JsonAndYamlGiveTheSameSpec) {
  auto from_json = ParseSpecText(
      R"({"name": "n", "generation": {"tokens_per_prompt": 4},
          "analysis": {"noise": "AR1", "threshold": {"alpha": 0.01}}})",
      false, "s.json");
  auto from_yaml = ParseSpecText(
      "name: n\ngeneration: {tokensPerPrompt: 4}\n"
      "analysis:\n  noise: AR1\n  threshold: {alpha: 0.01}\n",
      true, "s.yaml");
  ASSERT_THAT(from_json, IsOk());
  ASSERT_THAT(from_yaml, IsOk());
  EXPECT_EQ(from_json->SerializeAsString(), from_yaml->SerializeAsString());
  EXPECT_EQ(from_json->generation().tokens_per_prompt(), 4);
  EXPECT_EQ(from_json->analysis().noise(), v1::NoiseModel::AR1);
}

// An unknown field is an error naming the file and the field.
TEST(SpecReaderTest, UnknownFieldIsNamed) {
  EXPECT_THAT(ParseSpecText(R"({"name": "n", "desgin": {}})", false, "s.json"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("s.json"), HasSubstr("desgin"))));
  EXPECT_THAT(
      ParseSpecText("name: n\nanalysis: {noize: OLS}\n", true, "s.yaml"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("s.yaml"), HasSubstr("noize"))));
  EXPECT_THAT(ReadSpecFile("/nonexistent/spec.json"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("/nonexistent/spec.json")));
}

}  // namespace
}  // namespace fnprobe::client
