#include "tests/e2e/null_audit.h"

#include <algorithm>
#include <boost/math/distributions/binomial.hpp>
#include <cmath>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/grpc_status.h"
#include "common/status_util.h"
#include "tests/e2e/worker_cluster.h"
#include "tests/support/ks_distance.h"

namespace fnprobe::testing {
namespace {

// What one experiment gave under one setting.
struct Observation {
  int networks = 0, nonempty = 0;
  double units_called = 0.0;  // summed shares
  std::vector<double> p_all, p_one;
  int held_out = 0, correct = 0;
};

absl::StatusOr<v1::Experiment> Wait(v1::ExperimentService::Stub* stub,
                                    const NullAuditOptions& o, int64_t id) {
  FNPROBE_ASSIGN_OR_RETURN(
      v1::Experiment e,
      WaitForExperiment(stub, o.token, id, absl::Minutes(10)));
  if (e.phase() != v1::PHASE_DONE) {
    return absl::InternalError(absl::StrCat("null experiment ", id, " ended ",
                                            v1::ExperimentPhase_Name(e.phase()),
                                            ": ", e.error()));
  }
  return e;
}

// Condition networks, maps and held-out predictions of experiment `id` as
// analysed now; `pick` chooses the one unit per map for the independent KS.
absl::Status Observe(v1::ExperimentService::Stub* stub,
                     const NullAuditOptions& o, const v1::Experiment& e,
                     std::mt19937_64& pick, Observation& out) {
  v1::ListNetworksRequest list;
  list.set_experiment_id(e.id());
  v1::ListNetworksResponse networks;
  grpc::Status s =
      stub->ListNetworks(CallContext(o.token).get(), list, &networks);
  if (!s.ok()) return ToAbslStatus(s);
  for (const v1::NetworkSummary& n : networks.networks()) {
    v1::GetStatMapRequest get;
    get.set_experiment_id(e.id());
    get.set_condition(n.condition());
    v1::StatMap map;
    s = stub->GetStatMap(CallContext(o.token).get(), get, &map);
    if (!s.ok()) return ToAbslStatus(s);
    if (map.p_size() == 0) return absl::DataLossError("empty stat map");
    ++out.networks;
    out.nonempty += n.size() > 0;
    out.units_called += static_cast<double>(n.size()) / map.p_size();
    out.p_all.insert(out.p_all.end(), map.p().begin(), map.p().end());
    out.p_one.push_back(map.p(static_cast<int>(pick() % map.p_size())));
  }
  v1::GetClassificationRequest classify;
  classify.set_experiment_id(e.id());
  v1::GetClassificationResponse c;
  s = stub->GetClassification(CallContext(o.token).get(), classify, &c);
  if (s.error_code() == grpc::StatusCode::NOT_FOUND) return absl::OkStatus();
  if (!s.ok()) return ToAbslStatus(s);
  out.held_out += c.predictions_size();
  for (const v1::HeldOutPrediction& p : c.predictions()) {
    out.correct += p.predicted_condition() == p.true_condition();
  }
  return absl::OkStatus();
}

NullAuditRow Summarize(const std::string& setting,
                       const std::vector<Observation>& obs, double chance) {
  NullAuditRow row;
  row.setting = setting;
  std::vector<double> p_all, p_one;
  for (const Observation& o : obs) {
    row.networks += o.networks;
    row.nonempty += o.nonempty;
    row.units_called += o.units_called;
    p_all.insert(p_all.end(), o.p_all.begin(), o.p_all.end());
    p_one.insert(p_one.end(), o.p_one.begin(), o.p_one.end());
    row.held_out += o.held_out;
    row.held_out_correct += o.correct;
  }
  if (row.networks > 0) row.units_called /= row.networks;
  row.ks_distance_all = p_all.empty() ? 0.0 : KsDistance(p_all);
  row.ks_distance = p_one.empty() ? 0.0 : KsDistance(p_one);
  row.ks_p = KolmogorovP(row.ks_distance, static_cast<int>(p_one.size()));
  row.chance = chance;
  if (row.held_out > 0) {
    const boost::math::binomial_distribution<double> b(row.held_out, chance);
    row.chance_low = static_cast<int>(boost::math::quantile(b, 0.025));
    row.chance_high = static_cast<int>(boost::math::quantile(b, 0.975));
  }
  return row;
}

}  // namespace

double KolmogorovP(double d, int n) {
  if (n <= 0) return 1.0;
  const double sqrt_n = std::sqrt(static_cast<double>(n));
  const double lambda = (sqrt_n + 0.12 + 0.11 / sqrt_n) * d;
  if (lambda < 0.2) return 1.0;
  double sum = 0, sign = 1;
  for (int k = 1; k <= 100; ++k) {
    sum += sign * std::exp(-2.0 * k * k * lambda * lambda);
    sign = -sign;
  }
  return std::clamp(2.0 * sum, 0.0, 1.0);
}

v1::ExperimentSpec NullSpec(const NullAuditOptions& o, int index) {
  v1::ExperimentSpec spec = o.base;
  std::vector<std::string> pool(spec.baseline().prompts().begin(),
                                spec.baseline().prompts().end());
  std::shuffle(pool.begin(), pool.end(),
               std::mt19937_64(o.seed * 1000003 + index));
  spec.set_name(absl::StrCat("null-audit-", index));
  spec.clear_conditions();
  size_t next = 0;
  for (int c = 0; c < o.conditions; ++c) {
    v1::PromptPool* pool_c = spec.add_conditions();
    pool_c->set_name(absl::StrCat("null", c));
    for (int i = 0; i < o.prompts_per_condition; ++i) {
      pool_c->add_prompts(pool[next++]);
    }
  }
  spec.mutable_baseline()->clear_prompts();
  for (; next < pool.size(); ++next) {
    spec.mutable_baseline()->add_prompts(pool[next]);
  }
  spec.mutable_generation()->set_seed(o.seed * 7919 + index);
  return spec;
}

absl::StatusOr<std::vector<NullAuditRow>> RunNullAudit(
    v1::ExperimentService::Stub* stub, const NullAuditOptions& o) {
  if (o.settings.empty()) {
    return absl::InvalidArgumentError("null audit: no analysis settings");
  }
  std::vector<std::vector<Observation>> obs(o.settings.size());
  std::mt19937_64 pick(o.seed);
  for (int e = 0; e < o.experiments; ++e) {
    v1::SubmitExperimentRequest submit;
    *submit.mutable_spec() = NullSpec(o, e);
    *submit.mutable_spec()->mutable_analysis() = o.settings[0].second;
    v1::Experiment experiment;
    grpc::Status s =
        stub->SubmitExperiment(CallContext(o.token).get(), submit, &experiment);
    if (!s.ok()) return ToAbslStatus(s);
    for (size_t k = 0; k < o.settings.size(); ++k) {
      if (k > 0) {
        v1::ReanalyzeExperimentRequest again;
        again.set_experiment_id(experiment.id());
        *again.mutable_analysis() = o.settings[k].second;
        v1::Experiment ignored;
        s = stub->ReanalyzeExperiment(CallContext(o.token).get(), again,
                                      &ignored);
        if (!s.ok()) return ToAbslStatus(s);
      }
      FNPROBE_ASSIGN_OR_RETURN(const v1::Experiment done,
                               Wait(stub, o, experiment.id()));
      Observation one;
      FNPROBE_RETURN_IF_ERROR(Observe(stub, o, done, pick, one));
      obs[k].push_back(std::move(one));
    }
    if (o.on_progress) o.on_progress(e + 1, o.experiments);
  }
  std::vector<NullAuditRow> rows;
  for (size_t k = 0; k < o.settings.size(); ++k) {
    rows.push_back(Summarize(o.settings[k].first, obs[k], 1.0 / o.conditions));
  }
  return rows;
}

std::string FormatNullAudit(const std::vector<NullAuditRow>& rows) {
  std::string out =
      absl::StrFormat("%-34s %16s %12s %10s %16s %24s\n", "analysis",
                      "non-empty nets", "units called", "KS all p",
                      "KS 1 unit/map (p)", "held-out right (chance 95%)");
  for (const NullAuditRow& r : rows) {
    out += absl::StrFormat(
        "%-34s %9d of %-4d %11.2f%% %10.3f %8.3f (%5.3f) %10d of %-4d [%d, "
        "%d]\n",
        r.setting, r.nonempty, r.networks, 100 * r.units_called,
        r.ks_distance_all, r.ks_distance, r.ks_p, r.held_out_correct,
        r.held_out, r.chance_low, r.chance_high);
  }
  return out;
}

}  // namespace fnprobe::testing
