#include "common/safetensors_reader.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <tuple>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/half_float.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"

// Tensor bytes are read as little-endian by memcpy into native integers.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors_reader assumes a little-endian host");

namespace fnprobe {
namespace {

using Json = nlohmann::json;

// The same limit as the reference (Rust) reader.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
constexpr int kMaxJsonDepth = 64;
constexpr size_t kMaxNameShown = 128;
constexpr char kMetadataKey[] = "__metadata__";

// A name from the file, escaped and bounded for use in an error message.
std::string Shown(absl::string_view name) {
  if (name.size() <= kMaxNameShown) return absl::Utf8SafeCEscape(name);
  size_t cut = kMaxNameShown;
  // Do not split a UTF-8 sequence: back up over continuation bytes.
  while (cut > 0 && (static_cast<uint8_t>(name[cut]) & 0xc0) == 0x80) --cut;
  return absl::StrCat(absl::Utf8SafeCEscape(name.substr(0, cut)), "...");
}

// "<path>: tensor '<name>': <message>" as INVALID_ARGUMENT.
absl::Status TensorError(const std::string& path, absl::string_view name,
                         absl::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ": tensor '", Shown(name), "': ", message));
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid
// (truncated, overlong, surrogate, above U+10FFFF, stray continuation).
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const uint8_t lead = static_cast<uint8_t>(s[i]);
  if (lead < 0x80) return 1;
  size_t length;
  uint8_t second_min = 0x80, second_max = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    length = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    length = 3;
    if (lead == 0xe0) second_min = 0xa0;  // Overlong.
    if (lead == 0xed) second_max = 0x9f;  // Surrogates.
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    length = 4;
    if (lead == 0xf0) second_min = 0x90;  // Overlong.
    if (lead == 0xf4) second_max = 0x8f;  // Above U+10FFFF.
  } else {
    return 0;
  }
  if (s.size() - i < length) return 0;
  const uint8_t second = static_cast<uint8_t>(s[i + 1]);
  if (second < second_min || second > second_max) return 0;
  for (size_t k = 2; k < length; ++k) {
    if ((static_cast<uint8_t>(s[i + k]) & 0xc0) != 0x80) return 0;
  }
  return length;
}

// Offset of the first byte that is not valid UTF-8, or npos.
size_t FindInvalidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const size_t length = Utf8SequenceLength(s, i);
    if (length == 0) return i;
    i += length;
  }
  return absl::string_view::npos;
}

// The deepest nesting of arrays/objects in JSON text (strings skipped).
// Checked before parsing so hostile input cannot make the parser build deep
// stacks.
int MaxJsonDepth(absl::string_view text) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      max_depth = std::max(max_depth, ++depth);
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return max_depth;
}

// Parses the header text into a JSON object, refusing invalid UTF-8, deep
// nesting, syntax errors, duplicate keys and non-object headers.
absl::StatusOr<Json> ParseHeaderJson(const std::string& path,
                                     absl::string_view text) {
  const size_t bad = FindInvalidUtf8(text);
  if (bad != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header is not valid UTF-8 (byte ", bad, " of the header)"));
  }
  if (MaxJsonDepth(text) > kMaxJsonDepth) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header JSON nests deeper than ", kMaxJsonDepth, " levels"));
  }
  // One key set per open object, to catch duplicate keys, which the JSON
  // library would otherwise resolve silently (last one wins).
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  Json::parser_callback_t callback = [&](int, Json::parse_event_t event,
                                         Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == Json::parse_event_t::key && !open_objects.empty() &&
               parsed.is_string()) {
      const std::string& key = parsed.get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && duplicate.empty()) {
        duplicate = key;
      }
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text.begin(), text.end(), callback);
  } catch (const Json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header is not valid JSON: ", e.what()));
  }
  if (!duplicate.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header has duplicate key '", Shown(duplicate), "'"));
  }
  if (!header.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": header is a JSON ", header.type_name(), ", not an object"));
  }
  return header;
}

