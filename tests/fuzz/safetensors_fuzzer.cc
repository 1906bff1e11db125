// Fuzz target: a safetensors file (common/safetensors_reader.h), the whole
// input being the file: u64 header length, JSON header, data. The reader
// maps a path, so each input is written to one scratch file per process.
//
// ASan cannot see reads through a file mapping, so what the reader returns
// is checked against the input instead: each tensor's bytes must be those
// its data_offsets name in the data region, and reading every tensor as
// float32 / int64 (the way model loading does) must not fault.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/safetensors_reader.h"
#include "nlohmann/json.hpp"
#include "tests/fuzz/fuzz_check.h"

namespace {

const std::string& ScratchPath() {
  static const std::string* path = [] {
    const char* dir = std::getenv("TMPDIR");
    return new std::string(absl::StrCat(dir != nullptr ? dir : "/tmp",
                                        "/fnprobe_safetensors_fuzz_", getpid(),
                                        ".safetensors"));
  }();
  return *path;
}

bool WriteScratch(const uint8_t* data, size_t size) {
  FILE* f = std::fopen(ScratchPath().c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(data, 1, size, f) == size;
  return std::fclose(f) == 0 && ok;
}

// The input's data_offsets of tensor `name`, from an independent parse of
// the header (the reader accepted it, so it is JSON).
bool OffsetsOf(const nlohmann::json& header, const std::string& name,
               uint64_t* begin, uint64_t* end) {
  auto it = header.find(name);
  if (it == header.end() || !it->is_object()) return false;
  auto offsets = it->find("data_offsets");
  if (offsets == it->end() || !offsets->is_array() || offsets->size() != 2) {
    return false;
  }
  *begin = (*offsets)[0].get<uint64_t>();
  *end = (*offsets)[1].get<uint64_t>();
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FUZZ_CHECK(WriteScratch(data, size), "cannot write " + ScratchPath());
  auto reader = fnprobe::SafetensorsReader::Open(ScratchPath());
  if (!reader.ok()) return 0;

  FUZZ_CHECK(size >= 8, "accepted a file shorter than its length prefix");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= uint64_t{data[i]} << (8 * i);
  FUZZ_CHECK(header_size <= size - 8, "header length past the end");
  const uint8_t* region = data + 8 + header_size;
  const uint64_t region_size = size - 8 - header_size;
  const nlohmann::json header =
      nlohmann::json::parse(data + 8, region, nullptr, /*allow_exceptions=*/
                            false);
  FUZZ_CHECK(header.is_object(), "accepted a header that is not an object");

  for (const std::string& name : (*reader)->names()) {
    const fnprobe::TensorView* view = (*reader)->Find(name);
    FUZZ_CHECK(view != nullptr, "names() lists '" + name + "' but Find fails");
    FUZZ_CHECK((*reader)->Get(name).ok(), name);
    uint64_t begin = 0, end = 0;
    FUZZ_CHECK(OffsetsOf(header, name, &begin, &end), name);
    FUZZ_CHECK(begin <= end && end <= region_size, name);
    FUZZ_CHECK(view->nbytes == end - begin, name);
    FUZZ_CHECK(view->nbytes == 0 ||
                   std::memcmp(view->data, region + begin, view->nbytes) == 0,
               "tensor '" + name + "' does not hold its data_offsets' bytes");
    (void)view->numel();
    (void)(*reader)->ReadFloat32(name);
    (void)(*reader)->ReadInt64(name);
  }
  (void)(*reader)->Find("no such tensor");
  (void)(*reader)->metadata();
  return 0;
}
