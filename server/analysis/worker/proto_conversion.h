// Conversions between fnprobe.v1 messages and the worker's own result types
// (result_rows.h), for ExperimentService: requests become query structs,
// query results become responses. The conversions are field for field and
// check nothing; the queries validate (so the order of checks, and the
// errors, are the queries').
//
// Thread-safety: free functions over values; safe to call concurrently.
#ifndef FNPROBE_SERVER_ANALYSIS_WORKER_PROTO_CONVERSION_H_
#define FNPROBE_SERVER_ANALYSIS_WORKER_PROTO_CONVERSION_H_

#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "fnprobe/v1/experiments.pb.h"
#include "server/analysis/worker/result_rows.h"

namespace fnprobe::worker {

// --- requests ---

NetworkKind FromProto(v1::NetworkKind kind);
NetworkListQuery FromProto(const v1::ListNetworksRequest& request);
NetworkQuery FromProto(const v1::GetNetworkRequest& request);
UnitQuery FromProto(const v1::FindUnitRequest& request);
StatMapQuery FromProto(const v1::GetStatMapRequest& request);

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
