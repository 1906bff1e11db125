// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the checksum of the
// activation store's chunks and files and of applied migrations.
//
// Software slicing-by-8; no CPU-specific code. Thread-safe: pure functions.
#ifndef FNPROBE_SERVER_ANALYSIS_STORAGE_CRC32C_H_
#define FNPROBE_SERVER_ANALYSIS_STORAGE_CRC32C_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace fnprobe {
namespace crc32c {

// The CRC-32C of `data` appended to a stream whose CRC-32C so far is
// `init_crc` (0 for an empty stream): Extend(Extend(0, a), b) == Value(a+b).
uint32_t Extend(uint32_t init_crc, const void* data, size_t n);

// The CRC-32C of `n` bytes at `data`. Value("123456789") == 0xE3069283.
inline uint32_t Value(const void* data, size_t n) { return Extend(0, data, n); }
inline uint32_t Value(absl::string_view data) {
  return Extend(0, data.data(), data.size());
}

// "crc32c:" followed by 8 lowercase hex digits, the text form stored in
// SQLite (runs.activation_checksum, schema_migrations.checksum).
std::string Format(uint32_t crc);

}  // namespace crc32c
}  // namespace fnprobe

#endif  // FNPROBE_SERVER_ANALYSIS_STORAGE_CRC32C_H_
