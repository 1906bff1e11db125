#include "client/json_output.h"

#include <google/protobuf/util/json_util.h>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"

namespace fnprobe::client {
namespace {

absl::StatusOr<nlohmann::ordered_json> ToNlohmann(
    const google::protobuf::Message& message) {
  FNPROBE_ASSIGN_OR_RETURN(std::string text,
                           MessageToJson(message, /*pretty=*/false));
  auto json = nlohmann::ordered_json::parse(text, nullptr,
                                            /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InternalError(absl::StrCat(
        "protobuf printed invalid JSON for ", message.GetTypeName()));
  }
  return json;
}

}  // namespace

absl::StatusOr<std::string> MessageToJson(
    const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = false;
  std::string json;
  auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot print ",
                                            message.GetTypeName(),
                                            " as JSON: ", status.ToString()));
  }
  return json;
}

absl::Status PrintJson(const google::protobuf::Message& message,
                       std::ostream& out) {
  FNPROBE_ASSIGN_OR_RETURN(std::string json,
                           MessageToJson(message, /*pretty=*/true));
  out << json;
  if (json.empty() || json.back() != '\n') out << "\n";
  return absl::OkStatus();
}

absl::Status PrintJsonLine(const google::protobuf::Message& message,
                           std::ostream& out) {
  FNPROBE_ASSIGN_OR_RETURN(std::string json,
                           MessageToJson(message, /*pretty=*/false));
  out << json << std::endl;
  return absl::OkStatus();
}

absl::Status PrintJsonObject(
    const std::vector<std::string>& names,
    const std::vector<const google::protobuf::Message*>& messages,
    std::ostream& out) {
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  for (size_t i = 0; i < names.size(); ++i) {
    FNPROBE_ASSIGN_OR_RETURN(object[names[i]], ToNlohmann(*messages[i]));
  }
  out << object.dump(2) << "\n";
  return absl::OkStatus();
}

absl::Status PrintJsonArray(
    const std::vector<const google::protobuf::Message*>& messages,
    std::ostream& out) {
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (const auto* message : messages) {
    FNPROBE_ASSIGN_OR_RETURN(nlohmann::ordered_json item, ToNlohmann(*message));
    array.push_back(std::move(item));
  }
  out << array.dump(2) << "\n";
  return absl::OkStatus();
}

}  // namespace fnprobe::client
