#include "client/npy_writer.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fnprobe::client {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kPreambleSize = kMagicSize + 2 + 2;  // magic, version, len
constexpr size_t kAlignment = 64;

// "(3,)" for one dimension, "(2, 3)" for more, "()" for a scalar.
std::string ShapeTuple(const std::vector<int64_t>& shape) {
  if (shape.size() == 1) return absl::StrCat("(", shape[0], ",)");
  return absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
}

std::string Header(const std::vector<int64_t>& shape) {
  std::string header = absl::StrCat(
      "{'descr': '<f8', 'fortran_order': False, 'shape': ", ShapeTuple(shape),
      ", }");
  const size_t unpadded = kPreambleSize + header.size() + 1;  // + '\n'
  header.append((kAlignment - unpadded % kAlignment) % kAlignment, ' ');
  header += '\n';
  return header;
}

}  // namespace

std::string EncodeNpy(absl::Span<const double> values,
                      const std::vector<int64_t>& shape) {
  const std::string header = Header(shape);
  std::string out(kMagic, kMagicSize);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  const size_t data_start = out.size();
  out.resize(data_start + values.size() * sizeof(double));
  for (size_t i = 0; i < values.size(); ++i) {
    uint64_t bits;
    std::memcpy(&bits, &values[i], sizeof(bits));
    char* dest = &out[data_start + i * sizeof(bits)];
    for (size_t b = 0; b < sizeof(bits); ++b) {
      dest[b] = static_cast<char>((bits >> (8 * b)) & 0xff);
    }
  }
  return out;
}

}  // namespace fnprobe::client
