#include "client/spec_reader.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/yaml_to_json.h"
#include "common/file_util.h"
#include "common/status_util.h"

namespace fnprobe::client {
namespace {

bool IsYamlPath(const std::string& path) {
  return absl::EndsWithIgnoreCase(path, ".yaml") ||
         absl::EndsWithIgnoreCase(path, ".yml");
}

}  // namespace

absl::StatusOr<v1::ExperimentSpec> ParseSpecText(absl::string_view text,
                                                 bool yaml,
                                                 absl::string_view source) {
  std::string json(text);
  if (yaml) {
    FNPROBE_ASSIGN_OR_RETURN(json, YamlToJson(text, source));
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  v1::ExperimentSpec spec;
  auto status =
      google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not an experiment spec: ", std::string(status.message())));
  }
  return spec;
}

absl::StatusOr<v1::ExperimentSpec> ReadSpecFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read spec file ", text.status().message()));
  }
  return ParseSpecText(*text, IsYamlPath(path), path);
}

}  // namespace fnprobe::client
