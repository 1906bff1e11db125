// The tokenizer against Hugging Face's: the reference cases of GPT-2 and the
// tiny checkpoint, and each family's pipeline in miniature (Llama 2 and 3,
// GPT-NeoX, OPT/Galactica, RoBERTa's post-processor).
#include "server/inference/tokenizer/tokenizer.h"

#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/inference/tokenizer/tokenizer_test_util.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::ReadFileOrDie;
using ::fnprobe::testing::ReferencePath;
using ::fnprobe::testing::StatusIs;
using ::fnprobe::tokenizer_testing::AddedToken;
using ::fnprobe::tokenizer_testing::BpeModelSpec;
using ::fnprobe::tokenizer_testing::Concat;
using ::fnprobe::tokenizer_testing::EncodeOrDie;
using ::fnprobe::tokenizer_testing::kMeta;
using ::fnprobe::tokenizer_testing::LoadOrDie;
using ::fnprobe::tokenizer_testing::TokenizerPath;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using json = nlohmann::json;

// --- Reference data: GPT-2 and tiny against the slow GPT2Tokenizer ---

class ReferenceTest : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() {
    cases_ = new json(
        json::parse(ReadFileOrDie(ReferencePath("tokenizers/cases.json"))));
  }
  static void TearDownTestSuite() {
    delete cases_;
    cases_ = nullptr;
  }

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
        Tokenizer::FromFile(TokenizerPath(GetParam()));
    ASSERT_OK(tok);
    tok_ = *std::move(tok);
  }

  // Prints "<name> <what>: n/66 cases match" and expects all to.
  void ReportMatches(const char* what, int matched, size_t total) {
    std::cout << GetParam() << " " << what << ": " << matched << "/" << total
              << " cases match\n";
    EXPECT_EQ(matched, static_cast<int>(total));
  }

  static json* cases_;
  std::unique_ptr<Tokenizer> tok_;
};

json* ReferenceTest::cases_ = nullptr;

