// CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the checksum of the
// activation store's chunks and files and of applied migrations.
//
// On x86-64 with SSE4.2 the CRC32 instruction and carry-less multiplies
// (PCLMULQDQ, VPCLMULQDQ) compute it, picked once by CPU feature; elsewhere
// a portable slicing-by-8 does. Thread-safe: pure functions.
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

// Extend by the portable slicing-by-8 alone, whatever the CPU (the
// reference the hardware paths are tested against).
uint32_t SoftwareExtend(uint32_t init_crc, const void* data, size_t n);

// The CRC-32C of a+b from crc_a = Value(a), crc_b = Value(b) and the
// length of b (zlib's crc32_combine): lets two threads checksum the halves
// of a buffer.
uint32_t Combine(uint32_t crc_a, uint32_t crc_b, uint64_t length_b);

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
