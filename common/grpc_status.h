// Conversion between absl::Status and grpc::Status. The canonical codes are
// the same numbers in both (absl's are gRPC's), so codes map 1:1 and the
// message is kept; payloads and error details are dropped.
//
// Thread-safe: free functions without state.
#ifndef FNPROBE_COMMON_GRPC_STATUS_H_
#define FNPROBE_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace fnprobe {

// `status` as a grpc::Status with the same code and message. A code outside
// the canonical range (which absl allows as a raw int) becomes UNKNOWN.
grpc::Status ToGrpcStatus(const absl::Status& status);

// `status` as an absl::Status with the same code and message. A code outside
// the canonical range becomes UNKNOWN.
absl::Status ToAbslStatus(const grpc::Status& status);

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_GRPC_STATUS_H_
