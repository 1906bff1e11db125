#include "client/yaml_to_json.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace fnprobe::client {
namespace {

using Json = nlohmann::ordered_json;

bool IsOneOf(const std::string& s, std::initializer_list<const char*> words) {
  for (const char* w : words) {
    if (s == w) return true;
  }
  return false;
}

// A plain scalar as YAML 1.2's core schema reads it.
Json PlainScalar(const std::string& s) {
  if (IsOneOf(s, {"", "~", "null", "Null", "NULL"})) return nullptr;
  if (IsOneOf(s, {"true", "True", "TRUE"})) return true;
  if (IsOneOf(s, {"false", "False", "FALSE"})) return false;
  int64_t i;
  if (absl::SimpleAtoi(s, &i) && s.find_first_of("xX") == std::string::npos) {
    return i;
  }
  uint64_t u;
  if (absl::SimpleAtoi(s, &u) && s.find_first_of("xX") == std::string::npos) {
    return u;
  }
  const bool numeric_start =
      !s.empty() &&
      (absl::ascii_isdigit(s[0]) || s[0] == '-' || s[0] == '+' || s[0] == '.');
  double d;
  if (numeric_start && absl::SimpleAtod(s, &d) && std::isfinite(d)) return d;
  return s;  // .inf, .nan and words stay strings
}

// Converts `node`; sets *error on the first problem.
Json Convert(const YAML::Node& node, std::string* error) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return nullptr;
    case YAML::NodeType::Scalar:
      if (node.Tag() == "!") return node.Scalar();  // quoted
      return PlainScalar(node.Scalar());
    case YAML::NodeType::Sequence: {
      Json array = Json::array();
      for (const auto& item : node) array.push_back(Convert(item, error));
      return array;
    }
    case YAML::NodeType::Map: {
      Json object = Json::object();
      for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
          *error = absl::StrCat("line ", entry.first.Mark().line + 1,
                                ": mapping keys must be scalars");
          return object;
        }
        object[entry.first.Scalar()] = Convert(entry.second, error);
      }
      return object;
    }
  }
  return nullptr;
}

// Finds the first anchor or alias of a document from the parser's events,
// which never expand an alias.
class AnchorFinder : public YAML::EventHandler {
 public:
  // Where the first one is, if any.
  const std::optional<YAML::Mark>& found() const { return found_; }

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Note(mark, anchor);
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    Note(mark, 1);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&,
                YAML::anchor_t anchor, const std::string&) override {
    Note(mark, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&,
                       YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Note(mark, anchor);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&,
                  YAML::anchor_t anchor, YAML::EmitterStyle::value) override {
    Note(mark, anchor);
  }
  void OnMapEnd() override {}

 private:
  void Note(const YAML::Mark& mark, YAML::anchor_t anchor) {
    if (anchor != YAML::NullAnchor && !found_.has_value()) found_ = mark;
  }

  std::optional<YAML::Mark> found_;
};

}  // namespace

absl::StatusOr<std::string> YamlToJson(absl::string_view yaml,
                                       absl::string_view source) {
  YAML::Node root;
  try {
    // Anchors and aliases first, from the parser's events alone: expanding
    // aliases of aliases ("billion laughs") would take exponential time and
    // memory, and a spec has no need for them.
    std::istringstream in{std::string(yaml)};
    YAML::Parser parser(in);
    AnchorFinder finder;
    // The first document only: it is all YAML::Load reads, and on some
    // malformed text (",\"cl\0") HandleNextDocument keeps returning true
    // without consuming anything, so looping over documents never ends.
    parser.HandleNextDocument(finder);
    if (finder.found().has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ": line ", finder.found()->line + 1, ", column ",
          finder.found()->column + 1,
          ": YAML anchors and aliases (&name, *name) are not accepted in "
          "experiment specs; write the values out"));
    }
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": line ", e.mark.line + 1, ", column ",
                     e.mark.column + 1, ": ", e.msg));
  }
  if (!root.IsDefined() || root.IsNull()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": empty YAML document"));
  }
  std::string error;
  Json json = Convert(root, &error);
  if (!error.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source, ": ", error));
  }
  // yaml-cpp passes bytes through unchecked; JSON text must be UTF-8, and
  // dump() throws on anything else.
  try {
    return json.dump();
  } catch (const Json::type_error& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": not valid UTF-8: ", e.what()));
  }
}

}  // namespace fnprobe::client
