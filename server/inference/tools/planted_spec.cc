#include "server/inference/tools/planted_spec.h"

#include <initializer_list>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/file_util.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/json_fields.h"

namespace fnprobe {
namespace {

using Json = nlohmann::json;

// Refuses members of `obj` other than `allowed`, so that a misspelt key
// ("word") is reported rather than ignored.
absl::Status CheckKeys(const Json& obj,
                       std::initializer_list<const char*> allowed,
                       const JsonPath& at) {
  for (const auto& item : obj.items()) {
    bool known = false;
    for (const char* key : allowed) known = known || item.key() == key;
    if (!known) {
      return at.Field(item.key())
          .Error(absl::StrCat("unknown field (expected ",
                              absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

bool IsNameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
         c == '-' || c == '.';
}

absl::StatusOr<std::string> ParseName(const Json& condition,
                                      const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(std::string name, GetString(condition, "name", at));
  const JsonPath field = at.Field("name");
  if (name.empty()) return field.Error("must not be empty");
  if (name.size() > kMaxPlantedNameLength) {
    return field.Error(
        absl::StrCat("longer than ", kMaxPlantedNameLength, " characters"));
  }
  for (char c : name) {
    if (!IsNameChar(c)) {
      return field.Error(absl::StrCat(
          "'", name,
          "' may contain only ASCII letters, digits, '_', '-' and '.'"));
    }
  }
  return name;
}

absl::Status CheckWord(const std::string& word, const JsonPath& at) {
  if (word.empty()) return at.Error("must not be empty");
  if (word.size() > kMaxPlantedWordLength) {
    return at.Error(
        absl::StrCat("longer than ", kMaxPlantedWordLength, " letters"));
  }
  for (char c : word) {
    if (!absl::ascii_isalpha(static_cast<unsigned char>(c))) {
      // JSON-quoted, so that spaces and control characters are visible.
      return at.Error(absl::StrCat(
          Json(word).dump(-1, ' ', false, Json::error_handler_t::replace),
          " is not a plain word: use only the ASCII letters a-z and A-Z"));
    }
  }
  return absl::OkStatus();
}

// Where each name and word was first seen, for duplicate errors.
struct SeenSoFar {
  absl::flat_hash_map<std::string, std::string> names;  // name -> its path
  absl::flat_hash_map<std::string, std::string> words;  // word -> condition
};

absl::StatusOr<PlantedCondition> ParseCondition(const Json& condition,
                                                const JsonPath& at,
                                                SeenSoFar& seen) {
  if (!condition.is_object()) return at.Error("must be an object");
  FNPROBE_RETURN_IF_ERROR(CheckKeys(condition, {"name", "words"}, at));
  PlantedCondition out;
  FNPROBE_ASSIGN_OR_RETURN(out.name, ParseName(condition, at));
  auto [name_it, new_name] =
      seen.names.emplace(out.name, at.Field("name").path());
  if (!new_name) {
    return at.Field("name").Error(
        absl::StrCat("'", out.name, "' duplicates ", name_it->second));
  }
  FNPROBE_ASSIGN_OR_RETURN(const Json* words, GetArray(condition, "words", at));
  const JsonPath words_at = at.Field("words");
  if (words->empty()) return words_at.Error("must list at least one word");
  for (size_t i = 0; i < words->size(); ++i) {
    const JsonPath word_at = words_at.Index(i);
    if (!(*words)[i].is_string()) return word_at.Error("must be a string");
    std::string word = (*words)[i].get<std::string>();
    FNPROBE_RETURN_IF_ERROR(CheckWord(word, word_at));
    auto [word_it, new_word] = seen.words.emplace(word, out.name);
    if (!new_word) {
      return word_at.Error(absl::StrCat("'", word,
                                        "' is already a word of condition '",
                                        word_it->second, "'"));
    }
    out.words.push_back(std::move(word));
  }
  return out;
}

}  // namespace

int64_t PlantSpec::num_words() const {
  int64_t n = 0;
  for (const PlantedCondition& c : conditions) {
    n += static_cast<int64_t>(c.words.size());
  }
  return n;
}

absl::StatusOr<PlantSpec> ParsePlantSpec(absl::string_view json,
                                         absl::string_view source) {
  const JsonPath root(source, "");
  const Json doc = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return root.Error("not valid JSON");
  if (!doc.is_object()) {
    return root.Error(R"(must be an object {"conditions": [...]})");
  }
  FNPROBE_RETURN_IF_ERROR(CheckKeys(doc, {"conditions"}, root));
  FNPROBE_ASSIGN_OR_RETURN(const Json* conditions,
                           GetArray(doc, "conditions", root));
  const JsonPath list_at = root.Field("conditions");
  if (conditions->empty()) {
    return list_at.Error("must list at least one condition");
  }
  PlantSpec spec;
  SeenSoFar seen;
  for (size_t i = 0; i < conditions->size(); ++i) {
    FNPROBE_ASSIGN_OR_RETURN(
        PlantedCondition condition,
        ParseCondition((*conditions)[i], list_at.Index(i), seen));
    spec.conditions.push_back(std::move(condition));
  }
  return spec;
}

absl::StatusOr<PlantSpec> ReadPlantSpecFile(const std::string& path) {
  FNPROBE_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParsePlantSpec(text, path);
}

}  // namespace fnprobe