// Encode(text) gives exactly the reference ids for every case.
TEST_P(ReferenceTest, EncodeMatchesReferenceIds) {
  int matched = 0;
  for (const json& c : (*cases_)["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const auto expected = c[GetParam()]["ids"].get<std::vector<int64_t>>();
    absl::StatusOr<std::vector<int64_t>> ids =
        tok_->Encode(c["text"].get<std::string>());
    ASSERT_OK(ids);
    EXPECT_EQ(*ids, expected);
    matched += *ids == expected;
  }
  ReportMatches("encode", matched, (*cases_)["cases"].size());
}

// Decode(reference ids) gives the reference text for every case.
TEST_P(ReferenceTest, DecodeMatchesReferenceText) {
  int matched = 0;
  for (const json& c : (*cases_)["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const json& ref = c[GetParam()];
    const std::string text =
        tok_->Decode(ref["ids"].get<std::vector<int64_t>>());
    EXPECT_EQ(text, ref["decoded"].get<std::string>());
    matched += text == ref["decoded"].get<std::string>();
  }
  ReportMatches("decode", matched, (*cases_)["cases"].size());
}

// IdToToken gives the reference byte-level token strings.
TEST_P(ReferenceTest, IdToTokenMatchesReferenceTokens) {
  int matched = 0;
  for (const json& c : (*cases_)["cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const json& ref = c[GetParam()];
    std::vector<std::string> tokens;
    for (int64_t id : ref["ids"].get<std::vector<int64_t>>()) {
      tokens.push_back(tok_->IdToToken(id).value_or("<none>"));
    }
    const auto expected = ref["tokens"].get<std::vector<std::string>>();
    EXPECT_EQ(tokens, expected);
    matched += tokens == expected;
  }
  ReportMatches("tokens", matched, (*cases_)["cases"].size());
}

// Invalid UTF-8 from byte tokens decodes with one U+FFFD per maximal invalid
// subpart, as Python's errors="replace".
TEST_P(ReferenceTest, DecodeByteCasesReplaceInvalidUtf8) {
  int matched = 0;
  for (const json& c : (*cases_)["decode_byte_cases"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const std::string text = tok_->Decode(c["ids"].get<std::vector<int64_t>>());
    EXPECT_EQ(text, c["decoded"].get<std::string>());
    matched += text == c["decoded"].get<std::string>();
  }
  ReportMatches("decode_byte_cases", matched,
                (*cases_)["decode_byte_cases"].size());
}

// The special token is split out of the text before pre-tokenization, is
// listed as special, and is dropped by skip_special_tokens.
TEST_P(ReferenceTest, SplitsOutEndOfText) {
  const int64_t eot = GetParam() == "gpt2" ? 50256 : 1256;
  EXPECT_EQ(tok_->vocab_size(), eot + 1);
  EXPECT_EQ(tok_->TokenToId("<|endoftext|>"), eot);
  EXPECT_EQ(tok_->IdToToken(eot), "<|endoftext|>");
  EXPECT_THAT(tok_->SpecialTokenIds(), ElementsAre(eot));
  const std::vector<int64_t> ids =
      EncodeOrDie(*tok_, "Hello<|endoftext|>world");
  if (GetParam() == "gpt2") EXPECT_THAT(ids, ElementsAre(15496, 50256, 6894));
  EXPECT_EQ(Concat(Concat(EncodeOrDie(*tok_, "Hello"), {eot}),
                   EncodeOrDie(*tok_, "world")),
            ids);
  EXPECT_EQ(tok_->Decode(ids, /*skip_special_tokens=*/true), "Helloworld");
}

// Unknown ids are skipped by Decode and unknown to IdToToken.
TEST_P(ReferenceTest, UnknownIdsAreSkipped) {
  EXPECT_EQ(tok_->IdToToken(-1), std::nullopt);
  EXPECT_EQ(tok_->IdToToken(tok_->vocab_size()), std::nullopt);
  EXPECT_EQ(tok_->TokenToId("no such token"), std::nullopt);
  EXPECT_EQ(tok_->Decode({15, -7, tok_->vocab_size(), 16}), "01");
}

// Invalid UTF-8 input is refused, naming the byte offset.
TEST_P(ReferenceTest, RejectsInvalidUtf8) {
  EXPECT_THAT(
      tok_->Encode("ab\xFF"
                   "cd"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("byte offset 2")));
  EXPECT_THAT(
      tok_->Encode("\xED\xA0\x80"),  // an encoded surrogate
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("byte offset 0")));
  EXPECT_THAT(
      tok_->Encode("ok \xE6\x97"),  // truncated at the end
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("byte offset 3")));
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, ReferenceTest,
                         ::testing::Values("gpt2", "tiny"));

// Concurrent Encode and Decode on one tokenizer give the serial results.
TEST(TokenizerThreadTest, ConcurrentEncodeMatchesSerial) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
      Tokenizer::FromFile(TokenizerPath("gpt2"));
  ASSERT_OK(tok);
  const json cases =
      json::parse(ReadFileOrDie(ReferencePath("tokenizers/cases.json")));
  std::vector<std::string> texts;
  std::vector<std::vector<int64_t>> serial;
  for (const json& c : cases["cases"]) {
    texts.push_back(c["text"].get<std::string>());
    serial.push_back(EncodeOrDie(**tok, texts.back()));
  }
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) {
          absl::StatusOr<std::vector<int64_t>> ids = (*tok)->Encode(texts[i]);
          if (!ids.ok() || *ids != serial[i] ||
              (*tok)->Decode(*ids) != texts[i]) {
            ++mismatches[t];
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ElementsAre(0, 0, 0, 0));
}

// Not a pass/fail benchmark: prints the encode speed on ~10 KB of mixed
// text (the reference cases repeated) with the 50k-merge GPT-2 vocabulary,
// and only fails if it is pathologically slow.
TEST(TokenizerSpeedTest, EncodesTenKilobytesOfGpt2Text) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
      Tokenizer::FromFile(TokenizerPath("gpt2"));
  ASSERT_OK(tok);
  const json cases =
      json::parse(ReadFileOrDie(ReferencePath("tokenizers/cases.json")));
  std::string text;
  while (text.size() < 10 * 1024) {
    for (const json& c : cases["cases"]) {
      text += c["text"].get<std::string>() + "\n";
    }
  }
  text.resize(10 * 1024);
  while (!(*tok)->Encode(text).ok()) text.pop_back();  // keep UTF-8 whole
  constexpr int kRounds = 20;
  size_t n_ids = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i) n_ids = EncodeOrDie(**tok, text).size();
  const std::chrono::duration<double> elapsed =
      std::chrono::steady_clock::now() - start;
  const double ms = elapsed.count() * 1000 / kRounds;
  std::cout << "gpt2 encode: " << text.size() << " bytes -> " << n_ids
            << " ids in " << ms << " ms (" << text.size() / 1e6 / (ms / 1000)
            << " MB/s)\n";
  EXPECT_LT(ms, 1000.0);
}

