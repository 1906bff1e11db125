// The null audit of DESIGN.md "Analysis": experiments whose conditions are
// drawn at random from the baseline pool itself, so that task and baseline
// blocks differ by nothing but which prompts chance put where. A valid
// analysis then finds empty condition networks at its nominal rate, uniform
// p-values and chance-level held-out identification.
//
// NullAudit submits such experiments to a running fnprobe-worker, reads
// their condition networks, maps and classifications, and re-analyses each
// with every further analysis setting asked for (ReanalyzeExperiment: the
// same activations, another analysis), so settings are compared on the same
// data. Used by tests/e2e/null_audit_test and the fnprobe-null-audit tool.
//
// Not thread-safe; one audit at a time per object.
#ifndef FNPROBE_TESTS_E2E_NULL_AUDIT_H_
#define FNPROBE_TESTS_E2E_NULL_AUDIT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fnprobe/v1/experiments.grpc.pb.h"

namespace fnprobe::testing {

struct NullAuditOptions {
  // The spec whose baseline pool the null conditions are drawn from; its
  // conditions are replaced.
  v1::ExperimentSpec base;
  int experiments = 20;
  int conditions = 4;
  int prompts_per_condition = 12;
  uint64_t seed = 1;
  std::string token;  // bearer token for the worker; empty sends none
  // Analyses to compare, by name ("prompt, FDR 0.05" ...); the first is
  // the one the experiments are submitted with, the others re-analyses.
  std::vector<std::pair<std::string, v1::AnalysisSpec>> settings;
  // Called after each experiment (progress), may be empty.
  std::function<void(int done, int total)> on_progress;
};

// One analysis setting over all experiments.
struct NullAuditRow {
  std::string setting;
  int networks = 0;           // condition networks
  int nonempty = 0;           // of them, with at least one unit
  double units_called = 0.0;  // mean share of units in a condition network
  // KS distance of every condition map's p-values from Uniform(0, 1)
  // (descriptive: units of one map are correlated).
  double ks_distance_all = 0.0;
  // KS test on one unit per condition map (a different unit per map, so the
  // p-values are independent): its distance and p-value.
  double ks_distance = 0.0;
  double ks_p = 0.0;
  int held_out = 0;  // held-out predictions
  int held_out_correct = 0;
  double chance = 0.0;
  // The binomial central 95% interval of correct predictions at chance.
  int chance_low = 0, chance_high = 0;
};

// Runs the audit. Errors: a refused spec, a failed experiment, RPC errors.
absl::StatusOr<std::vector<NullAuditRow>> RunNullAudit(
    v1::ExperimentService::Stub* stub, const NullAuditOptions& options);

// The rows as an aligned text table.
std::string FormatNullAudit(const std::vector<NullAuditRow>& rows);

// The spec of null experiment `index`: the base spec's baseline pool
// shuffled with the audit's seed, `conditions` x `prompts_per_condition`
// prompts taken as conditions ("null0", ...), the rest the baseline; the
// generation seed varies with the index (another draw of prompts).
v1::ExperimentSpec NullSpec(const NullAuditOptions& options, int index);

// Kolmogorov's asymptotic p-value of KS distance d over n samples (with
// Stephens' small-sample correction).
double KolmogorovP(double d, int n);

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_E2E_NULL_AUDIT_H_
