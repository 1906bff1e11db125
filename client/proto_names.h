// Human names for the enum values and objects of experiments.proto, as the
// CLI prints them ("done", "condition", "pathology r1"), and the parsers for
// the names users type on the command line.
//
// Thread-safe: free functions without state.
#ifndef FNPROBE_CLIENT_PROTO_NAMES_H_
#define FNPROBE_CLIENT_PROTO_NAMES_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "fnprobe/v1/experiments.pb.h"

namespace fnprobe::client {

// "queued", "generating", "analyzing", "done", "failed", "cancelled".
std::string PhaseName(v1::ExperimentPhase phase);
// Whether `phase` is DONE, FAILED or CANCELLED.
bool IsTerminal(v1::ExperimentPhase phase);
// "pending", "running", "done", "failed", "cancelled".
std::string RunStateName(v1::RunState state);
// "condition", "run", "leave-one-out".
std::string NetworkKindName(v1::NetworkKind kind);
// The names NetworkKindName gives, plus "loo"; nullopt for others.
std::optional<v1::NetworkKind> ParseNetworkKind(absl::string_view name);

// A short label for a network: its condition; "<condition> r<repeat>" for a
// run's network; "<condition> -run<id>" for a leave-one-out network.
std::string NetworkLabel(const v1::NetworkSummary& network);

// The layer group of a hook point: "L7" for "blocks.7.*"; the hook name
// itself otherwise ("embed", "final_norm").
std::string LayerGroup(absl::string_view hook);

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_PROTO_NAMES_H_