// A JSON non-negative integer as uint64; false for anything else.
bool AsUint64(const Json& value, uint64_t* out) {
  if (!value.is_number_unsigned()) return false;
  *out = value.get<uint64_t>();
  return true;
}

// Validates "shape": an array of non-negative integers that fit int64.
absl::StatusOr<std::vector<int64_t>> ParseShape(const std::string& path,
                                                absl::string_view name,
                                                const Json& entry) {
  auto it = entry.find("shape");
  if (it == entry.end()) return TensorError(path, name, "missing 'shape'");
  if (!it->is_array()) {
    return TensorError(path, name, "'shape' is not an array");
  }
  std::vector<int64_t> shape;
  for (const Json& dim : *it) {
    uint64_t value;
    if (!AsUint64(dim, &value) || value > static_cast<uint64_t>(INT64_MAX)) {
      // Numbers are shown; other values by type, as they may be huge.
      const std::string shown =
          dim.is_number() ? dim.dump() : absl::StrCat("a ", dim.type_name());
      return TensorError(path, name,
                         absl::StrCat("'shape' holds ", shown,
                                      ", not a non-negative integer"));
    }
    shape.push_back(static_cast<int64_t>(value));
  }
  return shape;
}

// The byte count of a tensor of `shape` and `dtype`, or false on overflow.
bool ByteCount(const std::vector<int64_t>& shape, DType dtype,
               uint64_t* bytes) {
  uint64_t count = DTypeSize(dtype);
  for (int64_t dim : shape) {
    if (__builtin_mul_overflow(count, static_cast<uint64_t>(dim), &count)) {
      return false;
    }
  }
  *bytes = count;
  return true;
}

// A tensor entry with its offsets in the data region.
struct ParsedEntry {
  TensorView view;
  uint64_t begin = 0;
  uint64_t end = 0;
};

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// Validates "data_offsets" against the data region: [begin, end] with
// begin <= end <= data_size. Past the end is DATA_LOSS (truncated file).
absl::Status ParseOffsets(const std::string& path, absl::string_view name,
                          const Json& entry, uint64_t data_size,
                          ParsedEntry* parsed) {
  auto it = entry.find("data_offsets");
  if (it == entry.end()) {
    return TensorError(path, name, "missing 'data_offsets'");
  }
  if (!it->is_array() || it->size() != 2 ||
      !AsUint64((*it)[0], &parsed->begin) ||
      !AsUint64((*it)[1], &parsed->end)) {
    return TensorError(path, name,
                       "'data_offsets' is not [begin, end] with non-negative "
                       "integers");
  }
  const std::string offsets =
      absl::StrCat("data_offsets [", parsed->begin, ",", parsed->end, "]");
  if (parsed->begin > parsed->end) {
    return TensorError(path, name, absl::StrCat(offsets, " has begin > end"));
  }
  if (parsed->end > data_size) {
    return absl::DataLossError(absl::StrCat(
        path, ": tensor '", Shown(name), "': ", offsets,
        " outside the data region (", data_size, " bytes; file truncated?)"));
  }
  return absl::OkStatus();
}

// Validates one tensor entry; `data` is the start of the data region.
absl::StatusOr<ParsedEntry> ParseEntry(const std::string& path,
                                       const std::string& name,
                                       const Json& entry, const uint8_t* data,
                                       uint64_t data_size) {
  if (!entry.is_object()) {
    return TensorError(path, name, "entry is not a JSON object");
  }
  ParsedEntry parsed;
  parsed.view.name = name;
  auto dtype_it = entry.find("dtype");
  if (dtype_it == entry.end())
    return TensorError(path, name, "missing 'dtype'");
  if (!dtype_it->is_string()) {
    return TensorError(path, name, "'dtype' is not a string");
  }
  absl::StatusOr<DType> dtype =
      ParseDType(dtype_it->get_ref<const std::string&>());
  if (!dtype.ok()) return TensorError(path, name, dtype.status().message());
  parsed.view.dtype = *dtype;
  FNPROBE_ASSIGN_OR_RETURN(parsed.view.shape, ParseShape(path, name, entry));
  FNPROBE_RETURN_IF_ERROR(ParseOffsets(path, name, entry, data_size, &parsed));
  const uint64_t stored = parsed.end - parsed.begin;
  uint64_t needed = 0;
  const bool fits = ByteCount(parsed.view.shape, parsed.view.dtype, &needed);
  if (!fits || needed != stored) {
    return TensorError(
        path, name,
        absl::StrCat("shape/byte-count mismatch: shape ",
                     ShapeString(parsed.view.shape), " of ",
                     DTypeName(parsed.view.dtype), " needs ",
                     fits ? absl::StrCat(needed, " bytes") : "over 2^64 bytes",
                     ", data_offsets [", parsed.begin, ",", parsed.end,
                     "] hold ", stored));
  }
  parsed.view.data = data + parsed.begin;
  parsed.view.nbytes = static_cast<size_t>(stored);
  return parsed;
}

