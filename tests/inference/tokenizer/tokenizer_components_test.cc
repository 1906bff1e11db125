// The tokenizer's components one by one (added tokens, pre-tokenizers) and
// its load errors: INVALID_ARGUMENT naming the file and the field.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/tokenizer.h"
#include "tests/inference/tokenizer/tokenizer_test_util.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::ReadFileOrDie;
using ::fnprobe::testing::StatusIs;
using ::fnprobe::tokenizer_testing::AddedToken;
using ::fnprobe::tokenizer_testing::BpeModelSpec;
using ::fnprobe::tokenizer_testing::Concat;
using ::fnprobe::tokenizer_testing::EncodeOrDie;
using ::fnprobe::tokenizer_testing::LoadOrDie;
using ::fnprobe::tokenizer_testing::TokenizerPath;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

// --- Added tokens: lstrip, rstrip, single_word, normalized ---

class AddedTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    base_spec_ = json::parse(ReadFileOrDie(TokenizerPath("tiny")));
    base_ = LoadOrDie(base_spec_);
    json spec = base_spec_;
    json mask = AddedToken(1257, "<mask>", true, false);
    mask["lstrip"] = true;
    json rtok = AddedToken(1259, "<r>", true, false);
    rtok["rstrip"] = true;
    json cat = AddedToken(1260, "cat", false, false);
    cat["single_word"] = true;
    spec["added_tokens"].push_back(mask);
    spec["added_tokens"].push_back(AddedToken(1258, "<keep>", true, false));
    spec["added_tokens"].push_back(rtok);
    spec["added_tokens"].push_back(cat);
    tok_ = LoadOrDie(spec);
    ASSERT_NE(base_, nullptr);
    ASSERT_NE(tok_, nullptr);
  }

  std::vector<int64_t> Base(const std::string& text) {
    return EncodeOrDie(*base_, text);
  }

  json base_spec_;
  std::unique_ptr<Tokenizer> base_;
  std::unique_ptr<Tokenizer> tok_;
};

// lstrip swallows the spaces before the token; without it they stay text.
TEST_F(AddedTokenTest, LstripTakesPrecedingSpaces) {
  EXPECT_EQ(EncodeOrDie(*tok_, "a  <mask>"), Concat(Base("a"), {1257}));
  EXPECT_EQ(EncodeOrDie(*tok_, "a <keep>"), Concat(Base("a "), {1258}));
  EXPECT_EQ(Base("a ").size(), 2u);
}

// rstrip swallows the spaces after the token.
TEST_F(AddedTokenTest, RstripTakesFollowingSpaces) {
  EXPECT_EQ(EncodeOrDie(*tok_, "<r>  b"), Concat({1259}, Base("b")));
  EXPECT_EQ(EncodeOrDie(*tok_, "<keep>  b"), Concat({1258}, Base("  b")));
}

// single_word tokens only match when not inside a word.
TEST_F(AddedTokenTest, SingleWordMatchesWholeWordsOnly) {
  EXPECT_EQ(EncodeOrDie(*tok_, "cat concat"), Concat({1260}, Base(" concat")));
  EXPECT_EQ(EncodeOrDie(*tok_, "cats"), Base("cats"));
  EXPECT_EQ(EncodeOrDie(*tok_, "a cat."),
            Concat(Concat(Base("a "), {1260}), Base(".")));
}

// The longest token wins where several start at the same place.
TEST_F(AddedTokenTest, LongestMatchWins) {
  json spec = base_spec_;
  spec["added_tokens"].push_back(AddedToken(1257, "<a>", true, false));
  spec["added_tokens"].push_back(AddedToken(1258, "<a><b>", true, false));
  auto tok = LoadOrDie(spec);
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(EncodeOrDie(*tok, "<a><b><a>"), ElementsAre(1258, 1257));
}

// A normalized=true token is matched after normalization (here Lowercase).
TEST_F(AddedTokenTest, NormalizedTokensMatchNormalizedText) {
  json spec = base_spec_;
  spec["normalizer"] = {{"type", "Lowercase"}};
  spec["added_tokens"].push_back(AddedToken(1257, "hello", false, true));
  auto tok = LoadOrDie(spec);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(EncodeOrDie(*tok, "HELLO There"), Concat({1257}, Base(" there")));
  EXPECT_EQ(tok->Decode({1257}), "hello");
  EXPECT_THAT(tok->SpecialTokenIds(), ElementsAre(1256));
}

// --- Other pre-tokenizers, observed through a vocabulary that merges every
// pair of characters of {a, b, 1, 2, ' ', '!'}: a piece of one or two
// characters is then exactly one token. ---

