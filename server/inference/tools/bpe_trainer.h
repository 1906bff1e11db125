// Learns a byte-level BPE vocabulary, GPT-2 style, from a text corpus: the
// corpus is split by the ByteLevel pre-tokenizer (GPT-2's regex, bytes mapped
// to their byte symbols), and merges are learned greedily, each time merging
// the most frequent adjacent pair of tokens inside a piece.
//
// Training is deterministic: ties between pairs of equal count go to the
// pair whose (left, right) token strings sort first, so the same corpus and
// options always give the same vocabulary, whatever the hash seeds.
//
// The result feeds a tokenizer.json "BPE" model: `tokens` in id order is the
// vocabulary and `merges` in rank order is the merge list.
//
// Thread-safe: stateless functions.
#ifndef FNPROBE_SERVER_INFERENCE_TOOLS_BPE_TRAINER_H_
#define FNPROBE_SERVER_INFERENCE_TOOLS_BPE_TRAINER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe {

struct BpeVocabulary {
  // Token strings by id, in byte-symbol form ("Ġthe"). Ids 0..255 are the 256
  // byte symbols in GPT-2's bytes_to_unicode order (printable bytes first);
  // learned tokens follow in the order they were learned. Strings are unique.
  std::vector<std::string> tokens;
  // Merges in rank order, each as its (left, right) parts. Both parts of a
  // merge, and their concatenation, are in `tokens`. There may be more merges
  // than learned tokens: two merges can produce the same string.
  std::vector<std::pair<std::string, std::string>> merges;
};

struct BpeTrainerOptions {
  // Training stops once the vocabulary (byte symbols included) holds this
  // many tokens. Must be at least 256.
  int64_t max_tokens = 1024;
  // Training also stops when no pair occurs at least this often (counted
  // over the whole corpus). Must be at least 1.
  int64_t min_pair_count = 2;
};

// Learns a vocabulary from `corpus`. INVALID_ARGUMENT if the corpus is not
// valid UTF-8 or an option is out of range (naming it).
absl::StatusOr<BpeVocabulary> TrainByteLevelBpe(
    absl::string_view corpus, const BpeTrainerOptions& options);

// The 256 byte symbols (UTF-8) in GPT-2's bytes_to_unicode order: '!'..'~',
// 0xA1..0xAC, 0xAE..0xFF, then the other 68 bytes in byte order.
std::vector<std::string> ByteSymbolsInGpt2Order();

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOOLS_BPE_TRAINER_H_
