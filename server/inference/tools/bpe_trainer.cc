#include "server/inference/tools/bpe_trainer.h"

#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/byte_level.h"
#include "server/inference/tokenizer/json_fields.h"
#include "server/inference/tokenizer/pre_tokenizer.h"
#include "server/inference/tokenizer/utf8.h"

namespace fnprobe {
namespace {

// A distinct pre-tokenized piece of the corpus: its current tokens and how
// often it occurs.
struct Word {
  std::vector<int32_t> symbols;
  int64_t count = 0;
};

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
         static_cast<uint32_t>(right);
}

// Splits `corpus` as tokenizer.json's ByteLevel pre-tokenizer does (GPT-2
// regex, no prefix space) and counts the distinct pieces, in byte-symbol
// form. A std::map keeps the order independent of hashing.
absl::StatusOr<std::map<std::string, int64_t>> CountPieces(
    absl::string_view corpus) {
  const nlohmann::json spec = {{"type", "ByteLevel"},
                               {"add_prefix_space", false},
                               {"trim_offsets", true},
                               {"use_regex", true}};
  FNPROBE_ASSIGN_OR_RETURN(
      std::unique_ptr<PreTokenizer> pre_tokenizer,
      PreTokenizer::FromJson(spec, JsonPath("bpe trainer", "pre_tokenizer")));
  std::vector<TextPiece> pieces = {{std::string(corpus), true}};
  pre_tokenizer->PreTokenize(&pieces);
  std::map<std::string, int64_t> counts;
  for (TextPiece& piece : pieces) ++counts[std::move(piece.text)];
  return counts;
}

// Replaces every non-overlapping (left, right) in `word`, left to right.
void ApplyMerge(int32_t left, int32_t right, int32_t merged, Word& word) {
  std::vector<int32_t>& s = word.symbols;
  size_t out = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i + 1 < s.size() && s[i] == left && s[i + 1] == right) {
      s[out++] = merged;
      ++i;
    } else {
      s[out++] = s[i];
    }
  }
  s.resize(out);
}

}  // namespace

std::vector<std::string> ByteSymbolsInGpt2Order() {
  std::vector<std::string> printable, other;
  for (int b = 0; b < 256; ++b) {
    const bool is_printable = (b >= '!' && b <= '~') ||
                              (b >= 0xA1 && b <= 0xAC) ||
                              (b >= 0xAE && b <= 0xFF);
    (is_printable ? printable : other)
        .emplace_back(byte_level::SymbolOf(static_cast<uint8_t>(b)));
  }
  printable.insert(printable.end(), other.begin(), other.end());
  return printable;
}

absl::StatusOr<BpeVocabulary> TrainByteLevelBpe(
    absl::string_view corpus, const BpeTrainerOptions& options) {
  if (options.max_tokens < 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("bpe trainer: max_tokens ", options.max_tokens,
                     " is below the 256 byte symbols"));
  }
  if (options.min_pair_count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("bpe trainer: min_pair_count ", options.min_pair_count,
                     " must be at least 1"));
  }
  if (std::optional<size_t> bad = utf8::FindInvalid(corpus)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bpe trainer: corpus is not valid UTF-8 at byte offset ", *bad));
  }

  BpeVocabulary vocab;
  vocab.tokens = ByteSymbolsInGpt2Order();
  absl::flat_hash_map<std::string, int32_t> ids;
  for (size_t i = 0; i < vocab.tokens.size(); ++i) {
    ids[vocab.tokens[i]] = static_cast<int32_t>(i);
  }

  FNPROBE_ASSIGN_OR_RETURN(auto piece_counts, CountPieces(corpus));
  std::vector<Word> words;
  words.reserve(piece_counts.size());
  for (const auto& [piece, count] : piece_counts) {
    Word word;
    word.count = count;
    for (size_t pos = 0; pos < piece.size();) {
      const size_t len = utf8::CharLength(piece, pos);
      // Every character of a ByteLevel piece is a byte symbol.
      word.symbols.push_back(ids.at(piece.substr(pos, len)));
      pos += len;
    }
    if (word.symbols.size() > 1) words.push_back(std::move(word));
  }

  const size_t max_tokens = static_cast<size_t>(options.max_tokens);
  while (vocab.tokens.size() < max_tokens) {
    absl::flat_hash_map<uint64_t, int64_t> pair_counts;
    for (const Word& word : words) {
      for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
        pair_counts[PairKey(word.symbols[i], word.symbols[i + 1])] +=
            word.count;
      }
    }
    // The most frequent pair; ties go to the smallest (left, right) strings,
    // a total order, so the hash map's iteration order does not matter.
    int64_t best_count = 0;
    int32_t best_left = -1, best_right = -1;
    for (const auto& [key, count] : pair_counts) {
      const int32_t left = static_cast<int32_t>(key >> 32);
      const int32_t right = static_cast<int32_t>(key & 0xffffffffu);
      bool better = count > best_count;
      if (count == best_count) {
        const std::string& l = vocab.tokens[left];
        const std::string& bl = vocab.tokens[best_left];
        better = l < bl ||
                 (l == bl && vocab.tokens[right] < vocab.tokens[best_right]);
      }
      if (better) {
        best_count = count;
        best_left = left;
        best_right = right;
      }
    }
    if (best_left < 0 || best_count < options.min_pair_count) break;

    std::string merged = vocab.tokens[best_left] + vocab.tokens[best_right];
    auto [it, inserted] =
        ids.try_emplace(merged, static_cast<int32_t>(vocab.tokens.size()));
    if (inserted) vocab.tokens.push_back(merged);
    vocab.merges.emplace_back(vocab.tokens[best_left],
                              vocab.tokens[best_right]);
    for (Word& word : words) {
      ApplyMerge(best_left, best_right, it->second, word);
    }
  }
  return vocab;
}

}  // namespace fnprobe
