// Conversions between fnprobe.v1 messages and the worker's own types
// (experiment_rows.h, result_rows.h), for ExperimentService: requests become
// query structs, store and query results become responses. The conversions are
// field for field and check nothing; the queries validate (so the order of
// checks, and the errors, are the queries').
//
// Thread-safety: free functions over values; safe to call concurrently.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_PROTO_CONVERSION_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_PROTO_CONVERSION_H_

#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fnprobe/v1/experiments.pb.h"
#include "server/analysis/worker/experiment_phase.h"
#include "server/analysis/worker/experiment_rows.h"
#include "server/analysis/worker/result_rows.h"

namespace fnprobe::worker {

// --- requests ---

ExperimentPhase FromProto(v1::ExperimentPhase phase);
RunState FromProto(v1::RunState state);
NetworkKind FromProto(v1::NetworkKind kind);
NetworkListQuery FromProto(const v1::ListNetworksRequest& request);
NetworkQuery FromProto(const v1::GetNetworkRequest& request);
UnitQuery FromProto(const v1::FindUnitRequest& request);
StatMapQuery FromProto(const v1::GetStatMapRequest& request);

// --- experiments ---

v1::ExperimentPhase ToProto(ExperimentPhase phase);
v1::RunState ToProto(RunState state);
v1::Run ToProto(const RunRow& run);
// The experiment's progress as stored (experiment id, phase, error and the
// run counts; no rate or message).
v1::ExperimentProgress ProgressToProto(const ExperimentRow& e);
// With its progress, its runs and layout when the row has them, and the
// spec's model as `model`.
v1::Experiment ToProto(const ExperimentRow& e);
v1::ListExperimentsResponse ToProto(const ExperimentPage& page);

// --- results ---

v1::NetworkKind ToProto(NetworkKind kind);
v1::NetworkSummary ToProto(const NetworkSummary& summary);
v1::NetworkUnit ToProto(const NetworkUnit& unit);
v1::Overlap ToProto(const Overlap& overlap);
v1::ListNetworksResponse ToProto(const std::vector<NetworkSummary>& networks);
v1::GetNetworkResponse ToProto(const NetworkPage& page);
v1::CompareNetworksResponse ToProto(const NetworkComparison& comparison);
v1::GetRepeatabilityResponse ToProto(const Repeatability& repeatability);
v1::GetClassificationResponse ToProto(const Classification& classification);
v1::GetRunEventsResponse ToProto(const RunEvents& events);
v1::FindUnitResponse ToProto(const UnitNetworks& unit);
v1::StatMap ToProto(const StoredStatMap& map);

// The message of a query's result, or its error.
template <typename T>
auto ToProto(const absl::StatusOr<T>& result)
    -> absl::StatusOr<decltype(ToProto(*result))> {
  if (!result.ok()) return result.status();
  return ToProto(*result);
}

}  // namespace fnprobe::worker

#endif  // FNPROBE_SERVER_ANALYSIS_WORKER_PROTO_CONVERSION_H_
