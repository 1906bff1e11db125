// Fuzz target: the stored-blob decoders of server/analysis/stat_map.h,
// DecodeStatMap (glm_maps.stats_blob) and DecodePromptValues
// (prompt_values.blob), which the worker runs on what it reads back from
// its database.
//
// Each input is decoded as it is and again with its last 8 bytes replaced by
// the checksum of the rest, so that mutations get past the checksum to the
// structure behind it. Whatever decodes must re-encode to the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "common/portable_hash.h"
#include "server/analysis/stat_map.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

void Decode(const std::string& bytes) {
  auto map = fnprobe::analysis::DecodeStatMap(bytes);
  if (map.ok()) {
    FUZZ_CHECK(map->variance.n_elem == map->effect.n_elem &&
                   map->t.n_elem == map->effect.n_elem &&
                   map->p.n_elem == map->effect.n_elem,
               "stat map arrays of different lengths");
    FUZZ_CHECK(fnprobe::analysis::EncodeStatMap(*map) == bytes,
               "stat map does not round-trip");
  }
  auto values = fnprobe::analysis::DecodePromptValues(bytes);
  if (values.ok()) {
    FUZZ_CHECK(fnprobe::analysis::EncodePromptValues(*values) == bytes,
               "prompt values do not round-trip");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  Decode(bytes);
  if (size < 8) return 0;
  uint64_t checksum =
      fnprobe::Fnv1a64(absl::string_view(bytes).substr(0, size - 8));
  for (size_t i = 0; i < 8; ++i) {
    bytes[size - 8 + i] = static_cast<char>(checksum >> (8 * i));
  }
  Decode(bytes);
  return 0;
}