std::unique_ptr<Tokenizer> PairTokenizer(const json& pre_tokenizer) {
  const std::vector<std::string> chars = {"a", "b", "1", "2", " ", "!"};
  json vocab = json::object();
  json merges = json::array();
  for (const std::string& c : chars) vocab[c] = vocab.size();
  for (const std::string& x : chars) {
    for (const std::string& y : chars) {
      vocab[x + y] = vocab.size();
      merges.push_back(json::array({x, y}));
    }
  }
  return LoadOrDie({{"pre_tokenizer", pre_tokenizer},
                    {"model", BpeModelSpec(vocab, merges)}});
}

std::vector<std::string> Tokens(const Tokenizer& tok, const std::string& text) {
  std::vector<std::string> out;
  for (int64_t id : EncodeOrDie(tok, text)) {
    out.push_back(tok.IdToToken(id).value_or("?"));
  }
  return out;
}

TEST(PreTokenizerTest, Digits) {
  auto contiguous = PairTokenizer({{"type", "Digits"}});
  auto individual =
      PairTokenizer({{"type", "Digits"}, {"individual_digits", true}});
  ASSERT_NE(contiguous, nullptr);
  ASSERT_NE(individual, nullptr);
  EXPECT_THAT(Tokens(*contiguous, "a12b"), ElementsAre("a", "12", "b"));
  EXPECT_THAT(Tokens(*individual, "a12b"), ElementsAre("a", "1", "2", "b"));
}

TEST(PreTokenizerTest, WhitespaceAndPunctuation) {
  auto whitespace = PairTokenizer({{"type", "Whitespace"}});
  auto split = PairTokenizer({{"type", "WhitespaceSplit"}});
  auto punct = PairTokenizer({{"type", "Punctuation"}});
  ASSERT_NE(whitespace, nullptr);
  ASSERT_NE(split, nullptr);
  ASSERT_NE(punct, nullptr);
  EXPECT_THAT(Tokens(*whitespace, "ab!! a!"),
              ElementsAre("ab", "!!", "a", "!"));
  EXPECT_THAT(Tokens(*split, "a!  b"), ElementsAre("a!", "b"));
  EXPECT_THAT(Tokens(*punct, "a!b"), ElementsAre("a", "!", "b"));
}

TEST(PreTokenizerTest, SplitBehaviors) {
  auto make = [](const char* behavior, bool invert, const char* regex) {
    return PairTokenizer({{"type", "Split"},
                          {"pattern", {{"Regex", regex}}},
                          {"behavior", behavior},
                          {"invert", invert}});
  };
  auto removed = make("Removed", false, " ");
  auto isolated = make("Isolated", false, " ");
  auto previous = make("MergedWithPrevious", false, " ");
  auto next = make("MergedWithNext", false, " ");
  auto contiguous = make("Contiguous", false, " ");
  auto inverted = make("Removed", true, "[0-9]+");
  for (const auto* t :
       {&removed, &isolated, &previous, &next, &contiguous, &inverted}) {
    ASSERT_NE(*t, nullptr);
  }
  EXPECT_THAT(Tokens(*removed, "a b"), ElementsAre("a", "b"));
  EXPECT_THAT(Tokens(*isolated, "a b"), ElementsAre("a", " ", "b"));
  EXPECT_THAT(Tokens(*previous, "a b"), ElementsAre("a ", "b"));
  EXPECT_THAT(Tokens(*next, "a b"), ElementsAre("a", " b"));
  EXPECT_THAT(Tokens(*contiguous, "a  b"), ElementsAre("a", "  ", "b"));
  EXPECT_THAT(Tokens(*inverted, "a12b"), ElementsAre("12"));
}

// A String pattern is literal, not a regex.
TEST(PreTokenizerTest, StringPatternIsLiteral) {
  auto tok = PairTokenizer({{"type", "Split"},
                            {"pattern", {{"String", "!"}}},
                            {"behavior", "Removed"},
                            {"invert", false}});
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(Tokens(*tok, "a!b"), ElementsAre("a", "b"));
  auto dot = PairTokenizer({{"type", "Split"},
                            {"pattern", {{"String", "."}}},
                            {"behavior", "Removed"},
                            {"invert", false}});
  ASSERT_NE(dot, nullptr);
  EXPECT_THAT(Tokens(*dot, "ab"), ElementsAre("ab"));
}

// --- Load errors: INVALID_ARGUMENT naming the file and the field ---

json TinySpec() { return json::parse(ReadFileOrDie(TokenizerPath("tiny"))); }

absl::Status LoadStatus(const json& spec) {
  return Tokenizer::FromJson(spec.dump(), "fixture.json").status();
}

