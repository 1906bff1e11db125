// Gathers an experiment's HTML report data (report_data.h) from the worker
// with the ExperimentService RPCs the other commands use: GetExperiment,
// ListNetworks, CompareNetworks, GetRepeatability, GetClassification (via
// FetchExperimentReport), then GetRunEvents per run (events, prompts and
// their generated text), GetNetwork for each condition network's strongest
// units, GetStatMap for each condition's whole t-map and GetUnitTimeCourse
// for the strongest units' activations over a run of their condition, and
// GetMaskingResults for a masking experiment. Data
// the service does not offer (the model's checksum), or refuses (time
// courses of deleted activations), is left empty with a note saying why,
// and the report says so.
//
// Thread-safe as ExperimentClient: one fetch per client at a time.
#ifndef FNPROBE_CLIENT_REPORT_REPORT_FETCH_H_
#define FNPROBE_CLIENT_REPORT_REPORT_FETCH_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "client/experiment_client.h"
#include "client/report/report_data.h"

namespace fnprobe::client::report {

// A masking experiment's results as report rows: for each result of
// metric nll, the change of the network's masking beside each control's
// (labelled "NETWORK OPERATION on EVALUATION"), then the same for top1;
// and every dissociation row.
void AddMaskingResults(const v1::GetMaskingResultsResponse& results,
                       ReportData* data);

// Strongest units fetched per condition network.
inline constexpr int kTopUnits = 20;
// Of those, the strongest whose activation over a run is drawn.
inline constexpr int kTimeCourseUnits = 3;

// FAILED_PRECONDITION unless the experiment is done (as `fnprobe report`);
// the first failing call's error otherwise.
absl::StatusOr<ReportData> FetchReportData(ExperimentClient& client,
                                           int64_t id);

// FetchReportData, then WriteHtmlReport (report_files.h) to `path`; returns
// the number of charts written.
absl::StatusOr<int> FetchAndWriteHtmlReport(ExperimentClient& client,
                                            int64_t id,
                                            const std::string& path);

}  // namespace fnprobe::client::report

#endif  // FNPROBE_CLIENT_REPORT_REPORT_FETCH_H_
