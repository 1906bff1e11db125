// The null audit (issue #12) with real processes: a random tiny model made
// here, fnprobe-inference and fnprobe-worker on loopback, and 20 null
// experiments of the small paper spec (client/examples/nencka2023-small.json)
// whose 4 conditions are drawn from its own baseline pool. The default
// analysis (prompt-level, FDR 0.05) must leave at most 10% of the 80
// condition networks non-empty, give uniform null p-values and chance-level
// held-out identification. The same experiments re-analysed with
// token-level inference are printed beside it: that is why the default
// changed.
#include "tests/e2e/null_audit.h"

#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/analysis/experiment_spec.h"
#include "server/inference/tools/model_maker.h"
#include "tests/e2e/worker_cluster.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::MakeTempDir;
using ::fnprobe::testing::NullAuditOptions;
using ::fnprobe::testing::NullAuditRow;
using ::fnprobe::testing::WorkerCluster;
using ::fnprobe::testing::WorkerClusterOptions;

constexpr char kToken[] = "null-audit-token-0123456789abcdef";

v1::ExperimentSpec SmallPaperSpec() {
  std::ifstream in(std::string(FNPROBE_SOURCE_DIR) +
                   "/client/examples/nencka2023-small.json");
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<v1::ExperimentSpec> spec =
      ParseSpecJson(text.str(), "nencka2023-small.json");
  EXPECT_OK(spec);
  return *spec;
}

v1::AnalysisSpec Analysis(v1::InferenceLevel::Kind inference,
                          v1::ThresholdSpec::Method method) {
  v1::AnalysisSpec a = SmallPaperSpec().analysis();
  a.set_inference(inference);
  a.mutable_threshold()->set_method(method);
  a.mutable_threshold()->set_alpha(0.05);
  return a;
}

TEST(NullAuditTest, PromptInferenceKeepsTheNullAndTokenInferenceDoesNot) {
  const std::string root = MakeTempDir("null_audit");
  MakeModelOptions make;
  make.shape = "tiny";
  make.out_dir = root + "/random";
  ASSERT_OK(MakeModel(make));
  WorkerClusterOptions o;
  o.dir = root;
  o.model_dir = make.out_dir;
  o.tokens = {absl::StrCat(kToken, " auditor")};
  auto cluster = WorkerCluster::Start(o);
  ASSERT_OK(cluster);
  auto stub = (*cluster)->Stub();

  NullAuditOptions audit;
  audit.base = SmallPaperSpec();
  audit.base.set_model("random");
  audit.experiments = 20;
  audit.conditions = 4;
  audit.prompts_per_condition = 12;
  audit.seed = 20261205;
  audit.token = kToken;
  audit.settings = {
      {"prompt (default), FDR 0.05",
       Analysis(v1::InferenceLevel::PROMPT, v1::ThresholdSpec::FDR)},
      {"prompt, permutation 0.05",
       Analysis(v1::InferenceLevel::PROMPT, v1::ThresholdSpec::PERMUTATION)},
      {"token, FDR 0.05",
       Analysis(v1::InferenceLevel::TOKEN, v1::ThresholdSpec::FDR)},
      {"token, Bonferroni 0.05",
       Analysis(v1::InferenceLevel::TOKEN, v1::ThresholdSpec::BONFERRONI)}};
  audit.on_progress = [](int done, int total) {
    std::cout << "null experiment " << done << "/" << total << std::endl;
  };
  absl::StatusOr<std::vector<NullAuditRow>> rows =
      testing::RunNullAudit(stub.get(), audit);
  ASSERT_OK(rows);
  std::cout << testing::FormatNullAudit(*rows);

  const NullAuditRow& prompt = (*rows)[0];
  EXPECT_EQ(prompt.networks, 80);
  EXPECT_LE(prompt.nonempty, 8) << "at most 10% of null networks non-empty";
  EXPECT_GT(prompt.ks_p, 0.01) << "null p-values uniform";
  EXPECT_EQ(prompt.held_out, 240);  // 20 experiments x 4 conditions x 3
  EXPECT_GE(prompt.held_out_correct, prompt.chance_low);
  EXPECT_LE(prompt.held_out_correct, prompt.chance_high);
  // Family-wise error control by exchanging prompt labels: at most 10% of
  // the networks non-empty (nominal 5%), permutation p-values uniform.
  const NullAuditRow& permutation = (*rows)[1];
  EXPECT_EQ(permutation.networks, 80);
  EXPECT_LE(permutation.nonempty, 8);
  EXPECT_GT(permutation.ks_p, 0.01);
  // The token-level analysis of the same activations: what issue #12
  // measured on the old default (non-empty networks in most experiments).
  const NullAuditRow& token = (*rows)[2];
  EXPECT_GT(token.nonempty, 40);
  EXPECT_GT((*rows)[3].nonempty, prompt.nonempty);
}

TEST(NullAuditTest, KolmogorovPMatchesKnownValues) {
  // Critical values of the asymptotic KS distribution: lambda 1.358 -> 0.05,
  // 1.628 -> 0.01.
  EXPECT_NEAR(testing::KolmogorovP(1.358 / (10 + 0.12 + 0.011), 100), 0.05,
              1e-3);
  EXPECT_NEAR(testing::KolmogorovP(1.628 / (10 + 0.12 + 0.011), 100), 0.01,
              1e-3);
  EXPECT_EQ(testing::KolmogorovP(0.0, 50), 1.0);
}

TEST(NullAuditTest, NullSpecDrawsDisjointConditionsFromTheBaseline) {
  NullAuditOptions o;
  o.base = SmallPaperSpec();
  const v1::ExperimentSpec spec = testing::NullSpec(o, 3);
  ASSERT_EQ(spec.conditions_size(), 4);
  EXPECT_EQ(spec.baseline().prompts_size(),
            o.base.baseline().prompts_size() - 48);
  EXPECT_OK(ValidateSpec(spec));
  EXPECT_NE(testing::NullSpec(o, 4).conditions(0).prompts(0),
            spec.conditions(0).prompts(0));
}

}  // namespace
}  // namespace fnprobe