// Validates "__metadata__": an object mapping strings to strings.
absl::Status ParseMetadata(const std::string& path, const Json& value,
                           std::map<std::string, std::string>* metadata) {
  if (!value.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": __metadata__ is a JSON ", value.type_name(),
                     ", not an object of strings"));
  }
  for (auto it = value.begin(); it != value.end(); ++it) {
    if (!it->is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": __metadata__ key '", Shown(it.key()),
                       "' holds a JSON ", it->type_name(), ", not a string"));
    }
    (*metadata)[it.key()] = it->get<std::string>();
  }
  return absl::OkStatus();
}

// Sorts entries by data offset and refuses any two non-empty tensors whose
// byte ranges intersect. Empty tensors occupy no bytes and never overlap.
absl::Status SortAndCheckOverlap(const std::string& path,
                                 std::vector<ParsedEntry>* entries) {
  std::sort(entries->begin(), entries->end(),
            [](const ParsedEntry& a, const ParsedEntry& b) {
              return std::tie(a.begin, a.end, a.view.name) <
                     std::tie(b.begin, b.end, b.view.name);
            });
  const ParsedEntry* furthest = nullptr;  // Non-empty entry reaching furthest.
  for (const ParsedEntry& entry : *entries) {
    if (entry.begin == entry.end) continue;
    if (furthest != nullptr && entry.begin < furthest->end) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": tensors '", Shown(furthest->view.name), "' [",
                       furthest->begin, ",", furthest->end, "] and '",
                       Shown(entry.view.name), "' [", entry.begin, ",",
                       entry.end, "] overlap"));
    }
    if (furthest == nullptr || entry.end > furthest->end) furthest = &entry;
  }
  return absl::OkStatus();
}

// Reads the header length field and returns the header text, checking it
// against the limit and the file size.
absl::StatusOr<absl::string_view> HeaderText(const MappedFile& file) {
  const std::string& path = file.path();
  if (file.size() < 8) {
    return absl::DataLossError(
        absl::StrCat(path, ": file is truncated: ", file.size(),
                     " bytes, too short for the 8-byte header length"));
  }
  uint64_t header_length;
  std::memcpy(&header_length, file.data(), sizeof(header_length));
  if (header_length > kMaxHeaderBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header length ", header_length,
                     " exceeds the limit of ", kMaxHeaderBytes, " bytes"));
  }
  if (header_length > file.size() - 8) {
    return absl::DataLossError(
        absl::StrCat(path, ": header length ", header_length,
                     " runs past the end of the file (file truncated? only ",
                     file.size() - 8, " bytes follow the length field)"));
  }
  return absl::string_view(reinterpret_cast<const char*>(file.data()) + 8,
                           static_cast<size_t>(header_length));
}

// Copies `n` elements of type Src from unaligned `bytes`, converting each
// with `convert`.
template <typename Src, typename Dst, typename Convert>
std::vector<Dst> ConvertElements(const uint8_t* bytes, size_t n,
                                 Convert convert) {
  std::vector<Dst> out(n);
  for (size_t i = 0; i < n; ++i) {
    Src value;
    std::memcpy(&value, bytes + i * sizeof(Src), sizeof(Src));
    out[i] = convert(value);
  }
  return out;
}

