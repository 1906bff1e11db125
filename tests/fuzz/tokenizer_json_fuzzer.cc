// Fuzz target: a tokenizer.json (server/inference/tokenizer/tokenizer.h), the
// input being the JSON text. A tokenizer that loads then encodes and decodes a
// few fixed strings (ASCII, added-token look-alikes, multi-byte UTF-8, invalid
// UTF-8) and looks up ids around its vocabulary's bounds, as serving a
// prompt does.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/inference/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

constexpr absl::string_view kTexts[] = {
    "",
    "Hello world! It's 2024, isn't it?  Tabs\tand\nnewlines.",
    "<|endoftext|><s></s>[CLS] <unk> <pad> a<mask>b",
    "caf\xc3\xa9 na\xc3\xafve \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e "
    "\xf0\x9f\x98\x80 \xe2\x96\x81x \xc4\xa0y",
    "   leading and trailing   ",
    "\xff\xfe invalid \xc3",  // not UTF-8: Encode must refuse it
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  auto tokenizer = fnprobe::Tokenizer::FromJson(json, "fuzz");
  if (!tokenizer.ok()) return 0;
  const fnprobe::Tokenizer& t = **tokenizer;
  const int64_t vocab = t.vocab_size();
  FUZZ_CHECK(vocab >= 0, "negative vocab_size");
  for (absl::string_view text : kTexts) {
    for (bool special : {false, true}) {
      auto ids = t.Encode(text, special);
      if (!ids.ok()) continue;
      for (int64_t id : *ids) {
        FUZZ_CHECK(id >= 0 && id < vocab,
                   "Encode gave id " + std::to_string(id) + " outside [0, " +
                       std::to_string(vocab) + ")");
      }
      (void)t.Decode(*ids, /*skip_special_tokens=*/false);
      (void)t.Decode(*ids, /*skip_special_tokens=*/true);
    }
  }
  const std::vector<int64_t> edges = {-1,        0,     1,
                                      vocab - 1, vocab, int64_t{1} << 40};
  (void)t.Decode(edges, false);
  (void)t.Decode(edges, true);
  for (int64_t id : edges) {
    auto token = t.IdToToken(id);
    if (token.has_value()) (void)t.TokenToId(*token);
  }
  for (int64_t id : t.SpecialTokenIds()) (void)t.IdToToken(id);
  return 0;
}
