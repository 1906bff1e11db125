#include "server/inference/tokenizer/json_fields.h"

#include "absl/strings/str_cat.h"
#include "server/inference/tokenizer/utf8.h"

namespace fnprobe {
namespace {

using nlohmann::json;

// The member `key`, or nullptr if absent or null.
const json* Find(const json& obj, absl::string_view key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(std::string(key));
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

}  // namespace

JsonPath::JsonPath(absl::string_view source, absl::string_view path)
    : source_(source), path_(path) {}

JsonPath JsonPath::Field(absl::string_view name) const {
  return JsonPath(source_, path_.empty() ? std::string(name)
                                         : absl::StrCat(path_, ".", name));
}

JsonPath JsonPath::Index(size_t index) const {
  return JsonPath(source_, absl::StrCat(path_, "[", index, "]"));
}

absl::Status JsonPath::Error(absl::string_view reason) const {
  if (path_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", reason));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(source_, ": ", path_, ": ", reason));
}

absl::StatusOr<std::string> GetString(const json& obj, absl::string_view key,
                                      const JsonPath& at) {
  const json* v = Find(obj, key);
  if (v == nullptr) return at.Field(key).Error("missing");
  if (!v->is_string()) return at.Field(key).Error("must be a string");
  return v->get<std::string>();
}

absl::StatusOr<std::string> GetString(const json& obj, absl::string_view key,
                                      const JsonPath& at,
                                      absl::string_view default_value) {
  if (Find(obj, key) == nullptr) return std::string(default_value);
  return GetString(obj, key, at);
}

absl::StatusOr<bool> GetBool(const json& obj, absl::string_view key,
                             const JsonPath& at, bool default_value) {
  const json* v = Find(obj, key);
  if (v == nullptr) return default_value;
  if (!v->is_boolean()) return at.Field(key).Error("must be a boolean");
  return v->get<bool>();
}

absl::StatusOr<int64_t> GetInt(const json& obj, absl::string_view key,
                               const JsonPath& at) {
  const json* v = Find(obj, key);
  if (v == nullptr) return at.Field(key).Error("missing");
  if (!v->is_number_integer()) {
    return at.Field(key).Error("must be an integer");
  }
  return v->get<int64_t>();
}

absl::StatusOr<int64_t> GetInt(const json& obj, absl::string_view key,
                               const JsonPath& at, int64_t default_value) {
  if (Find(obj, key) == nullptr) return default_value;
  return GetInt(obj, key, at);
}

absl::StatusOr<const json*> GetArray(const json& obj, absl::string_view key,
                                     const JsonPath& at) {
  const json* v = Find(obj, key);
  if (v == nullptr) return at.Field(key).Error("missing");
  if (!v->is_array()) return at.Field(key).Error("must be an array");
  return v;
}

absl::StatusOr<std::string> GetComponentType(const json& obj,
                                             absl::string_view kind,
                                             const JsonPath& at) {
  if (!obj.is_object()) {
    return at.Error(absl::StrCat(kind, " must be an object or null"));
  }
  return GetString(obj, "type", at);
}

absl::Status UnsupportedType(absl::string_view kind, absl::string_view type,
                             const JsonPath& at) {
  return at.Field("type").Error(
      absl::StrCat("unsupported ", kind, " type \"", type, "\""));
}

absl::StatusOr<std::string> GetChar(const json& obj, absl::string_view key,
                                    const JsonPath& at,
                                    absl::string_view default_value) {
  absl::StatusOr<std::string> s = GetString(obj, key, at, default_value);
  if (!s.ok()) return s;
  if (s->empty() || utf8::CharLength(*s, 0) != s->size()) {
    return at.Field(key).Error("must be a single character");
  }
  return s;
}

absl::StatusOr<std::unique_ptr<RegexPattern>> GetPattern(const json& obj,
                                                         const JsonPath& at) {
  const JsonPath pattern_at = at.Field("pattern");
  const json* v = Find(obj, "pattern");
  if (v == nullptr) return pattern_at.Error("missing");
  const bool is_string = Find(*v, "String") != nullptr;
  const bool is_regex = Find(*v, "Regex") != nullptr;
  if (is_string == is_regex) {
    return pattern_at.Error("must be {\"String\": ...} or {\"Regex\": ...}");
  }
  const char* key = is_string ? "String" : "Regex";
  absl::StatusOr<std::string> text = GetString(*v, key, pattern_at);
  if (!text.ok()) return text.status();
  absl::StatusOr<std::unique_ptr<RegexPattern>> pattern =
      is_string ? RegexPattern::Literal(*text) : RegexPattern::Compile(*text);
  if (!pattern.ok()) {
    return pattern_at.Field(key).Error(pattern.status().message());
  }
  return pattern;
}

}  // namespace fnprobe
