// The BPE model of a tokenizer.json: a vocabulary, ranked merges and the
// options HF tokenizers supports (byte_fallback, ignore_merges, unk_token,
// fuse_unk, continuing_subword_prefix, end_of_word_suffix). Dropout is
// ignored: encoding is deterministic.
//
// Thread-safe: immutable after construction.
#ifndef FNPROBE_SERVER_INFERENCE_TOKENIZER_BPE_MODEL_H_
#define FNPROBE_SERVER_INFERENCE_TOKENIZER_BPE_MODEL_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/json_fields.h"

namespace fnprobe {

class BpeModel {
 public:
  // Builds the model from the "model" object of tokenizer.json. Merges may
  // be "a b" strings or ["a", "b"] pairs. INVALID_ARGUMENT naming `at` if a
  // field is malformed or a merge names a token missing from the vocabulary.
  static absl::StatusOr<std::unique_ptr<BpeModel>> FromJson(
      const nlohmann::json& spec, const JsonPath& at);

  // Appends the ids of one pre-tokenized piece. Characters with no token
  // (and no byte fallback or unk token) are dropped, as HF does.
  void Tokenize(absl::string_view word, std::vector<int64_t>* ids) const;

  std::optional<int64_t> TokenToId(absl::string_view token) const;
  // nullptr if `id` is not in the vocabulary.
  const std::string* IdToToken(int64_t id) const;
  // The largest id in the vocabulary, or -1 if it is empty.
  int64_t max_id() const { return max_id_; }

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  struct Options {
    int32_t unk_id = -1;  // -1: no unk token
    bool fuse_unk = false;
    bool byte_fallback = false;
    bool ignore_merges = false;
    std::string prefix;  // continuing_subword_prefix
    std::string suffix;  // end_of_word_suffix
  };
  class Word;

  BpeModel() = default;
  absl::Status LoadVocab(const nlohmann::json& spec, const JsonPath& at);
  absl::Status LoadMerges(const nlohmann::json& spec, const JsonPath& at);
  absl::Status LoadOptions(const nlohmann::json& spec, const JsonPath& at);
  absl::Status AddMerge(absl::string_view a, absl::string_view b, int32_t rank,
                        const JsonPath& at);

  // The initial symbols of `word` (one per character, with unk and byte
  // fallback applied), before any merge.
  void InitialSymbols(absl::string_view word, Word* out) const;
  // Adds the "<0xXX>" tokens of each byte of `text`; false (adding nothing)
  // if one is missing from the vocabulary.
  bool AddByteTokens(absl::string_view text, Word* out) const;
  const Merge* FindMerge(int32_t left, int32_t right) const;

  // Constant after construction.
  absl::flat_hash_map<std::string, int32_t> vocab_;
  absl::flat_hash_map<int64_t, std::string> vocab_r_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::array<int32_t, 256> byte_tokens_;  // id of "<0xXX>", -1 if absent
  Options options_;
  int64_t max_id_ = -1;
};

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOKENIZER_BPE_MODEL_H_
