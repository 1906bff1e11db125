// The experiment report as one self-contained HTML page: sections of charts
// (Vega-Lite specs, report_charts.h) and tables, with vega, vega-lite and
// vega-embed inlined (report_assets.h), so the page opens from a file with
// no network. A Content-Security-Policy in the page forbids every request
// that is not data: or blob:, so a page that tried to reach the network
// would fail loudly instead of quietly depending on it.
//
// The page records its own state in the DOM for headless checks: when every
// chart has rendered, <body data-report-state="rendered"> with
// data-charts-rendered=N; errors from the console, uncaught exceptions and
// CSP violations are appended to <pre id="report-errors">. Each section is
// <section id=... data-expected-charts=N>; a section without data says so
// in a <p class="empty">.
//
// Thread-safe: free functions over values.
#ifndef FNPROBE_CLIENT_REPORT_HTML_REPORT_H_
#define FNPROBE_CLIENT_REPORT_HTML_REPORT_H_

#include <string>
#include <vector>

#include "client/report/report_charts.h"
#include "client/report/report_data.h"

namespace fnprobe::client::report {

struct ReportSection {
  std::string id;  // the <section> id
  std::string title;
  std::string html;  // tables and text, already escaped
  std::vector<Chart> charts;
  // Non-empty: the section has no data, and this sentence says so.
  std::string empty_note;
};

// The ids of the sections every report has, in order (per-condition
// network sections come between "design" and "overlap" as
// "network-<slug>").
std::vector<std::string> FixedSectionIds();

// Builds every section from `data`.
std::vector<ReportSection> BuildSections(const ReportData& data);

// Every chart of `sections`, in page order.
std::vector<const Chart*> AllCharts(const std::vector<ReportSection>& sections);

// The whole page.
std::string RenderHtml(const ReportData& data,
                       const std::vector<ReportSection>& sections);

// Escapes text for HTML element content and attribute values.
std::string HtmlEscape(const std::string& text);

}  // namespace fnprobe::client::report

#endif  // FNPROBE_CLIENT_REPORT_HTML_REPORT_H_
