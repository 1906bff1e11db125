// IcaStore: the ICA networks of experiments (migration 0007). Each
// component of each decomposition (one run, one hook point) is a networks
// row (method 'ica') with its units and their z values, plus an
// ica_components row with its hook, time course and stability, so that
// `networks`, `unit` and FindUnit see ICA networks as they see GLM ones.
//
// A decomposition replaces the experiment's previous ICA networks whole,
// in one transaction: readers see the old set or the new, never a mix.
//
// Thread-safety: all methods may be called concurrently (StoreDatabase
// serializes them).
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_ICA_STORE_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_ICA_STORE_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/layout.h"
#include "fnprobe/v1/experiment_spec.pb.h"

namespace fnprobe::worker {

class StoreDatabase;

// The group of a network decomposed over every run at once
// (IcaSpec::EXPERIMENT); its run_id is 0.
inline constexpr int kEveryGroup = -1;

// The networks row's `condition` of such a network: the schema asks every
// network for a run or a condition, and it pools every run (as a GLM
// condition network pools its condition's runs). Never a condition name:
// names are validated non-empty identifiers.
inline constexpr char kEveryRunCondition[] = "*";

// One component of one run's decomposition of one hook point, or of every
// run's time points concatenated (run_id 0, group kEveryGroup).
struct IcaNetwork {
  int64_t network_id = 0;  // set by reads
  int64_t run_id = 0;      // 0: every run
  int group = 0;           // the run's repeat (a text corpus's group)
  std::string hook;
  int component = 0;               // index within the hook's decomposition
  std::vector<int64_t> units;      // layout-global unit indices, ascending
  std::vector<double> z;           // each unit's z in the component's map
  std::vector<float> time_course;  // the run's time points
  double stability = -1;           // ICASSO Iq; < 0: not measured
  double explained_variance = 0;
};

class IcaStore {
 public:
  // `db` must outlive the store.
  explicit IcaStore(StoreDatabase* db) : db_(db) {}

  // Replaces the experiment's ICA networks by `networks` (units named in
  // `layout`, thresholded at |z| > z_threshold). INVALID_ARGUMENT, storing
  // nothing, for a unit outside the layout, unsorted units, z of another
  // length than units, or an empty time course.
  absl::Status ReplaceIcaNetworks(int64_t experiment_id, const Layout& layout,
                                  double z_threshold,
                                  const std::vector<IcaNetwork>& networks);

  // Replaces the stored spec's ICA options (`fnprobe ica`), defaults
  // applied; INVALID_ARGUMENT, changing nothing, if the spec with them does
  // not validate.
  absl::Status SetIcaSpec(int64_t experiment_id, const v1::IcaSpec& ica);

  // Each condition's GLM network (NETWORK_CONDITION) as (condition, units
  // ascending), in condition order of storage.
  absl::StatusOr<std::vector<std::pair<std::string, std::vector<int64_t>>>>
  LoadGlmConditionNetworks(int64_t experiment_id);

  // PHASE_ANALYZING -> PHASE_DONE for an analysis that stored only ICA
  // networks (a text corpus, `fnprobe ica`), GLM results left as they are.
  // FAILED_PRECONDITION unless analyzing with every run done (a
  // cancellation that committed first wins).
  absl::Status FinishIcaAnalysis(int64_t experiment_id);

  // The experiment's ICA networks (optionally one hook's), ordered by
  // hook, run, component; time courses only when asked for. The caller
  // checks ownership.
  absl::StatusOr<std::vector<IcaNetwork>> LoadIcaNetworks(
      int64_t experiment_id, const std::string& hook, bool with_time_courses);

 private:
  StoreDatabase* const db_;
};

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_ICA_STORE_H_
