// Reads an experiment spec file into an ExperimentSpec: JSON through the
// proto JSON mapping (field names as in DESIGN.md, e.g. "tokensPerPrompt";
// the proto names such as "tokens_per_prompt" are accepted too), or YAML
// (.yaml / .yml) converted to JSON first. Unknown fields are errors that
// name them. The spec is not validated here: the worker does that and lists
// every problem.
//
// Thread-safe: free functions without state.
#ifndef FNPROBE_CLIENT_SPEC_READER_H_
#define FNPROBE_CLIENT_SPEC_READER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "fnprobe/v1/experiment_spec.pb.h"

namespace fnprobe::client {

// The spec in `path`. INVALID_ARGUMENT naming the file for a missing or
// unreadable file, YAML that does not parse, or JSON that does not map onto
// ExperimentSpec (unknown field, wrong type), with the parser's reason.
absl::StatusOr<v1::ExperimentSpec> ReadSpecFile(const std::string& path);

// As ReadSpecFile, from text; `yaml` selects the YAML reader and `source`
// names the text in errors.
absl::StatusOr<v1::ExperimentSpec> ParseSpecText(absl::string_view text,
                                                 bool yaml,
                                                 absl::string_view source);

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_SPEC_READER_H_
