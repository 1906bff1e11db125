#include "client/spec_reader.h"

#include "absl/time/clock.h"
#include "absl/time/time.h"
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

// "Billion laughs": nine levels of nine aliases each would expand to 9^9
// strings. Refused from the parser's events, long before any expansion.
TEST(YamlToJsonTest, AnchorsAndAliasesAreRefusedUpFront) {
  std::string yaml = "a: &a [\"lol\", \"lol\", \"lol\"]\n";
  for (char level = 'b'; level <= 'j'; ++level) {
    const char prev = level - 1;
    yaml += std::string(1, level) + ": &" + level + " [";
    for (int i = 0; i < 9; ++i) yaml += std::string(i ? ", *" : "*") + prev;
    yaml += "]\n";
  }
  yaml += "name: *j\n";
  const absl::Time start = absl::Now();
  EXPECT_THAT(YamlToJson(yaml, "laughs.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("laughs.yaml: line 1, column 4"),
                             HasSubstr("anchors and aliases"))));
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(500));
  // An alias alone (of an anchor elsewhere) is refused too, with its line.
  EXPECT_THAT(YamlToJson("name: n\nmodel: *m\n", "alias.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("alias.yaml: line 2")));
  EXPECT_THAT(YamlToJson("name: &n x\n", "anchor.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("anchors and aliases")));
  // Text that merely contains '&' or '*' is fine.
  EXPECT_THAT(YamlToJson("name: \"R&D *draft*\"\nmodel: a&b\n", "ok.yaml"),
              IsOk());
}

// Used to bring the CLI down with an uncaught exception from the JSON
// writer (found by tests/fuzz/spec_yaml_fuzzer).
TEST(YamlToJsonTest, RefusesTextThatIsNotUtf8) {
  EXPECT_THAT(YamlToJson("name: \"caf\xe9\"\n", "latin1.yaml"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("latin1.yaml: not valid UTF-8")));
}

// Five bytes that made the anchor check loop forever (found by
// tests/fuzz/spec_yaml_fuzzer).
TEST(YamlToJsonTest, MalformedTextEnds) {
  EXPECT_THAT(
      YamlToJson(std::string(",\"cl\0", 5), "hang.yaml"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("hang.yaml")));
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