// --- Llama 2: SentencePiece-style BPE with byte fallback ---

// A Llama 2 tokenizer.json in miniature: "▁hello" and "▁wor" are reachable
// by the merges, every byte has a <0xXX> token, and <s> is prepended.
json Llama2Spec() {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}};
  char name[8];
  for (int b = 0; b < 256; ++b) {
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    vocab[name] = 3 + b;
  }
  const std::string m = kMeta;
  const std::vector<std::string> pieces = {
      m,    "h",     "e",   "l",        "o",         "w",     "r",  "d",
      "ll", m + "h", "ell", m + "hell", m + "hello", m + "w", "or", m + "wor"};
  for (size_t i = 0; i < pieces.size(); ++i) vocab[pieces[i]] = 259 + i;
  json model = BpeModelSpec(vocab, {"l l", m + " h", "e ll", m + "h ell",
                                    m + "hell o", m + " w", "o r", m + "w or"});
  model["unk_token"] = "<unk>";
  model["fuse_unk"] = true;
  model["byte_fallback"] = true;
  json replace_space = {
      {"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", m}};
  return {
      {"version", "1.0"},
      {"added_tokens",
       {AddedToken(0, "<unk>", true, false), AddedToken(1, "<s>", true, false),
        AddedToken(2, "</s>", true, false)}},
      {"normalizer",
       {{"type", "Sequence"},
        {"normalizers",
         {{{"type", "Prepend"}, {"prepend", m}}, replace_space}}}},
      {"pre_tokenizer", nullptr},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single",
         {{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
          {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
        {"pair", json::array()},
        {"special_tokens",
         {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders",
         {{{"type", "Replace"}, {"pattern", {{"String", m}}}, {"content", " "}},
          {{"type", "ByteFallback"}},
          {{"type", "Fuse"}},
          {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}}},
      {"model", model}};
}

constexpr int64_t kHello = 271;  // "▁hello"
constexpr int64_t kWor = 274;    // "▁wor"
constexpr int64_t kL = 262;
constexpr int64_t kD = 266;

// "hello world" -> "▁hello▁world" -> <s> ▁hello ▁wor l d.
TEST(Llama2TokenizerTest, PrependsBosAndMetaspace) {
  auto tok = LoadOrDie(Llama2Spec());
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(EncodeOrDie(*tok, "hello world"),
              ElementsAre(1, kHello, kWor, kL, kD));
  EXPECT_THAT(EncodeOrDie(*tok, "hello world", false),
              ElementsAre(kHello, kWor, kL, kD));
  EXPECT_THAT(EncodeOrDie(*tok, ""), ElementsAre(1));
  // A leading space gives "▁▁hello": a lone "▁" then "▁hello".
  EXPECT_THAT(EncodeOrDie(*tok, " hello", false), ElementsAre(259, kHello));
}

// HF sends special tokens through the decoder too: "<s>" stays glued to the
// fused text, and Strip only removes a leading space.
TEST(Llama2TokenizerTest, DecodesLikeHf) {
  auto tok = LoadOrDie(Llama2Spec());
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Decode({1, kHello, kWor, kL, kD}), "<s> hello world");
  EXPECT_EQ(tok->Decode({1, kHello, kWor, kL, kD}, true), "hello world");
  EXPECT_EQ(tok->Decode({259, kHello}), " hello");
  EXPECT_THAT(tok->SpecialTokenIds(), ElementsAre(0, 1, 2));
}

// "é" is not in the vocabulary: its UTF-8 bytes become <0xC3> <0xA9>, which
// decode back to "é"; an invalid byte run becomes one U+FFFD per byte.
TEST(Llama2TokenizerTest, FallsBackToBytes) {
  auto tok = LoadOrDie(Llama2Spec());
  ASSERT_NE(tok, nullptr);
  const int64_t c3 = 3 + 0xC3, a9 = 3 + 0xA9, a = 3 + 'A';
  EXPECT_THAT(EncodeOrDie(*tok, "h\xC3\xA9", false),
              ElementsAre(259 + 9 /* ▁h */, c3, a9));
  EXPECT_EQ(tok->Decode({259 + 9, c3, a9}), "h\xC3\xA9");
  EXPECT_EQ(tok->Decode({c3}), "\xEF\xBF\xBD");
  EXPECT_EQ(tok->Decode({c3, a}), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(tok->Decode({kHello, c3, a9, kWor}), "hello\xC3\xA9 wor");
}

// Without byte fallback, unknown characters become <unk>, fused when
// adjacent if fuse_unk is set.
TEST(Llama2TokenizerTest, FusesUnknownCharacters) {
  json spec = Llama2Spec();
  spec["model"]["byte_fallback"] = false;
  auto fused = LoadOrDie(spec);
  spec["model"]["fuse_unk"] = false;
  auto unfused = LoadOrDie(spec);
  ASSERT_NE(fused, nullptr);
  ASSERT_NE(unfused, nullptr);
  const std::string text =
      "h\xE2\x82\xAC\xE2\x82\xAC"
      "e";  // h€€e
  EXPECT_THAT(EncodeOrDie(*fused, text, false), ElementsAre(268, 0, 261));
  EXPECT_THAT(EncodeOrDie(*unfused, text, false), ElementsAre(268, 0, 0, 261));
}

// <s> (normalized=false) is matched in the raw text, and the text after it is
// normalized on its own (so it gets its own "▁").
TEST(Llama2TokenizerTest, SplitsSpecialTokensBeforeNormalizing) {
  auto tok = LoadOrDie(Llama2Spec());
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(EncodeOrDie(*tok, "<s>hello"), ElementsAre(1, 1, kHello));
  EXPECT_THAT(EncodeOrDie(*tok, "hello</s>", false), ElementsAre(kHello, 2));
}

// Metaspace pre-tokenizer (older SentencePiece exports): prepend_scheme
// "first" only prefixes the text at the very start of the input.
TEST(MetaspaceTokenizerTest, PrependsOnlyAtStartWithSchemeFirst) {
  json spec = Llama2Spec();
  spec["normalizer"] = nullptr;
  spec["pre_tokenizer"] = {{"type", "Metaspace"},
                           {"replacement", kMeta},
                           {"prepend_scheme", "first"},
                           {"split", true}};
  spec["decoder"] = {{"type", "Metaspace"},
                     {"replacement", kMeta},
                     {"prepend_scheme", "first"},
                     {"split", true}};
  auto first = LoadOrDie(spec);
  spec["pre_tokenizer"]["prepend_scheme"] = "always";
  auto always = LoadOrDie(spec);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(always, nullptr);
  // "▁hello▁world" split before each "▁": "▁hello" "▁world".
  EXPECT_THAT(EncodeOrDie(*first, "hello world", false),
              ElementsAre(kHello, kWor, kL, kD));
  EXPECT_EQ(first->Decode({kHello, kWor, kL, kD}), "hello world");
  // After <s> the text no longer starts the input: "hello" = h ell o.
  EXPECT_THAT(EncodeOrDie(*first, "<s>hello", false),
              ElementsAre(1, 260, 269, 263));
  EXPECT_THAT(EncodeOrDie(*always, "<s>hello", false), ElementsAre(1, kHello));
}

// --- Llama 3: Split (Llama 3 regex) + ByteLevel, ignore_merges ---

constexpr char kLlama3Pattern[] =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

json Llama3Spec() {
  const json vocab = {{"I", 0},
                      {"'", 1},
                      {"M", 2},
                      {"\xC4\xA0", 3},
                      {"1", 4},
                      {"2", 5},
                      {"3", 6},
                      {"4", 7},
                      {"5", 8},
                      {"12", 9},
                      {"123", 10},
                      {"45", 11},
                      {"\xC4\xA0world", 12},
                      {"w", 13},
                      {"o", 14},
                      {"r", 15},
                      {"l", 16},
                      {"d", 17},
                      {"'LL", 19},
                      {"L", 20},
                      {"x", 21}};
  // Newer-style merges: pairs (json::array, or nlohmann reads an object).
  json model = BpeModelSpec(
      vocab, json::array({json::array({"1", "2"}), json::array({"12", "3"}),
                          json::array({"4", "5"})}));
  model["ignore_merges"] = true;
  return {
      {"added_tokens", {AddedToken(18, "<|begin_of_text|>", true, false)}},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern", {{"Regex", kLlama3Pattern}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"},
           {"add_prefix_space", false},
           {"trim_offsets", true},
           {"use_regex", false}}}}}},
      {"post_processor",
       {{"type", "Sequence"},
        {"processors",
         {{{"type", "ByteLevel"},
           {"add_prefix_space", true},
           {"trim_offsets", false},
           {"use_regex", true}},
          {{"type", "TemplateProcessing"},
           {"single",
            {{{"SpecialToken", {{"id", "<|begin_of_text|>"}, {"type_id", 0}}}},
             {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
           {"special_tokens",
            {{"<|begin_of_text|>",
              {{"id", "<|begin_of_text|>"},
               {"ids", {18}},
               {"tokens", {"<|begin_of_text|>"}}}}}}}}}}},
      {"decoder",
       {{"type", "ByteLevel"},
        {"add_prefix_space", true},
        {"trim_offsets", true},
        {"use_regex", true}}},
      {"model", model}};
}

// \p{N}{1,3} splits "5123" into "512" "3" (merged as 5 12, 3; unsplit it
// would be 5 123), and (?i:'ll) isolates "'LL" from "'LLx".
TEST(Llama3TokenizerTest, SplitsWithLlama3Regex) {
  auto tok = LoadOrDie(Llama3Spec());
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(EncodeOrDie(*tok, "5123", false), ElementsAre(8, 9, 6));
  EXPECT_THAT(EncodeOrDie(*tok, "'LLx", false), ElementsAre(19, 21));
}

// With ignore_merges a piece found whole in the vocabulary is one token even
// though no merge builds it; otherwise BPE applies.
TEST(Llama3TokenizerTest, IgnoreMergesUsesWholeWords) {
  auto tok = LoadOrDie(Llama3Spec());
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(EncodeOrDie(*tok, " world"), ElementsAre(18, 12));
  EXPECT_THAT(EncodeOrDie(*tok, "world", false),
              ElementsAre(13, 14, 15, 16, 17));
  json spec = Llama3Spec();
  spec["model"]["ignore_merges"] = false;
  auto plain = LoadOrDie(spec);
  ASSERT_NE(plain, nullptr);
  EXPECT_THAT(EncodeOrDie(*plain, " world", false),
              ElementsAre(3, 13, 14, 15, 16, 17));
}

TEST(Llama3TokenizerTest, DecodesByteLevel) {
  auto tok = LoadOrDie(Llama3Spec());
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->Decode({18, 12}), "<|begin_of_text|> world");
  EXPECT_EQ(tok->Decode({18, 12}, true), " world");
  EXPECT_EQ(tok->vocab_size(), 22);
}