template <typename Src>
std::vector<int64_t> WidenInts(const TensorView& view) {
  return ConvertElements<Src, int64_t>(
      view.data, view.nbytes / sizeof(Src),
      [](Src value) { return static_cast<int64_t>(value); });
}

}  // namespace

int64_t TensorView::numel() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

absl::StatusOr<std::unique_ptr<SafetensorsReader>> SafetensorsReader::Open(
    const std::string& path) {
  std::unique_ptr<SafetensorsReader> reader(new SafetensorsReader());
  FNPROBE_ASSIGN_OR_RETURN(reader->file_, MappedFile::Open(path));
  const MappedFile& file = *reader->file_;
  FNPROBE_ASSIGN_OR_RETURN(absl::string_view text, HeaderText(file));
  FNPROBE_ASSIGN_OR_RETURN(Json header, ParseHeaderJson(path, text));

  const uint8_t* data = file.data() + 8 + text.size();
  const uint64_t data_size = file.size() - 8 - text.size();
  std::vector<ParsedEntry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == kMetadataKey) {
      FNPROBE_RETURN_IF_ERROR(ParseMetadata(path, *it, &reader->metadata_));
      continue;
    }
    FNPROBE_ASSIGN_OR_RETURN(ParsedEntry entry,
                             ParseEntry(path, it.key(), *it, data, data_size));
    entries.push_back(std::move(entry));
  }
  FNPROBE_RETURN_IF_ERROR(SortAndCheckOverlap(path, &entries));

  reader->names_.reserve(entries.size());
  reader->tensors_.reserve(entries.size());
  for (ParsedEntry& entry : entries) {
    reader->names_.push_back(entry.view.name);
    std::string name = entry.view.name;
    reader->tensors_.emplace(std::move(name), std::move(entry.view));
  }
  return reader;
}

const TensorView* SafetensorsReader::Find(absl::string_view name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

absl::StatusOr<const TensorView*> SafetensorsReader::Get(
    absl::string_view name) const {
  const TensorView* view = Find(name);
  if (view == nullptr) {
    return absl::NotFoundError(
        absl::StrCat(path(), ": no tensor '", Shown(name), "'"));
  }
  return view;
}

absl::StatusOr<std::vector<float>> SafetensorsReader::ReadFloat32(
    absl::string_view name) const {
  FNPROBE_ASSIGN_OR_RETURN(const TensorView* view, Get(name));
  const size_t n = view->nbytes / DTypeSize(view->dtype);
  switch (view->dtype) {
    case DType::kF32:
      return ConvertElements<float, float>(view->data, n,
                                           [](float v) { return v; });
    case DType::kF64:
      return ConvertElements<double, float>(
          view->data, n, [](double v) { return static_cast<float>(v); });
    case DType::kF16:
      return ConvertElements<uint16_t, float>(view->data, n, HalfToFloat);
    case DType::kBF16:
      return ConvertElements<uint16_t, float>(view->data, n, BFloat16ToFloat);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat(path(), ": tensor '", Shown(name), "' is ",
                       DTypeName(view->dtype), ", not a floating dtype"));
  }
}

absl::StatusOr<std::vector<int64_t>> SafetensorsReader::ReadInt64(
    absl::string_view name) const {
  FNPROBE_ASSIGN_OR_RETURN(const TensorView* view, Get(name));
  switch (view->dtype) {
    case DType::kI64:
      return WidenInts<int64_t>(*view);
    case DType::kI32:
      return WidenInts<int32_t>(*view);
    case DType::kI16:
      return WidenInts<int16_t>(*view);
    case DType::kI8:
      return WidenInts<int8_t>(*view);
    case DType::kU8:
      return WidenInts<uint8_t>(*view);
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          path(), ": tensor '", Shown(name), "' is ", DTypeName(view->dtype),
          ", not an integer dtype (I64, I32, I16, I8, U8)"));
  }
}

}  // namespace fnprobe
