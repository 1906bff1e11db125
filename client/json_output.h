// Protobuf messages as the JSON that `--json` prints: the proto3 JSON
// mapping (lowerCamelCase names, int64 as strings, enums by name), with
// fields at their default values printed too, so scripts see every field.
//
// Thread-safe: free functions without state.
#ifndef FNPROBE_CLIENT_JSON_OUTPUT_H_
#define FNPROBE_CLIENT_JSON_OUTPUT_H_

#include <google/protobuf/message.h>

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace fnprobe::client {

// `message` as JSON; indented when `pretty`, one line otherwise. INTERNAL if
// the message cannot be printed (it always can for our protos).
absl::StatusOr<std::string> MessageToJson(
    const google::protobuf::Message& message, bool pretty);

// Writes `message` as indented JSON followed by a newline.
absl::Status PrintJson(const google::protobuf::Message& message,
                       std::ostream& out);

// Writes one line of compact JSON (for streams of messages, e.g. watch).
absl::Status PrintJsonLine(const google::protobuf::Message& message,
                           std::ostream& out);

// Writes a JSON object whose members are `names[i]: messages[i]` (each
// printed as MessageToJson), for commands that combine several responses.
// REQUIRES: names.size() == messages.size().
absl::Status PrintJsonObject(
    const std::vector<std::string>& names,
    const std::vector<const google::protobuf::Message*>& messages,
    std::ostream& out);

// Writes a JSON array of `messages`.
absl::Status PrintJsonArray(
    const std::vector<const google::protobuf::Message*>& messages,
    std::ostream& out);

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_JSON_OUTPUT_H_
