#include "client/proto_names.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace fnprobe::client {

std::string PhaseName(v1::ExperimentPhase phase) {
  switch (phase) {
    case v1::PHASE_QUEUED:
      return "queued";
    case v1::PHASE_GENERATING:
      return "generating";
    case v1::PHASE_ANALYZING:
      return "analyzing";
    case v1::PHASE_DONE:
      return "done";
    case v1::PHASE_FAILED:
      return "failed";
    case v1::PHASE_CANCELLED:
      return "cancelled";
    default:
      return "unknown";
  }
}

bool IsTerminal(v1::ExperimentPhase phase) {
  return phase == v1::PHASE_DONE || phase == v1::PHASE_FAILED ||
         phase == v1::PHASE_CANCELLED;
}

std::string RunStateName(v1::RunState state) {
  switch (state) {
    case v1::RUN_PENDING:
      return "pending";
    case v1::RUN_RUNNING:
      return "running";
    case v1::RUN_DONE:
      return "done";
    case v1::RUN_FAILED:
      return "failed";
    case v1::RUN_CANCELLED:
      return "cancelled";
    default:
      return "unknown";
  }
}

std::string NetworkKindName(v1::NetworkKind kind) {
  switch (kind) {
    case v1::NETWORK_CONDITION:
      return "condition";
    case v1::NETWORK_RUN:
      return "run";
    case v1::NETWORK_LEAVE_ONE_OUT:
      return "leave-one-out";
    case v1::NETWORK_ICA:
      return "ica";
    default:
      return "unknown";
  }
}

std::optional<v1::NetworkKind> ParseNetworkKind(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "condition") return v1::NETWORK_CONDITION;
  if (lower == "run") return v1::NETWORK_RUN;
  if (lower == "leave-one-out" || lower == "loo") {
    return v1::NETWORK_LEAVE_ONE_OUT;
  }
  if (lower == "ica") return v1::NETWORK_ICA;
  return std::nullopt;
}

std::string NetworkLabel(const v1::NetworkSummary& network) {
  switch (network.kind()) {
    case v1::NETWORK_RUN:
      return absl::StrCat(network.condition(), " r", network.repeat());
    case v1::NETWORK_LEAVE_ONE_OUT:
      return absl::StrCat(network.condition(), " -run",
                          network.excluded_run_id());
    case v1::NETWORK_ICA:
      return absl::StrCat("g", network.repeat(), " ", network.hook(), " #",
                          network.component());
    default:
      return network.condition();
  }
}

std::string LayerGroup(absl::string_view hook) {
  std::vector<absl::string_view> parts = absl::StrSplit(hook, '.');
  if (parts.size() >= 2 && parts[0] == "blocks") {
    return absl::StrCat("L", parts[1]);
  }
  return std::string(hook);
}

}  // namespace fnprobe::client
