#include "server/inference/tokenizer/byte_level.h"

#include <array>

#include "server/inference/tokenizer/utf8.h"

namespace fnprobe::byte_level {
namespace {

struct Tables {
  std::array<std::string, 256> symbol;  // byte -> UTF-8 of its symbol
  std::array<int16_t, 324> byte_of;     // code point -> byte, -1 if none
};

bool IsPrintable(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
         (b >= 0xAE && b <= 0xFF);
}

Tables BuildTables() {
  Tables t;
  t.byte_of.fill(-1);
  uint32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const uint32_t cp = IsPrintable(b) ? static_cast<uint32_t>(b) : next++;
    utf8::Append(cp, &t.symbol[b]);
    t.byte_of[cp] = static_cast<int16_t>(b);
  }
  return t;
}

const Tables& GetTables() {
  static const Tables* const tables = new Tables(BuildTables());
  return *tables;
}

}  // namespace

absl::string_view SymbolOf(uint8_t byte) { return GetTables().symbol[byte]; }

std::string BytesToSymbols(absl::string_view bytes) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) out += t.symbol[static_cast<uint8_t>(c)];
  return out;
}

bool SymbolsToBytes(absl::string_view symbols, std::string* out) {
  const Tables& t = GetTables();
  const size_t original_size = out->size();
  for (size_t pos = 0; pos < symbols.size();) {
    const uint32_t cp = utf8::DecodeAt(symbols, pos);
    if (cp >= t.byte_of.size() || t.byte_of[cp] < 0) {
      out->resize(original_size);
      return false;
    }
    out->push_back(static_cast<char>(t.byte_of[cp]));
    pos += utf8::CharLength(symbols, pos);
  }
  return true;
}

}  // namespace fnprobe::byte_level