// --- GPT-NeoX / Pythia: NFC normalizer before ByteLevel ---

// "e" + U+0301 is composed to "é" (C3 A9 -> byte symbols "Ã©") first.
TEST(NeoXTokenizerTest, NormalizesToNfc) {
  const json vocab = {{"e", 0},        {"\xC3\x83", 1},
                      {"\xC2\xA9", 2}, {"\xC3\x83\xC2\xA9", 3},
                      {"\xC3\x8C", 4}, {"\xC4\xA3", 5}};
  json spec = {{"normalizer", {{"type", "NFC"}}},
               {"pre_tokenizer",
                {{"type", "ByteLevel"},
                 {"add_prefix_space", false},
                 {"trim_offsets", true},
                 {"use_regex", true}}},
               {"decoder", {{"type", "ByteLevel"}}},
               {"model", BpeModelSpec(vocab, {"\xC3\x83 \xC2\xA9"})}};
  auto nfc = LoadOrDie(spec);
  spec["normalizer"] = nullptr;
  auto raw = LoadOrDie(spec);
  ASSERT_NE(nfc, nullptr);
  ASSERT_NE(raw, nullptr);
  const std::string decomposed = "e\xCC\x81";
  EXPECT_THAT(EncodeOrDie(*nfc, decomposed), ElementsAre(3));
  EXPECT_THAT(EncodeOrDie(*raw, decomposed), ElementsAre(0, 4, 5));
  EXPECT_EQ(nfc->Decode({3}), "\xC3\xA9");
  EXPECT_EQ(raw->Decode({0, 4, 5}), decomposed);
}

