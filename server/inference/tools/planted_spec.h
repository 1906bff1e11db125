// The planted-response specification that `fnprobe-make-model --planted`
// reads (PLANT.json): which conditions to plant and the made-up words that
// trigger each one.
//
//   {"conditions": [{"name": "alpha", "words": ["zorblat", "quixel"]},
//                   {"name": "beta",  "words": ["vornik"]}]}
//
// Invariants of a PlantSpec returned by ParsePlantSpec (checked there, so the
// model construction in planted_model.h can rely on them):
//   - at least one condition, each with a non-empty name made of ASCII
//     letters, digits, '_', '-' and '.' (so that it is usable as a file name
//     and an experiment condition name), names unique;
//   - each condition has at least one word; every word is 1 to
//     kMaxPlantedWordLength ASCII letters (so that it is one byte-level
//     symbol per character, has no spaces for the pre-tokenizer to split,
//     and matches the same way in every tokenizer implementation); words are
//     unique across all conditions (a token can only signal one condition);
//   - no other keys than "conditions", "name" and "words" (a misspelt key
//     is an error rather than silently ignored).
// What depends on the model (how many conditions fit, whether a word is
// already a vocabulary token) is checked by PlanModel (model_maker.h).
//
// Torch-free. Thread-safe: free functions without shared state.
#ifndef FNPROBE_SERVER_INFERENCE_TOOLS_PLANTED_SPEC_H_
#define FNPROBE_SERVER_INFERENCE_TOOLS_PLANTED_SPEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe {

inline constexpr size_t kMaxPlantedWordLength = 48;
inline constexpr size_t kMaxPlantedNameLength = 64;

struct PlantedCondition {
  std::string name;
  std::vector<std::string> words;
};

struct PlantSpec {
  std::vector<PlantedCondition> conditions;

  // Words over all conditions.
  int64_t num_words() const;
};

// Parses and validates PLANT.json text. Errors are INVALID_ARGUMENT
// "<source>: <field>: <reason>", e.g.
// "plant.json: conditions[1].words[0]: 'zorblat' is already a word of
// condition 'alpha'".
absl::StatusOr<PlantSpec> ParsePlantSpec(absl::string_view json,
                                         absl::string_view source);

// Reads and parses a PLANT.json file; NOT_FOUND (or another file-system
// error) naming the path if it cannot be read.
absl::StatusOr<PlantSpec> ReadPlantSpecFile(const std::string& path);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_TOOLS_PLANTED_SPEC_H_
