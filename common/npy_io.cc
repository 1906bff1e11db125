#include "common/npy_io.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace fnprobe {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kAlignment = 64;
// numpy refuses headers beyond this; so do we, so that a corrupt length
// cannot make us read a gigabyte of "header".
constexpr size_t kMaxHeaderBytes = 1 << 20;

// A cursor over the header's dict literal. Parses the subset numpy writes
// (and Python's repr of such dicts): quoted strings, True/False, tuples of
// non-negative integers.
class DictParser {
 public:
  explicit DictParser(absl::string_view text) : text_(text) {}

  void SkipSpace() {
    while (pos_ < text_.size() && absl::ascii_isspace(text_[pos_])) ++pos_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= text_.size();
  }
  absl::StatusOr<std::string> String() {
    SkipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      return Error("expected a quoted string");
    }
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == absl::string_view::npos) return Error("unterminated string");
    std::string s(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  absl::StatusOr<bool> Bool() {
    SkipSpace();
    for (const auto& [word, value] :
         {std::pair<absl::string_view, bool>{"True", true}, {"False", false}}) {
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    return Error("expected True or False");
  }
  absl::StatusOr<std::vector<int64_t>> Shape() {
    if (!Consume('(')) return Error("expected a shape tuple");
    std::vector<int64_t> shape;
    while (!Consume(')')) {
      SkipSpace();
      size_t end = pos_;
      while (end < text_.size() && absl::ascii_isdigit(text_[end])) ++end;
      int64_t dim = 0;
      if (end == pos_ ||
          !absl::SimpleAtoi(text_.substr(pos_, end - pos_), &dim)) {
        return Error("expected a non-negative integer dimension");
      }
      pos_ = end;
      if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2
      shape.push_back(dim);
      if (!Consume(',')) {
        if (!Consume(')')) return Error("expected ',' or ')' in the shape");
        break;
      }
    }
    return shape;
  }
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(
        "malformed .npy header (", what, " at offset ", pos_, "): ", text_));
  }

 private:
  absl::string_view text_;
  size_t pos_ = 0;
};

absl::StatusOr<NpyDtype> ParseDescr(absl::string_view descr) {
  if (descr.size() == 3 &&
      (descr[0] == '<' || descr[0] == '=' || descr[0] == '|')) {
    if (descr.substr(1) == "f4") return NpyDtype::kFloat32;
    if (descr.substr(1) == "f8") return NpyDtype::kFloat64;
  }
  if (descr.size() == 3 && descr[0] == '>' && descr[1] == 'f') {
    return absl::InvalidArgumentError(absl::StrCat(
        "unsupported .npy dtype '", descr,
        "': big-endian; save the array as little-endian ('<f4' or '<f8')"));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported .npy dtype '", descr,
                   "': only float32 ('<f4') and float64 ('<f8') are read"));
}

// Closes a FILE* on scope exit.
struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

absl::Status ErrnoStatus(const std::string& path, absl::string_view what,
                         int err) {
  const std::string message =
      absl::StrCat(path, ": ", what, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(message);
  if (err == EACCES) return absl::PermissionDeniedError(message);
  return absl::UnavailableError(message);
}

}  // namespace

size_t NpyDtypeSize(NpyDtype dtype) {
  return dtype == NpyDtype::kFloat32 ? 4 : 8;
}

int64_t NpyHeader::num_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t NpyHeader::data_bytes() const {
  return static_cast<size_t>(num_elements()) * NpyDtypeSize(dtype);
}

absl::StatusOr<NpyHeader> ParseNpyHeader(absl::string_view bytes) {
  const absl::string_view magic(kMagic, kMagicSize);
  const absl::string_view start = bytes.substr(0, kMagicSize);
  if (start != magic.substr(0, start.size())) {
    return absl::InvalidArgumentError(
        "not a .npy file: it does not start with \"\\x93NUMPY\"");
  }
  if (bytes.size() < kMagicSize + 2) {
    return absl::DataLossError("truncated .npy file: no complete preamble");
  }
  const int major = static_cast<unsigned char>(bytes[kMagicSize]);
  if (major < 1 || major > 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported .npy format version ", major, ".",
                     static_cast<unsigned char>(bytes[kMagicSize + 1])));
  }
  const size_t len_bytes = major == 1 ? 2 : 4;
  const size_t preamble = kMagicSize + 2 + len_bytes;
  if (bytes.size() < preamble) {
    return absl::DataLossError("truncated .npy file: no header length");
  }
  size_t header_len = 0;
  for (size_t i = 0; i < len_bytes; ++i) {
    header_len |= static_cast<size_t>(
                      static_cast<unsigned char>(bytes[kMagicSize + 2 + i]))
                  << (8 * i);
  }
  if (header_len > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed .npy header: length ", header_len, " exceeds ",
                     kMaxHeaderBytes, " bytes"));
  }
  if (bytes.size() < preamble + header_len) {
    return absl::DataLossError(
        absl::StrCat("truncated .npy file: the header needs ", header_len,
                     " bytes, ", bytes.size() - preamble, " present"));
  }
  DictParser p(bytes.substr(preamble, header_len));
  if (!p.Consume('{')) return p.Error("expected '{'");
  NpyHeader header;
  bool have_descr = false, have_order = false, have_shape = false;
  while (!p.Consume('}')) {
    auto key = p.String();
    if (!key.ok()) return key.status();
    if (!p.Consume(':')) return p.Error("expected ':'");
    if (*key == "descr") {
      auto descr = p.String();
      if (!descr.ok()) {
        return absl::InvalidArgumentError(
            "unsupported .npy dtype: structured arrays are not read");
      }
      auto dtype = ParseDescr(*descr);
      if (!dtype.ok()) return dtype.status();
      header.dtype = *dtype;
      have_descr = true;
    } else if (*key == "fortran_order") {
      auto order = p.Bool();
      if (!order.ok()) return order.status();
      header.fortran_order = *order;
      have_order = true;
    } else if (*key == "shape") {
      auto shape = p.Shape();
      if (!shape.ok()) return shape.status();
      header.shape = std::move(*shape);
      have_shape = true;
    } else {
      return p.Error(absl::StrCat("unexpected key '", *key, "'"));
    }
    if (!p.Consume(',')) {
      if (!p.Consume('}')) return p.Error("expected ',' or '}'");
      break;
    }
  }
  if (!have_descr || !have_order || !have_shape) {
    return p.Error("missing 'descr', 'fortran_order' or 'shape'");
  }
  // Guard the element count against overflow before anyone multiplies.
  int64_t n = 1;
  const int64_t limit =
      std::numeric_limits<int64_t>::max() / 8;  // bytes must fit too
  for (int64_t d : header.shape) {
    if (d != 0 && n > limit / d) {
      return absl::InvalidArgumentError(
          "malformed .npy header: the shape's size overflows");
    }
    n *= d;
  }
  header.data_offset = preamble + header_len;
  return header;
}

