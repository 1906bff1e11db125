// fnprobe-make-model: writes a deterministic random-weight checkpoint in the
// Hugging Face layout (see server/inference/tools/model_maker.h), or with
// --planted a planted-response checkpoint whose responding units are known
// (server/inference/tools/planted_model.h).
//
//   fnprobe-make-model --shape tiny --family llama --out /tmp/llama-tiny
//   fnprobe-make-model --shape tiny --family gpt2 --planted plant.json \
//       --out /tmp/planted
//
// Prints the files written; on error prints one sentence to stderr and exits
// non-zero (2 for bad flags, 1 otherwise).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_join.h"
#include "common/dtype.h"
#include "common/env.h"
#include "server/inference/tools/model_maker.h"
#include "server/inference/tools/planted_spec.h"

namespace {

constexpr char kTool[] = "fnprobe-make-model";

// Flags as given, before the library checks them.
struct Flags {
  std::string dtype = "f32";
  std::string planted;  // PLANT.json path, or empty
};

void PrintPlanted(const fnprobe::PlantedLayout& layout) {
  std::cout << "  planted: layer " << layout.layer << " head " << layout.head
            << "; ground truth in planted.json\n";
  for (const fnprobe::PlantedConditionLayout& c : layout.conditions) {
    std::cout << "    " << c.name << ": tokens "
              << absl::StrJoin(c.token_ids, ",") << " ("
              << absl::StrJoin(c.words, ",") << "), residual dims "
              << c.input_plus << "," << c.input_minus << " -> " << c.output_plus
              << "," << c.output_minus << ", neurons "
              << absl::StrJoin(c.neurons, ",") << "\n";
  }
}

void PrintSummary(const fnprobe::MadeModel& made,
                  const fnprobe::MakeModelOptions& options, double seconds) {
  const fnprobe::ModelConfig& c = made.plan.config;
  std::cout << "wrote " << made.directory << ": " << made.plan.shape << " ("
            << fnprobe::FamilyName(c.family) << "), seed " << options.seed
            << ", " << fnprobe::DTypeName(options.dtype) << ", in "
            << std::fixed << std::setprecision(2) << seconds << " s\n";
  for (const auto& [name, size] : made.files) {
    std::cout << "  " << name
              << std::string(24 - std::min<size_t>(name.size(), 23), ' ')
              << size << " bytes";
    if (name == "model.safetensors") {
      std::cout << " (" << made.num_tensors << " tensors, "
                << made.num_parameters << " parameters)";
    }
    std::cout << "\n";
  }
  std::cout << "  model: hidden " << c.hidden_size << ", " << c.num_layers
            << " layers, " << c.num_heads << " heads";
  if (c.num_kv_heads != c.num_heads)
    std::cout << " (" << c.num_kv_heads << " kv)";
  std::cout << ", MLP " << c.intermediate_size << ", " << c.max_positions
            << " positions\n";
  std::cout << "  tokenizer: " << c.vocab_size << " ids, "
            << made.plan.learned_tokens << " learned (" << made.plan.merges
            << " merges), <|endoftext|> = " << made.plan.special_token_id
            << "\n";
  if (made.plan.planted.has_value()) PrintPlanted(*made.plan.planted);
}

}  // namespace

int main(int argc, char** argv) {
  fnprobe::MakeModelOptions options;
  Flags flags;
  CLI::App app(
      "Writes a deterministic random-weight checkpoint in the Hugging Face "
      "layout (config.json, generation_config.json, model.safetensors, "
      "tokenizer.json, tokenizer_config.json), so that demos, tests and "
      "benchmarks need no download; with --planted, one whose responding "
      "units are known (planted.json). The same flags give byte-identical "
      "files.",
      kTool);
  app.add_option(
         "--shape", options.shape,
         "Model shape: " + absl::StrJoin(fnprobe::ModelShapeNames(), "|") +
             ". tiny: hidden 64, 2 layers, 4 heads, vocab 1024, any "
             "family; galactica-125m (opt) and pythia-160m "
             "(gpt_neox) copy those models' config.json; "
             "llama-tiny: hidden 256, 4 layers, 8 heads (4 kv), "
             "vocab 2048")
      ->required();
  app.add_option(
      "--family", options.family,
      "Model family: " + absl::StrJoin(fnprobe::ModelFamilyNames(), "|") +
          ". Only for --shape tiny (default opt); named shapes "
          "imply theirs and a different one is an error");
  app.add_option("--seed", options.seed,
                 "Seed of the random weights; the same seed gives "
                 "byte-identical files")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--dtype", flags.dtype,
                 "Storage dtype of the weights: f32|f16|bf16")
      ->capture_default_str();
  app.add_option("--out", options.out_dir,
                 "Checkpoint directory to create (written to a temporary "
                 "sibling, then renamed into place)")
      ->required();
  app.add_option(
      "--planted", flags.planted,
      "PLANT.json: {\"conditions\": [{\"name\": \"alpha\", \"words\": "
      "[\"zorblat\", ...]}, ...]}. Plants units that respond to each "
      "condition's (made-up, ASCII-letter) words and writes the ground "
      "truth to planted.json. Families opt and gpt2, dtype f32 only");
  app.add_flag("--force", options.force,
               "Replace --out if it exists and is not empty (otherwise "
               "refused, leaving it untouched)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << kTool << ": " << e.what() << " (see --help)\n";
    return 2;
  }

  auto dtype = fnprobe::ParseFloatDTypeFlag(flags.dtype);
  if (!dtype.ok()) {
    std::cerr << kTool << ": --dtype: " << dtype.status().message() << "\n";
    return 2;
  }
  options.dtype = *dtype;
  if (!flags.planted.empty()) {
    auto spec = fnprobe::ReadPlantSpecFile(flags.planted);
    if (!spec.ok()) {
      std::cerr << kTool << ": --planted: " << spec.status().message() << "\n";
      return 1;
    }
    options.planted = *std::move(spec);
  }

  const auto start = std::chrono::steady_clock::now();
  fnprobe::PosixEnv env;
  options.env = &env;
  absl::StatusOr<fnprobe::MadeModel> made = fnprobe::MakeModel(options);
  if (!made.ok()) {
    std::cerr << kTool << ": " << made.status().message() << "\n";
    return 1;
  }
  PrintSummary(
      *made, options,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count());
  return 0;
}
