// Helpers shared by the tokenizer tests: fixture paths, loading a
// tokenizer.json built in the test, encoding with the status checked, and
// the JSON pieces of a BPE spec.
#ifndef FNPROBE_TESTS_INFERENCE_TOKENIZER_TOKENIZER_TEST_UTIL_H_
#define FNPROBE_TESTS_INFERENCE_TOKENIZER_TOKENIZER_TEST_UTIL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/tokenizer.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::tokenizer_testing {

using json = nlohmann::json;
using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::ReferencePath;

// "▁" (U+2581), SentencePiece's word boundary.
inline constexpr char kMeta[] = "\xE2\x96\x81";

inline std::string TokenizerPath(const std::string& name) {
  return ReferencePath("tokenizers/" + name + "/tokenizer.json");
}

inline std::unique_ptr<Tokenizer> LoadOrDie(const json& spec) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok =
      Tokenizer::FromJson(spec.dump(), "fixture.json");
  EXPECT_THAT(tok, IsOk());
  return tok.ok() ? *std::move(tok) : nullptr;
}

inline std::vector<int64_t> EncodeOrDie(const Tokenizer& tok,
                                        const std::string& text,
                                        bool add_special_tokens = true) {
  absl::StatusOr<std::vector<int64_t>> ids =
      tok.Encode(text, add_special_tokens);
  EXPECT_THAT(ids, IsOk()) << text;
  return ids.ok() ? *ids : std::vector<int64_t>{};
}

inline std::vector<int64_t> Concat(std::vector<int64_t> a,
                                   const std::vector<int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline json AddedToken(int64_t id, const std::string& content, bool special,
                       bool normalized) {
  return {{"id", id},          {"content", content}, {"single_word", false},
          {"lstrip", false},   {"rstrip", false},    {"normalized", normalized},
          {"special", special}};
}

inline json BpeModelSpec(const json& vocab, const json& merges) {
  return {{"type", "BPE"},
          {"dropout", nullptr},
          {"unk_token", nullptr},
          {"continuing_subword_prefix", nullptr},
          {"end_of_word_suffix", nullptr},
          {"fuse_unk", false},
          {"byte_fallback", false},
          {"vocab", vocab},
          {"merges", merges}};
}

}  // namespace fnprobe::tokenizer_testing

#endif  // FNPROBE_TESTS_INFERENCE_TOKENIZER_TOKENIZER_TEST_UTIL_H_
