#include "common/safetensors_writer.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/env.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors_writer assumes a little-endian host");

namespace fnprobe {
namespace {

using Json = nlohmann::json;

constexpr char kMetadataKey[] = "__metadata__";
// Written first in __metadata__, as transformers does; the rest by key.
constexpr char kFormatKey[] = "format";

// A JSON string literal (escaping as serde_json and Python's json do, UTF-8
// kept as is). Invalid UTF-8 becomes U+FFFD rather than throwing.
std::string JsonQuote(const std::string& s) {
  return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool IsValidUtf8(const std::string& s) {
  try {
    (void)Json(s).dump();
    return true;
  } catch (const Json::exception&) {
    return false;
  }
}

// The "__metadata__" object: "format" first, then the other keys in order.
std::string MetadataJson(const std::map<std::string, std::string>& metadata) {
  std::vector<std::string> fields;
  auto format = metadata.find(kFormatKey);
  if (format != metadata.end()) {
    fields.push_back(JsonQuote(format->first) + ":" +
                     JsonQuote(format->second));
  }
  for (const auto& [key, value] : metadata) {
    if (key != kFormatKey)
      fields.push_back(JsonQuote(key) + ":" + JsonQuote(value));
  }
  return absl::StrCat("{", absl::StrJoin(fields, ","), "}");
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ","), "]");
}

// Copies `values` into little-endian bytes.
template <typename T>
std::vector<uint8_t> ToBytes(absl::Span<const T> values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

}  // namespace

absl::Status SafetensorsWriter::Add(std::string name, DType dtype,
                                    std::vector<int64_t> shape,
                                    std::vector<uint8_t> bytes) {
  if (name.empty()) return absl::InvalidArgumentError("tensor name is empty");
  if (name == kMetadataKey || entries_.count(name) > 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': name is reserved or already added"));
  }
  if (!IsValidUtf8(name)) {
    return absl::InvalidArgumentError("tensor name is not valid UTF-8");
  }
  uint64_t needed = DTypeSize(dtype);
  for (int64_t dim : shape) {
    if (dim < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("tensor '", name, "': negative dimension in shape ",
                       ShapeString(shape)));
    }
    if (__builtin_mul_overflow(needed, static_cast<uint64_t>(dim), &needed)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor '", name, "': shape ", ShapeString(shape), " overflows"));
    }
  }
  if (needed != bytes.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor '", name, "': shape/byte-count mismatch: shape ",
                     ShapeString(shape), " of ", DTypeName(dtype), " needs ",
                     needed, " bytes, got ", bytes.size()));
  }
  entries_.emplace(std::move(name),
                   Entry{dtype, std::move(shape), std::move(bytes)});
  return absl::OkStatus();
}

absl::Status SafetensorsWriter::AddFloat32(std::string name,
                                           std::vector<int64_t> shape,
                                           absl::Span<const float> values) {
  return Add(std::move(name), DType::kF32, std::move(shape), ToBytes(values));
}

absl::Status SafetensorsWriter::AddInt64(std::string name,
                                         std::vector<int64_t> shape,
                                         absl::Span<const int64_t> values) {
  return Add(std::move(name), DType::kI64, std::move(shape), ToBytes(values));
}

void SafetensorsWriter::SetMetadata(std::string key, std::string value) {
  metadata_[std::move(key)] = std::move(value);
}

absl::Status SafetensorsWriter::WriteFile(const std::string& path) const {
  PosixEnv env;
  return WriteFile(env, path);
}

absl::Status SafetensorsWriter::WriteFile(Env& env,
                                          const std::string& path) const {
  return WriteFileAtomically(env, path, Serialize());
}

std::string SafetensorsWriter::Serialize() const {
  // Layout order: dtype size descending, then name (entries_ is by name).
  using Item = const std::pair<const std::string, Entry>*;
  std::vector<Item> order;
  order.reserve(entries_.size());
  for (const auto& item : entries_) order.push_back(&item);
  std::stable_sort(order.begin(), order.end(), [](Item a, Item b) {
    return DTypeSize(a->second.dtype) > DTypeSize(b->second.dtype);
  });

  std::vector<std::string> fields;
  if (!metadata_.empty()) {
    fields.push_back(
        absl::StrCat("\"", kMetadataKey, "\":", MetadataJson(metadata_)));
  }
  uint64_t offset = 0;
  for (Item item : order) {
    const Entry& entry = item->second;
    const uint64_t end = offset + entry.bytes.size();
    fields.push_back(absl::StrCat(
        JsonQuote(item->first), ":{\"dtype\":\"", DTypeName(entry.dtype),
        "\",\"shape\":", ShapeString(entry.shape), ",\"data_offsets\":[",
        offset, ",", end, "]}"));
    offset = end;
  }
  std::string header = absl::StrCat("{", absl::StrJoin(fields, ","), "}");
  header.append((8 - header.size() % 8) % 8, ' ');

  std::string out;
  out.reserve(8 + header.size() + offset);
  const uint64_t header_size = header.size();
  out.append(reinterpret_cast<const char*>(&header_size), sizeof(header_size));
  out += header;
  for (Item item : order) {
    const std::vector<uint8_t>& bytes = item->second.bytes;
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  return out;
}

}  // namespace fnprobe
