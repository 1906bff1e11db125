// The plain-text summary of a finished experiment that `fnprobe report` and
// `fnprobe demo` print: per-condition network sizes by layer, the overlap
// matrix, repeatability between repeats, and held-out classification
// (accuracy and confusion matrix).
//
// Thread-safe: plain data and free functions.
#ifndef FNPROBE_CLIENT_EXPERIMENT_REPORT_H_
#define FNPROBE_CLIENT_EXPERIMENT_REPORT_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/experiment_client.h"
#include "fnprobe/v1/experiments.pb.h"

namespace fnprobe::client {

struct ExperimentReport {
  v1::Experiment experiment;
  v1::ListNetworksResponse networks;  // condition networks
  v1::CompareNetworksResponse overlap;
  std::optional<v1::GetRepeatabilityResponse> repeatability;
  std::string repeatability_note;  // why it is absent
  std::optional<v1::GetClassificationResponse> classification;
  std::string classification_note;  // why it is absent
};

// Gathers the report of experiment `id`. FAILED_PRECONDITION naming its
// phase if it is not done; the call's error otherwise. Repeatability and
// classification are left out, with a note, when the worker has none
// (FAILED_PRECONDITION or NOT_FOUND for them).
absl::StatusOr<ExperimentReport> FetchExperimentReport(ExperimentClient& client,
                                                       int64_t id);

// Writes the report as text.
void PrintExperimentReport(const ExperimentReport& report, std::ostream& out);

// Writes the report as one JSON object whose members are the responses:
// experiment, networks, overlap, repeatability, classification.
absl::Status PrintExperimentReportJson(const ExperimentReport& report,
                                       std::ostream& out);

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_EXPERIMENT_REPORT_H_
