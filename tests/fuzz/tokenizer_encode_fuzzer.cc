// Fuzz target: encoding prompt text, the tokenizer's other untrusted input
// (prompts come from experiment specs). The input is the text; it is encoded
// by each tokenizer among the tokenizer_json_fuzzer seeds that loads
// (byte-level GPT-2 with its regex, a Llama-style byte-fallback one, one
// with most normalizers and pre-tokenizers, a RoBERTa-style one), with and
// without special tokens, and decoded back.
//
// For the byte-level GPT-2 tokenizer, decoding what valid UTF-8 encodes to
// must give the text back: its encoding is lossless.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "server/inference/tokenizer/tokenizer.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

struct Loaded {
  std::string name;
  std::unique_ptr<fnprobe::Tokenizer> tokenizer;
};

std::vector<Loaded>* tokenizers = nullptr;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tokenizers = new std::vector<Loaded>;
  for (const auto& entry :
       std::filesystem::directory_iterator(FNPROBE_FUZZ_TOKENIZER_DIR)) {
    auto t = fnprobe::Tokenizer::FromFile(entry.path().string());
    if (t.ok()) {
      tokenizers->push_back({entry.path().filename().string(), std::move(*t)});
    }
  }
  FUZZ_CHECK(tokenizers->size() >= 3,
             std::string("too few tokenizers load from ") +
                 FNPROBE_FUZZ_TOKENIZER_DIR);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  for (const Loaded& loaded : *tokenizers) {
    const fnprobe::Tokenizer& t = *loaded.tokenizer;
    for (bool special : {false, true}) {
      auto ids = t.Encode(text, special);
      if (!ids.ok()) continue;
      for (int64_t id : *ids) {
        FUZZ_CHECK(id >= 0 && id < t.vocab_size(),
                   loaded.name + ": id " + std::to_string(id));
      }
      const std::string decoded = t.Decode(*ids);
      (void)t.Decode(*ids, /*skip_special_tokens=*/true);
      if (loaded.name == "tiny-gpt2.json" && !special) {
        FUZZ_CHECK(decoded == text, loaded.name + ": decodes to '" + decoded +
                                        "', not the text");
      }
    }
  }
  return 0;
}