// A post-processor's ids are numbers in the JSON; one outside the
// vocabulary (1257 ids in "tiny") is refused at load instead of reaching
// the model from Encode (found by tests/fuzz/tokenizer_json_fuzzer).
TEST(TokenizerLoadTest, RejectsPostProcessorIdsOutsideTheVocabulary) {
  json spec = TinySpec();
  spec["post_processor"] = {{"type", "Sequence"},
                            {"processors",
                             {{{"type", "ByteLevel"}, {"trim_offsets", true}},
                              {{"type", "RobertaProcessing"},
                               {"sep", {"</s>", 1257}},
                               {"cls", {"<s>", 0}}}}}};
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("fixture.json: post_processor"),
                             HasSubstr("special token id 1257 is outside the "
                                       "vocabulary [0, 1257)"))));
  spec["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single",
       {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"special_tokens",
       {{"<s>", {{"id", "<s>"}, {"ids", {-1}}, {"tokens", {"<s>"}}}}}}};
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("special token id -1 is outside")));
  spec["post_processor"]["special_tokens"]["<s>"]["ids"] = {1256};
  EXPECT_THAT(LoadStatus(spec), IsOk());
}

TEST(TokenizerLoadTest, RejectsText) {
  EXPECT_THAT(
      Tokenizer::FromJson("{\"model\": ", "broken.json"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("broken.json"), HasSubstr("not valid JSON"))));
  EXPECT_THAT(
      Tokenizer::FromJson("[]", "list.json"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("list.json")));
}

TEST(TokenizerLoadTest, RejectsMissingModel) {
  json spec = TinySpec();
  spec.erase("model");
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("fixture.json: model: missing")));
}

TEST(TokenizerLoadTest, RejectsUnknownComponentTypes) {
  json spec = TinySpec();
  spec["model"]["type"] = "WordPiece";
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("fixture.json: model.type: unsupported "
                                 "model type \"WordPiece\"")));
  spec = TinySpec();
  spec["normalizer"] = {{"type", "BertNormalizer"}};
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("normalizer.type: unsupported normalizer "
                                 "type \"BertNormalizer\"")));
  spec = TinySpec();
  spec["pre_tokenizer"] = {
      {"type", "Sequence"},
      {"pretokenizers", {{{"type", "Digits"}}, {{"type", "WordPiece"}}}}};
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("pre_tokenizer.pretokenizers[1].type: "
                                 "unsupported pre_tokenizer type")));
  spec = TinySpec();
  spec["decoder"] = {{"type", "WordPiece"}};
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("decoder.type: unsupported decoder type")));
  spec = TinySpec();
  spec["post_processor"] = {{"name", "no type"}};
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("post_processor.type: missing")));
}

TEST(TokenizerLoadTest, RejectsMergesOutsideVocabulary) {
  json spec = TinySpec();
  spec["model"]["merges"][3] = "zz q";
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("model.merges[3]: token \"zz\" is not in "
                                 "the vocabulary")));
  spec = TinySpec();
  spec["model"]["merges"][0] = "a b c";
  EXPECT_THAT(LoadStatus(spec), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("model.merges[0]")));
  spec = TinySpec();
  spec["model"]["merges"][1] = json::array({1, 2});
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("model.merges[1]: must be a string")));
}

TEST(TokenizerLoadTest, RejectsBadVocabulary) {
  json spec = TinySpec();
  spec["model"]["vocab"]["x"] = "7";
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("model.vocab: id of token \"x\" must be a "
                                 "non-negative integer")));
  spec = TinySpec();
  spec["model"]["vocab"] = json::array({"a", "b"});
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("model.vocab: must be an object")));
  spec = TinySpec();
  spec["model"]["unk_token"] = "<unk>";
  EXPECT_THAT(LoadStatus(spec), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("model.unk_token")));
}

TEST(TokenizerLoadTest, RejectsBadRegex) {
  json spec = TinySpec();
  spec["pre_tokenizer"] = {{"type", "Split"},
                           {"pattern", {{"Regex", "(unclosed"}}},
                           {"behavior", "Isolated"},
                           {"invert", false}};
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("fixture.json"),
                             HasSubstr("pre_tokenizer.pattern.Regex: "
                                       "bad regex"))));
  spec["pre_tokenizer"]["pattern"] = {{"Regex", "x"}};
  spec["pre_tokenizer"]["behavior"] = "Sideways";
  EXPECT_THAT(LoadStatus(spec), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("pre_tokenizer.behavior")));
}

TEST(TokenizerLoadTest, RejectsBadAddedTokensAndTemplates) {
  json spec = TinySpec();
  spec["added_tokens"][0].erase("content");
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("added_tokens[0].content: missing")));
  spec = TinySpec();
  spec["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single", {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}}}},
      {"special_tokens", json::object()}};
  EXPECT_THAT(LoadStatus(spec),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("post_processor.special_tokens.<s>")));
}

TEST(TokenizerLoadTest, MissingFileIsNotFound) {
  EXPECT_THAT(Tokenizer::FromFile("/nonexistent/tokenizer.json"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("/nonexistent/tokenizer.json")));
}

}  // namespace
}  // namespace fnprobe
