#include "server/analysis/worker/masking_queries.h"

#include <vector>

#include "common/status_util.h"
#include "server/analysis/masking_statistics.h"

namespace fnprobe::worker {

absl::StatusOr<v1::GetMaskingResultsResponse> LoadMaskingResults(
    WorkerStore& store, int64_t experiment_id, const std::string& user) {
  FNPROBE_ASSIGN_OR_RETURN(
      const ExperimentRow e,
      store.experiments().GetExperiment(experiment_id, user, false));
  FNPROBE_ASSIGN_OR_RETURN(const MaskingPlan plan,
                           store.masking().LoadPlan(experiment_id, user));
  FNPROBE_ASSIGN_OR_RETURN(const std::vector<MaskingScore> scores,
                           store.masking().LoadScores(experiment_id, user));
  const std::vector<MaskingResult> results =
      ComputeMaskingResults(e.spec, plan, scores);
  v1::GetMaskingResultsResponse response;
  for (const MaskingResult& r : results) {
    v1::MaskingResult* out = response.add_results();
    out->set_network(r.network);
    out->set_operation(r.operation);
    out->set_evaluation(r.evaluation);
    out->set_condition(r.condition);
    out->set_metric(r.metric);
    out->set_unmasked(r.unmasked);
    out->set_masked(r.masked);
    out->set_change(r.change);
    for (double c : r.controls) out->add_controls(c);
    out->set_control_mean(r.control_mean);
    out->set_control_sd(r.control_sd);
    out->set_control_min(r.control_min);
    out->set_control_max(r.control_max);
    out->set_percentile(r.percentile);
    out->set_p(r.p);
    for (const MaskedNetwork& n : plan.networks) {
      if (n.name == r.network) out->set_network_units(SelectionSize(n.units));
    }
  }
  for (const MaskingDissociation& d :
       ComputeMaskingDissociations(e.spec, plan, scores)) {
    v1::MaskingDissociation* out = response.add_dissociations();
    out->set_network(d.network);
    out->set_operation(d.operation);
    out->set_metric(d.metric);
    out->set_condition(d.condition);
    out->set_other(d.other);
    out->set_change(d.change);
    out->set_other_change(d.other_change);
    out->set_control_change(d.control_change);
    out->set_other_control_change(d.other_control_change);
    out->set_contrast(d.contrast);
    for (double c : d.control_contrasts) out->add_control_contrasts(c);
    out->set_percentile(d.percentile);
    out->set_p(d.p);
  }
  const v1::MaskingSpec& m = e.spec.masking();
  const int expected = 2 * m.operations_size() * m.evaluation_size() *
                       static_cast<int>(plan.networks.size());
  response.set_complete(response.results_size() == expected);
  return response;
}

}  // namespace fnprobe::worker
