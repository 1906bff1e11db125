// Fuzz target: a checkpoint's config.json
// (server/inference/model/model_config.h), the input being the JSON text; an
// accepted config's parameter count is computed too, as loading a model
// reports it.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "server/inference/model/model_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  auto config = fnprobe::ModelConfig::FromJson(json, "fuzz");
  if (!config.ok()) return 0;
  (void)config->ParameterCount();
  (void)fnprobe::FamilyName(config->family);
  return 0;
}
