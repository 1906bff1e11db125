// Typed, non-throwing access to the fields of a parsed tokenizer.json, with
// errors that name the file and the field ("tok.json: model.vocab: ...").
//
// Thread-safe: JsonPath is an immutable value.
#ifndef FNPROBE_SERVER_INFERENCE_TOKENIZER_JSON_FIELDS_H_
#define FNPROBE_SERVER_INFERENCE_TOKENIZER_JSON_FIELDS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/regex_pattern.h"

namespace fnprobe {

// The location of a JSON value: the file (source) and the field path.
class JsonPath {
 public:
  JsonPath(absl::string_view source, absl::string_view path);

  // The path of member `name` / element `index` of this value.
  JsonPath Field(absl::string_view name) const;
  JsonPath Index(size_t index) const;

  // INVALID_ARGUMENT "<source>: <path>: <reason>".
  absl::Status Error(absl::string_view reason) const;

  const std::string& source() const { return source_; }
  const std::string& path() const { return path_; }

 private:
  std::string source_;
  std::string path_;
};

// Member `key` of object `obj` (at `at`). Missing members are errors unless a
// default is given; a JSON null counts as missing.
absl::StatusOr<std::string> GetString(const nlohmann::json& obj,
                                      absl::string_view key,
                                      const JsonPath& at);
absl::StatusOr<std::string> GetString(const nlohmann::json& obj,
                                      absl::string_view key, const JsonPath& at,
                                      absl::string_view default_value);
absl::StatusOr<bool> GetBool(const nlohmann::json& obj, absl::string_view key,
                             const JsonPath& at, bool default_value);
absl::StatusOr<int64_t> GetInt(const nlohmann::json& obj, absl::string_view key,
                               const JsonPath& at);
absl::StatusOr<int64_t> GetInt(const nlohmann::json& obj, absl::string_view key,
                               const JsonPath& at, int64_t default_value);
// Member `key`, which must be an array.
absl::StatusOr<const nlohmann::json*> GetArray(const nlohmann::json& obj,
                                               absl::string_view key,
                                               const JsonPath& at);

// The "type" member of a component object. `kind` ("normalizer", ...) names
// the component in the error when `obj` is not an object or lacks a type.
absl::StatusOr<std::string> GetComponentType(const nlohmann::json& obj,
                                             absl::string_view kind,
                                             const JsonPath& at);
// INVALID_ARGUMENT: `<path>.type: unsupported <kind> type "<type>"`.
absl::Status UnsupportedType(absl::string_view kind, absl::string_view type,
                             const JsonPath& at);

// A string member that must hold exactly one character (code point).
absl::StatusOr<std::string> GetChar(const nlohmann::json& obj,
                                    absl::string_view key, const JsonPath& at,
                                    absl::string_view default_value);

// Member "pattern" of `obj`: {"String": literal} or {"Regex": pattern}.
absl::StatusOr<std::unique_ptr<RegexPattern>> GetPattern(
    const nlohmann::json& obj, const JsonPath& at);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOKENIZER_JSON_FIELDS_H_