// NFKC folds compatibility characters: the "ﬁ" ligature becomes "fi".
TEST(NormalizerTest, NfkcFoldsLigatures) {
  auto tok = LoadOrDie(
      {{"normalizer", {{"type", "NFKC"}}},
       {"model", BpeModelSpec({{"f", 0}, {"i", 1}, {"fi", 2}}, {"f i"})}});
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(EncodeOrDie(*tok, "\xEF\xAC\x81"), ElementsAre(2));
  // No decoder: tokens are joined with spaces, as HF does.
  EXPECT_EQ(tok->Decode({0, 1}), "f i");
}

// Strip and Lowercase normalizers (Lowercase uses full case mapping).
TEST(NormalizerTest, StripsAndLowercases) {
  const json vocab = {{"a", 0}, {"b", 1}, {" ", 2}, {"i", 3}, {"\xCC\x87", 4}};
  auto tok = LoadOrDie(
      {{"normalizer",
        {{"type", "Sequence"},
         {"normalizers",
          {{{"type", "Strip"}, {"strip_left", true}, {"strip_right", true}},
           {{"type", "Lowercase"}}}}}},
       {"model", BpeModelSpec(vocab, json::array())}});
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(EncodeOrDie(*tok, " \t A B\xE3\x80\x80"), ElementsAre(0, 2, 1));
  EXPECT_THAT(EncodeOrDie(*tok, "\xC4\xB0"), ElementsAre(3, 4));  // İ
}

