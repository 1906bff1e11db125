// Pieces every Vega-Lite chart of the report shares (report_charts.cc and
// comparison_charts.cc): the spec skeleton with the report's font, axis
// titles, and a guard against non-finite numbers. Internal to the report
// library.
//
// Thread-safe: pure functions.
#ifndef FNPROBE_CLIENT_REPORT_VEGA_SPEC_H_
#define FNPROBE_CLIENT_REPORT_VEGA_SPEC_H_

#include <cmath>
#include <string>
#include <utility>

#include "client/report/report_charts.h"
#include "nlohmann/json.hpp"

namespace fnprobe::client::report::internal {

inline constexpr int kChartWidth = 640;
inline constexpr char kFont[] =
    "system-ui, -apple-system, 'Segoe UI', sans-serif";

// A finite double for JSON: nlohmann writes NaN and inf as null, which
// Vega-Lite would silently drop, so such values are drawn as 0 instead.
inline double Finite(double v) { return std::isfinite(v) ? v : 0.0; }

inline nlohmann::json Axis(const std::string& title) {
  return nlohmann::json{{"title", title}};
}

// The spec skeleton every chart shares.
inline nlohmann::json BaseSpec(const std::string& title,
                               const std::string& description) {
  return nlohmann::json{
      {"title", title},
      {"description", description},
      {"config",
       {{"font", kFont},
        {"view", {{"stroke", nullptr}}},
        {"axis", {{"labelFontSize", 11}, {"titleFontSize", 12}}}}}};
}

inline Chart MakeChart(std::string id, std::string title, std::string caption,
                       nlohmann::json spec) {
  return Chart{std::move(id), std::move(title), std::move(caption),
               std::move(spec)};
}

}  // namespace fnprobe::client::report::internal

#endif  // FNPROBE_CLIENT_REPORT_VEGA_SPEC_H_
