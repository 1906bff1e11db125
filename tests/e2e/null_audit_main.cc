// fnprobe-null-audit: runs null experiments (conditions drawn from the
// baseline pool of a spec) on a running fnprobe-worker and any model it
// serves, and prints, per analysis setting, the share of non-empty null
// networks, the share of units called, the KS distance of null p-values
// from uniform and held-out accuracy against chance (tests/e2e/null_audit.h).
//
//   fnprobe-null-audit --worker 127.0.0.1:7070 --token-file tok \
//       --spec client/examples/nencka2023-small.json --model galactica-125m
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "server/analysis/experiment_spec.h"
#include "tests/e2e/null_audit.h"

namespace {

fnprobe::v1::AnalysisSpec Setting(fnprobe::v1::AnalysisSpec base,
                                  fnprobe::v1::InferenceLevel::Kind inference,
                                  fnprobe::v1::ThresholdSpec::Method method) {
  base.set_inference(inference);
  base.set_noise(fnprobe::v1::NoiseModel::OLS);
  base.mutable_threshold()->set_method(method);
  return base;
}

}  // namespace

int main(int argc, char** argv) {
  using fnprobe::v1::InferenceLevel;
  using fnprobe::v1::ThresholdSpec;
  CLI::App app{
      "Null audit: experiments whose conditions come from the "
      "baseline pool must give empty networks at the nominal rate"};
  std::string worker, token_file,
      spec_path = "client/examples/nencka2023-small.json", model;
  fnprobe::testing::NullAuditOptions o;
  bool permutation = false;
  app.add_option("--worker", worker, "fnprobe-worker address")->required();
  app.add_option("--token-file", token_file, "file holding a bearer token");
  app.add_option("--spec", spec_path, "spec whose baseline pool is used");
  app.add_option("--model", model, "model to run (default: the spec's)");
  app.add_option("--experiments", o.experiments, "null experiments")
      ->check(CLI::Range(1, 1000));
  app.add_option("--conditions", o.conditions, "null conditions each")
      ->check(CLI::Range(1, 64));
  app.add_option("--prompts-per-condition", o.prompts_per_condition,
                 "prompts drawn into each condition")
      ->check(CLI::Range(1, 10000));
  app.add_option("--seed", o.seed, "seed of the draws");
  app.add_flag("--permutation", permutation,
               "also audit prompt-level permutation thresholds");
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(spec_path);
  std::stringstream text;
  text << in.rdbuf();
  auto spec = fnprobe::ParseSpecJson(text.str(), spec_path);
  if (!in || !spec.ok()) {
    std::cerr << "fnprobe-null-audit: cannot read " << spec_path << ": "
              << spec.status().message() << "\n";
    return 2;
  }
  o.base = *spec;
  if (!model.empty()) o.base.set_model(model);
  if (!token_file.empty()) {
    std::ifstream t(token_file);
    std::getline(t, o.token);
    o.token = std::string(absl::StripAsciiWhitespace(o.token));
  }
  const fnprobe::v1::AnalysisSpec base = o.base.analysis();
  o.settings = {
      {"prompt, FDR",
       Setting(base, InferenceLevel::PROMPT, ThresholdSpec::FDR)},
      {"prompt, Bonferroni",
       Setting(base, InferenceLevel::PROMPT, ThresholdSpec::BONFERRONI)},
      {"token, FDR", Setting(base, InferenceLevel::TOKEN, ThresholdSpec::FDR)},
      {"token, Bonferroni",
       Setting(base, InferenceLevel::TOKEN, ThresholdSpec::BONFERRONI)}};
  if (permutation) {
    o.settings.push_back(
        {"prompt, permutation",
         Setting(base, InferenceLevel::PROMPT, ThresholdSpec::PERMUTATION)});
  }
  o.on_progress = [](int done, int total) {
    std::cerr << "null experiment " << done << "/" << total << "\n";
  };
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  auto stub = fnprobe::v1::ExperimentService::NewStub(grpc::CreateCustomChannel(
      worker, grpc::InsecureChannelCredentials(), args));
  auto rows = fnprobe::testing::RunNullAudit(stub.get(), o);
  if (!rows.ok()) {
    std::cerr << "fnprobe-null-audit: " << rows.status() << "\n";
    return 1;
  }
  std::cout << fnprobe::testing::FormatNullAudit(*rows);
  return 0;
}
