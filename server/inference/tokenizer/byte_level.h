// GPT-2's reversible byte <-> Unicode symbol map, used by the ByteLevel
// pre-tokenizer and decoder. Printable bytes ('!'..'~', 0xA1..0xAC,
// 0xAE..0xFF) map to the code point of the same value; the other 68 bytes map
// to U+0100 onwards in byte order (so ' ' is 'Ġ' U+0120, '\n' is 'Ċ').
//
// Thread-safe: the tables are built once and never change.
#ifndef FNPROBE_SERVER_INFERENCE_TOKENIZER_BYTE_LEVEL_H_
#define FNPROBE_SERVER_INFERENCE_TOKENIZER_BYTE_LEVEL_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace fnprobe::byte_level {

// The UTF-8 encoding of the symbol for `byte`.
absl::string_view SymbolOf(uint8_t byte);

// Replaces each byte of `bytes` by its symbol.
std::string BytesToSymbols(absl::string_view bytes);

// Maps each code point of valid UTF-8 `symbols` back to its byte and appends
// the bytes to `out`. Returns false (leaving `out` unchanged) if some code
// point is not a byte symbol.
bool SymbolsToBytes(absl::string_view symbols, std::string* out);

}  // namespace fnprobe::byte_level

#endif  // FNPROBE_SERVER_INFERENCE_TOKENIZER_BYTE_LEVEL_H_
