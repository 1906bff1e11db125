// Writes an experiment's report to files: the self-contained HTML page
// (`fnprobe report ID --html FILE`), and each chart on its own
// (`fnprobe export ID --plots DIR`) as Vega-Lite JSON plus an SVG that node
// renders with the embedded vega and vega-lite (the only step that needs an
// outside program: SVG needs `node` on PATH, the JSON does not).
//
// Thread-safe: free functions; concurrent calls must use different paths.
#ifndef FNPROBE_CLIENT_REPORT_REPORT_FILES_H_
#define FNPROBE_CLIENT_REPORT_REPORT_FILES_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/report/report_data.h"

namespace fnprobe::client::report {

// Writes the HTML report of `data` to `path` atomically; returns the number
// of charts in it.
absl::StatusOr<int> WriteHtmlReport(const ReportData& data,
                                    const std::string& path);

// Writes <dir>/<chart id>.vl.json for every chart (with "$schema" and the
// caption in "usermeta"), then <dir>/<chart id>.svg through node. Returns
// the files written. FAILED_PRECONDITION naming node when it is not on
// PATH (the JSON files are written by then); the renderer's output when it
// fails.
absl::StatusOr<std::vector<std::string>> WritePlots(const ReportData& data,
                                                    const std::string& dir);

// The first executable `name` on $PATH; empty if none.
std::string FindOnPath(const std::string& name);

// Opens `path` in the desktop's browser (xdg-open, else open).
absl::Status OpenInBrowser(const std::string& path);

}  // namespace fnprobe::client::report

#endif  // FNPROBE_CLIENT_REPORT_REPORT_FILES_H_
