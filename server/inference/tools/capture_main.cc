// fnprobe-capture: offline capture of one machine's prompts to a
// safetensors file. See offline_capture.h for the output format.
#include <iostream>

#include "CLI/CLI.hpp"
#include "common/dtype.h"
#include "server/inference/tools/offline_capture.h"

int main(int argc, char** argv) {
  fnprobe::OfflineCaptureOptions options;
  std::string dtype = "f32";
  std::string hooks = "all";
  CLI::App app{
      "fnprobe-capture: run prompts through a Hugging Face checkpoint and "
      "write every selected layer output, at every prompt position and "
      "every generated token, to a safetensors file."};
  app.add_option("--model-dir", options.model_dir,
                 "Checkpoint directory (config.json, *.safetensors, "
                 "tokenizer.json)")
      ->required();
  app.add_option("--prompts", options.prompts_path,
                 "JSON array of prompt strings or arrays of token ids")
      ->required();
  app.add_option("--out", options.out_path, "Output .safetensors file")
      ->required();
  app.add_option("--generate", options.generate,
                 "Tokens to generate per prompt, greedily, end-of-sequence "
                 "suppressed (default 0: prompt positions only)");
  app.add_option("--hooks", hooks,
                 "Hook selector: names, globs (blocks.*.mlp_post) or presets "
                 "residual, neurons, standard, all; comma-separated")
      ->capture_default_str();
  app.add_option("--dtype", dtype, "Compute dtype: f32, f16 or bf16")
      ->check(CLI::IsMember({"f32", "f16", "bf16"}))
      ->capture_default_str();
  app.add_option("--device", options.model.device,
                 "auto (CUDA when available), cpu, cuda or cuda:N")
      ->capture_default_str();
  app.add_option("--batch", options.batch_size,
                 "Prompts run together in one batch")
      ->capture_default_str();
  app.add_option(
      "--threads", options.model.threads,
      "CPU threads for the math, set once at load (0: every CPU "
      "this process may use; the BLAS runs on one thread inside them)");
  CLI11_PARSE(app, argc, argv);

  options.hooks = {hooks};
  options.model.dtype = *fnprobe::ParseFloatDTypeFlag(dtype);  // IsMember
  absl::Status status = fnprobe::RunOfflineCapture(options, &std::cerr);
  if (!status.ok()) {
    std::cerr << "fnprobe-capture: " << status.message() << "\n";
    return 1;
  }
  return 0;
}
