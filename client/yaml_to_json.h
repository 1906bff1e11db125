// Converts a YAML document to JSON text, so that YAML experiment specs go
// through the same proto JSON parser as JSON ones. Plain (unquoted) scalars
// that read as YAML 1.2 core-schema null, booleans, integers or floats
// become JSON literals; every other scalar, and every quoted one, becomes a
// string. Mapping keys must be scalars. Anchors and aliases are refused
// before anything is built, so that a "billion laughs" document costs no
// more than its text.
//
// Thread-safe: free function without state.
#ifndef FNPROBE_CLIENT_YAML_TO_JSON_H_
#define FNPROBE_CLIENT_YAML_TO_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe::client {

// The JSON text of the YAML document `yaml`. INVALID_ARGUMENT naming
// `source`, the line and column and the parser's reason for YAML that does
// not parse, and for a document that is empty, has a non-scalar key, has
// an anchor or alias, or holds text that is not UTF-8.
absl::StatusOr<std::string> YamlToJson(absl::string_view yaml,
                                       absl::string_view source);

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_YAML_TO_JSON_H_
