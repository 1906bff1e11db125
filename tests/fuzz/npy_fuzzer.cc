// Fuzz target: a NumPy .npy file (common/npy_io.h), the whole input being
// the file. The ICA tool reads activation matrices and sources in this
// format from wherever the user points it, so the header parser sees
// arbitrary bytes.
//
// Besides crashes it checks what the reader promises:
//   - ParseNpyHeader on the bytes and ReadNpyHeader on the same bytes as a
//     file agree on dtype, order, shape and data offset, and the file is
//     accepted only when it is exactly header + data;
//   - ReadNpyData returns the input's data bytes;
//   - an accepted header's dtype and shape survive EncodeNpyHeader and
//     WriteNpy: the written file parses back to them and its data reads
//     back byte for byte.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/npy_io.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

std::string ScratchPath(const char* suffix) {
  const char* dir = std::getenv("TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/fnprobe_npy_fuzz_",
                      getpid(), suffix, ".npy");
}

bool WriteFile(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = size == 0 || std::fwrite(data, 1, size, f) == size;
  return std::fclose(f) == 0 && ok;
}

bool SameHeader(const fnprobe::NpyHeader& a, const fnprobe::NpyHeader& b) {
  return a.dtype == b.dtype && a.fortran_order == b.fortran_order &&
         a.shape == b.shape && a.data_offset == b.data_offset;
}

// EncodeNpyHeader writes version 1.0 (a 2-byte header length), as numpy
// does for any array it can save that way; numpy allows at most 64
// dimensions, so the round trip is checked up to that.
constexpr size_t kMaxRoundTripDims = 64;

// ReadNpyHeader parses at most this prefix of a file (npy_io.cc:
// kMaxHeaderBytes + 16).
constexpr size_t kFilePrefixBytes = (1 << 20) + 16;

void CheckRoundTrip(const fnprobe::NpyHeader& header, const uint8_t* data) {
  if (header.shape.size() > kMaxRoundTripDims) return;
  const std::string encoded =
      fnprobe::EncodeNpyHeader(header.dtype, header.shape);
  auto parsed = fnprobe::ParseNpyHeader(encoded);
  FUZZ_CHECK(parsed.ok(), parsed.status().ToString());
  FUZZ_CHECK(parsed->dtype == header.dtype && parsed->shape == header.shape &&
                 !parsed->fortran_order,
             "EncodeNpyHeader does not parse back to its dtype and shape");
  FUZZ_CHECK(parsed->data_offset == encoded.size() && encoded.size() % 64 == 0,
             absl::StrCat("encoded header of ", encoded.size(), " bytes"));

  const std::string path = ScratchPath("_w");
  const absl::Status written =
      fnprobe::WriteNpy(path, header.dtype, header.shape, data);
  FUZZ_CHECK(written.ok(), written.ToString());
  auto again = fnprobe::ReadNpyHeader(path);
  FUZZ_CHECK(again.ok(), again.status().ToString());
  FUZZ_CHECK(again->dtype == header.dtype && again->shape == header.shape,
             "WriteNpy's file reads back another dtype or shape");
  std::vector<char> back(again->data_bytes());
  const absl::Status read = fnprobe::ReadNpyData(path, *again, back.data());
  FUZZ_CHECK(read.ok(), read.ToString());
  FUZZ_CHECK(back.empty() || std::memcmp(back.data(), data, back.size()) == 0,
             "WriteNpy's data reads back different bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto parsed = fnprobe::ParseNpyHeader(bytes);
  if (parsed.ok()) {
    FUZZ_CHECK(parsed->data_offset <= size, "data offset past the input");
    FUZZ_CHECK(parsed->num_elements() >= 0, "negative element count");
    (void)parsed->data_bytes();
  }

  static const std::string path = ScratchPath("");
  FUZZ_CHECK(WriteFile(path, data, size), "cannot write " + path);
  auto header = fnprobe::ReadNpyHeader(path);
  if (!header.ok()) {
    if (!parsed.ok() && size <= kFilePrefixBytes) {
      // The file reader parses the same bytes (its prefix holds the whole
      // input) and adds the path; the verdict must be the same.
      FUZZ_CHECK(
          header.status().code() == parsed.status().code(),
          header.status().ToString() + " vs " + parsed.status().ToString());
    }
    return 0;
  }
  FUZZ_CHECK(parsed.ok(), "ReadNpyHeader accepted what ParseNpyHeader refused");
  FUZZ_CHECK(SameHeader(*parsed, *header), "the two readers disagree");
  FUZZ_CHECK(header->data_offset + header->data_bytes() == size,
             "accepted a file that is not exactly header + data");

  std::vector<char> values(header->data_bytes());
  const absl::Status read = fnprobe::ReadNpyData(path, *header, values.data());
  FUZZ_CHECK(read.ok(), read.ToString());
  FUZZ_CHECK(
      values.empty() || std::memcmp(values.data(), data + header->data_offset,
                                    values.size()) == 0,
      "ReadNpyData returned other bytes than the file's data");
  CheckRoundTrip(*header, data + header->data_offset);
  return 0;
}
