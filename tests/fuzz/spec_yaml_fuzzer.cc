// Fuzz target: a YAML experiment spec as the CLI reads it (`fnprobe submit
// spec.yaml`): YamlToJson, whose output must be JSON text, then the proto
// JSON mapping (ParseSpecText) and spec validation.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "client/spec_reader.h"
#include "client/yaml_to_json.h"
#include "nlohmann/json.hpp"
#include "server/analysis/experiment_spec.h"
#include "tests/fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::string> json = fnprobe::client::YamlToJson(text, "fuzz");
  if (!json.ok()) return 0;
  FUZZ_CHECK(nlohmann::json::accept(*json), *json);
  absl::StatusOr<fnprobe::v1::ExperimentSpec> spec =
      fnprobe::client::ParseSpecText(text, /*yaml=*/true, "fuzz");
  if (spec.ok()) (void)fnprobe::ValidateSpec(*spec);
  return 0;
}