// --- OPT / Galactica: TemplateProcessing adds "</s>" as BOS ---

TEST(OptTokenizerTest, TemplateAddsBos) {
  json spec = json::parse(ReadFileOrDie(TokenizerPath("tiny")));
  spec["added_tokens"].push_back(AddedToken(1257, "</s>", true, false));
  spec["post_processor"] = {
      {"type", "TemplateProcessing"},
      {"single",
       {{{"SpecialToken", {{"id", "</s>"}, {"type_id", 0}}}},
        {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}}},
      {"special_tokens",
       {{"</s>", {{"id", "</s>"}, {"ids", {1257}}, {"tokens", {"</s>"}}}}}}};
  auto tok = LoadOrDie(spec);
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(EncodeOrDie(*tok, "Hello world"),
              ElementsAre(1257, 39, 695, 78, 995));
  EXPECT_THAT(EncodeOrDie(*tok, "Hello world", false),
              ElementsAre(39, 695, 78, 995));
  EXPECT_EQ(tok->Decode({1257, 39, 695, 78, 995}), "</s>Hello world");
  EXPECT_EQ(tok->Decode({1257, 39, 695, 78, 995}, true), "Hello world");
  EXPECT_EQ(tok->vocab_size(), 1258);
  EXPECT_THAT(tok->SpecialTokenIds(), ElementsAre(1256, 1257));
}

// RobertaProcessing / BertProcessing wrap the sequence in cls ... sep.
TEST(PostProcessorTest, RobertaWrapsInClsSep) {
  json spec = json::parse(ReadFileOrDie(TokenizerPath("tiny")));
  spec["post_processor"] = {{"type", "RobertaProcessing"},
                            {"sep", {"</s>", 2}},
                            {"cls", {"<s>", 0}},
                            {"trim_offsets", true},
                            {"add_prefix_space", false}};
  auto tok = LoadOrDie(spec);
  ASSERT_NE(tok, nullptr);
  EXPECT_THAT(EncodeOrDie(*tok, "Hello world"),
              ElementsAre(0, 39, 695, 78, 995, 2));
}

}  // namespace
}  // namespace fnprobe