absl::StatusOr<NpyHeader> ReadNpyHeader(const std::string& path) {
  FilePtr f(std::fopen(path.c_str(), "rb"));
  if (!f) return ErrnoStatus(path, "cannot open", errno);
  if (std::fseek(f.get(), 0, SEEK_END) != 0) {
    return ErrnoStatus(path, "cannot seek", errno);
  }
  const long size = std::ftell(f.get());
  if (size < 0) return ErrnoStatus(path, "cannot tell its size", errno);
  std::rewind(f.get());
  std::string prefix(
      std::min<size_t>(static_cast<size_t>(size), kMaxHeaderBytes + 16), '\0');
  if (std::fread(prefix.data(), 1, prefix.size(), f.get()) != prefix.size()) {
    return ErrnoStatus(path, "cannot read", errno);
  }
  auto header = ParseNpyHeader(prefix);
  if (!header.ok()) {
    return absl::Status(header.status().code(),
                        absl::StrCat(path, ": ", header.status().message()));
  }
  const size_t expected = header->data_offset + header->data_bytes();
  if (static_cast<size_t>(size) < expected) {
    return absl::DataLossError(absl::StrCat(
        path, ": truncated .npy file: ", size, " bytes, the header's shape (",
        absl::StrJoin(header->shape, ", "), ") needs ", expected));
  }
  if (static_cast<size_t>(size) > expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": malformed .npy file: ", size - expected,
                     " bytes beyond the data the header's shape (",
                     absl::StrJoin(header->shape, ", "), ") describes"));
  }
  return header;
}

absl::Status ReadNpyData(const std::string& path, const NpyHeader& header,
                         void* dest) {
  FilePtr f(std::fopen(path.c_str(), "rb"));
  if (!f) return ErrnoStatus(path, "cannot open", errno);
  if (std::fseek(f.get(), static_cast<long>(header.data_offset), SEEK_SET) !=
      0) {
    return ErrnoStatus(path, "cannot seek", errno);
  }
  const size_t want = header.data_bytes();
  const size_t got = std::fread(dest, 1, want, f.get());
  if (got != want) {
    if (std::ferror(f.get())) return ErrnoStatus(path, "cannot read", errno);
    return absl::DataLossError(absl::StrCat(
        path, ": truncated .npy file: ", got, " of ", want, " data bytes"));
  }
  return absl::OkStatus();
}

std::string EncodeNpyHeader(NpyDtype dtype, const std::vector<int64_t>& shape) {
  const std::string shape_tuple =
      shape.size() == 1 ? absl::StrCat("(", shape[0], ",)")
                        : absl::StrCat("(", absl::StrJoin(shape, ", "), ")");
  std::string dict =
      absl::StrCat("{'descr': '", dtype == NpyDtype::kFloat32 ? "<f4" : "<f8",
                   "', 'fortran_order': False, 'shape': ", shape_tuple, ", }");
  const size_t preamble = kMagicSize + 2 + 2;
  const size_t unpadded = preamble + dict.size() + 1;  // + '\n'
  dict.append((kAlignment - unpadded % kAlignment) % kAlignment, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicSize);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(dict.size() & 0xff);
  out += static_cast<char>((dict.size() >> 8) & 0xff);
  out += dict;
  return out;
}

absl::Status WriteNpy(const std::string& path, NpyDtype dtype,
                      const std::vector<int64_t>& shape, const void* data) {
  const std::string header = EncodeNpyHeader(dtype, shape);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  const size_t bytes = static_cast<size_t>(n) * NpyDtypeSize(dtype);
  FilePtr f(std::fopen(path.c_str(), "wb"));
  if (!f) return ErrnoStatus(path, "cannot create", errno);
  if (std::fwrite(header.data(), 1, header.size(), f.get()) != header.size() ||
      (bytes > 0 && std::fwrite(data, 1, bytes, f.get()) != bytes)) {
    return ErrnoStatus(path, "cannot write", errno);
  }
  if (std::fclose(f.release()) != 0) {
    return ErrnoStatus(path, "cannot close", errno);
  }
  return absl::OkStatus();
}

}  // namespace fnprobe
