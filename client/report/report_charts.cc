#include "client/report/report_charts.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "client/report/vega_spec.h"

namespace fnprobe::client::report {
namespace {

using json = nlohmann::json;
using internal::Axis;
using internal::BaseSpec;
using internal::Finite;
using internal::kChartWidth;
using internal::MakeChart;

std::string RunLabel(const ReportRun& r) {
  return absl::StrFormat("run %d: %s #%d", r.index, r.condition, r.repeat);
}

// Layer labels in layout order ("embed", "0", "1", ..., "final_norm").
std::vector<std::string> LayerOrder(const ReportExperiment& e) {
  std::vector<std::string> layers;
  for (const ReportHook& h : e.hooks) {
    std::string layer = PlaceOfHook(h.name).layer;
    if (std::find(layers.begin(), layers.end(), layer) == layers.end()) {
      layers.push_back(std::move(layer));
    }
  }
  return layers;
}

std::vector<std::string> KindOrder(const ReportExperiment& e) {
  std::vector<std::string> kinds;
  for (const ReportHook& h : e.hooks) {
    std::string kind = PlaceOfHook(h.name).kind;
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) {
      kinds.push_back(std::move(kind));
    }
  }
  return kinds;
}

// The largest |t| of a map, for a colour scale symmetric around 0.
double MaxAbs(const std::vector<double>& values) {
  double m = 0;
  for (double v : values) {
    if (std::isfinite(v)) m = std::max(m, std::abs(v));
  }
  return m > 0 ? m : 1;
}

// Quantile q of sorted finite values (linear interpolation).
double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - std::floor(pos));
}

// nipy's gamma-difference kernel at `dt` spacing over 32 s, sum 1.
std::vector<double> HrfKernel(double dt, bool glover) {
  const double delay = 6, undershoot = glover ? 12 : 16;
  const double dispersion = glover ? 0.9 : 1, ratio = glover ? 0.35 : 0.167;
  auto gamma_pdf = [](double x, double shape, double scale) {
    if (x <= 0) return 0.0;
    const double z = x / scale;
    return std::exp((shape - 1) * std::log(z) - z - std::lgamma(shape)) / scale;
  };
  std::vector<double> kernel;
  double sum = 0;
  for (double t = 0; t < 32; t += dt) {
    const double v = gamma_pdf(t, delay / dispersion, dispersion) -
                     ratio * gamma_pdf(t, undershoot / dispersion, dispersion);
    kernel.push_back(v);
    sum += v;
  }
  if (sum != 0) {
    for (double& v : kernel) v /= sum;
  }
  return kernel;
}

// The condition of run `index` ("" if unknown).
std::string ConditionOfRun(const ReportExperiment& e, int index) {
  for (const ReportRun& r : e.runs) {
    if (r.index == index) return r.condition;
  }
  return "";
}

}  // namespace

bool HasThreshold(const ReportNetwork& n) {
  return std::isfinite(n.threshold) && n.threshold > 0;
}

std::string ThresholdText(const ReportNetwork& n) {
  if (!HasThreshold(n)) return "no unit passed the threshold";
  return absl::StrFormat("units with |t| >= %.2f", n.threshold);
}

HookPlace PlaceOfHook(const std::string& hook) {
  std::vector<std::string> parts = absl::StrSplit(hook, '.');
  if (parts.size() >= 3 && parts[0] == "blocks") {
    std::string kind = parts[2];
    for (size_t i = 3; i < parts.size(); ++i)
      absl::StrAppend(&kind, ".", parts[i]);
    return HookPlace{parts[1], kind};
  }
  return HookPlace{hook, hook};
}

std::string Slug(const std::string& text) {
  std::string slug;
  for (char c : text) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) {
      slug.push_back(static_cast<char>(std::tolower(u)));
    } else if (!slug.empty() && slug.back() != '-') {
      slug.push_back('-');
    }
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  return slug.empty() ? "x" : slug;
}

std::vector<double> TaskRegressor(const std::vector<ReportEvent>& events,
                                  const std::string& task, int64_t time_points,
                                  double tokens_per_second,
                                  const std::string& hrf) {
  const double dt = tokens_per_second > 0 ? 1.0 / tokens_per_second : 1.0;
  std::vector<double> boxcar(
      static_cast<size_t>(std::max<int64_t>(0, time_points)));
  for (const ReportEvent& ev : events) {
    if (ev.trial_type != task) continue;
    for (size_t i = 0; i < boxcar.size(); ++i) {
      const double t = static_cast<double>(i) * dt;
      if (t >= ev.onset && t < ev.onset + ev.duration) boxcar[i] = 1;
    }
  }
  if (hrf != "SPM" && hrf != "GLOVER") return boxcar;
  const std::vector<double> kernel = HrfKernel(dt, hrf == "GLOVER");
  std::vector<double> out(boxcar.size());
  for (size_t i = 0; i < out.size(); ++i) {
    double s = 0;
    for (size_t k = 0; k < kernel.size() && k <= i; ++k) {
      s += kernel[k] * boxcar[i - k];
    }
    out[i] = s;
  }
  return out;
}

Chart TokensPerRunChart(const ReportExperiment& e) {
  json values = json::array();
  for (const ReportRun& r : e.runs) {
    values.push_back({{"run", RunLabel(r)},
                      {"index", r.index},
                      {"state", r.state},
                      {"tokens", r.tokens_generated},
                      {"planned", r.time_points},
                      {"attempts", r.attempts}});
  }
  json spec = BaseSpec("Tokens generated per run",
                       "Bar per run: generated tokens, coloured by state");
  spec["width"] = kChartWidth;
  spec["data"] = {{"values", values}};
  spec["layer"] = json::array(
      {{{"mark", {{"type", "bar"}, {"tooltip", true}}},
        {"encoding",
         {{"x",
           {{"field", "run"},
            {"type", "nominal"},
            {"sort", nullptr},
            {"axis",
             {{"title", "run (plan order: condition #repeat)"},
              {"labelAngle", -45}}}}},
          {"y",
           {{"field", "tokens"},
            {"type", "quantitative"},
            {"axis", Axis("tokens generated (time points)")}}},
          {"color",
           {{"field", "state"},
            {"type", "nominal"},
            {"legend", {{"title", "run state"}}}}}}}},
       {{"mark", {{"type", "tick"}, {"color", "black"}, {"thickness", 2}}},
        {"encoding",
         {{"x", {{"field", "run"}, {"type", "nominal"}, {"sort", nullptr}}},
          {"y", {{"field", "planned"}, {"type", "quantitative"}}}}}}});
  return MakeChart(
      "experiment-tokens", "Tokens generated per run",
      "One bar per run in plan order, its height the tokens (time points) "
      "the run generated and its colour the run's state; the black tick is "
      "the plan's length. A finished run reaches its tick.",
      std::move(spec));
}

Chart BlockDesignChart(const ReportData& data) {
  json values = json::array();
  for (const ReportRunDesign& d : data.designs) {
    std::string label = absl::StrCat("run ", d.run_index);
    for (const ReportRun& r : data.experiment.runs) {
      if (r.index == d.run_index) label = RunLabel(r);
    }
    for (const ReportEvent& ev : d.events) {
      values.push_back({{"run", label},
                        {"onset", Finite(ev.onset)},
                        {"end", Finite(ev.onset + ev.duration)},
                        {"duration", Finite(ev.duration)},
                        {"block", ev.trial_type}});
    }
  }
  json spec = BaseSpec("Block design of each run",
                       "Events of every run as bars over time");
  spec["width"] = kChartWidth;
  spec["height"] = {{"step", 16}};
  spec["data"] = {{"values", values}};
  spec["mark"] = {{"type", "bar"}, {"tooltip", true}};
  spec["encoding"] = {{"y",
                       {{"field", "run"},
                        {"type", "nominal"},
                        {"sort", nullptr},
                        {"axis", Axis("run (condition #repeat)")}}},
                      {"x",
                       {{"field", "onset"},
                        {"type", "quantitative"},
                        {"axis", Axis("time (s; one generated token = 1 / "
                                      "tokens_per_second s)")}}},
                      {"x2", {{"field", "end"}}},
                      {"color",
                       {{"field", "block"},
                        {"type", "nominal"},
                        {"legend", {{"title", "block (trial_type)"}}}}}};
  return MakeChart(
      "design-blocks", "Block design of each run",
      "Each row is a run; each bar an event of its BIDS events.tsv from "
      "onset to onset + duration, coloured by block type. Task blocks "
      "present the condition's prompts, baseline blocks the baseline pool.",
      std::move(spec));
}

Chart RegressorChart(const ReportData& data) {
  const ReportExperiment& e = data.experiment;
  // Runs with the same event timing share one regressor; draw each timing
  // once, labelled with the runs that have it.
  std::vector<std::pair<std::vector<double>, std::vector<int>>> groups;
  std::map<int, int64_t> time_points;
  for (const ReportRun& r : e.runs) time_points[r.index] = r.time_points;
  for (const ReportRunDesign& d : data.designs) {
    std::vector<double> key;
    const std::string task = ConditionOfRun(e, d.run_index);
    for (const ReportEvent& ev : d.events) {
      if (ev.trial_type != task) continue;
      key.push_back(ev.onset);
      key.push_back(ev.duration);
    }
    key.push_back(static_cast<double>(time_points[d.run_index]));
    auto it = std::find_if(groups.begin(), groups.end(),
                           [&](const auto& g) { return g.first == key; });
    if (it == groups.end()) {
      groups.push_back({key, {d.run_index}});
    } else {
      it->second.push_back(d.run_index);
    }
  }
  json values = json::array();
  const double dt = e.tokens_per_second > 0 ? 1.0 / e.tokens_per_second : 1.0;
  for (const auto& [key, runs] : groups) {
    const ReportRunDesign* design = nullptr;
    for (const ReportRunDesign& d : data.designs) {
      if (d.run_index == runs.front()) design = &d;
    }
    const int64_t t_points = time_points[runs.front()];
    std::string label = runs.size() == 1
                            ? absl::StrCat("run ", runs.front())
                            : absl::StrCat("runs ", runs.front(), "..",
                                           runs.back(), " (", runs.size(), ")");
    const std::string task = ConditionOfRun(e, runs.front());
    const std::vector<double> boxcar = TaskRegressor(
        design->events, task, t_points, e.tokens_per_second, "NONE");
    const std::vector<double> reg = TaskRegressor(
        design->events, task, t_points, e.tokens_per_second, e.hrf);
    // A few thousand points per line are plenty for a 640-pixel chart.
    const size_t stride = std::max<size_t>(1, reg.size() / 2000);
    for (size_t i = 0; i < reg.size(); i += stride) {
      const double t = static_cast<double>(i) * dt;
      values.push_back({{"time", t},
                        {"value", reg[i]},
                        {"runs", label},
                        {"series", "regressor"}});
      values.push_back({{"time", t},
                        {"value", boxcar[i]},
                        {"runs", label},
                        {"series", "task boxcar"}});
    }
  }
  const std::string hrf = e.hrf.empty() ? "NONE" : e.hrf;
  json spec = BaseSpec("Task regressor over time",
                       "Boxcar of task blocks and its HRF convolution");
  spec["width"] = kChartWidth;
  spec["height"] = 160;
  spec["data"] = {{"values", values}};
  spec["mark"] = {
      {"type", "line"}, {"interpolate", "step-after"}, {"tooltip", true}};
  spec["encoding"] = {{"x",
                       {{"field", "time"},
                        {"type", "quantitative"},
                        {"axis", Axis("time (s)")}}},
                      {"y",
                       {{"field", "value"},
                        {"type", "quantitative"},
                        {"axis", Axis("regressor (a.u.; boxcar 0/1)")}}},
                      {"color",
                       {{"field", "runs"},
                        {"type", "nominal"},
                        {"legend", {{"title", "runs with this timing"}}}}},
                      {"strokeDash",
                       {{"field", "series"},
                        {"type", "nominal"},
                        {"legend", {{"title", "series"}}}}}};
  return MakeChart(
      "design-regressors", "Task regressor over time",
      absl::StrCat(
          "The dashed line is the task boxcar (1 during task blocks); the "
          "solid line the regressor the GLM fits, the boxcar convolved with "
          "the '",
          hrf,
          "' haemodynamic response (identical to the boxcar for NONE). Runs "
          "with the same timing are drawn once. Shown at the run's time "
          "points; the worker's design matrix (nipy-exact, oversampled) may "
          "differ in the last digits."),
      std::move(spec));
}

Chart UnitsPerLayerChart(const ReportExperiment& e, const ReportNetwork& n) {
  std::map<std::pair<std::string, std::string>, int64_t> counts;
  for (const ReportHook& h : e.hooks) {
    const HookPlace p = PlaceOfHook(h.name);
    counts[{p.layer, p.kind}] += 0;  // every cell drawn, zeros too
  }
  for (const auto& [hook, count] : n.size_by_hook) {
    const HookPlace p = PlaceOfHook(hook);
    counts[{p.layer, p.kind}] += count;
  }
  json values = json::array();
  for (const auto& [place, count] : counts) {
    values.push_back(
        {{"layer", place.first}, {"hook", place.second}, {"units", count}});
  }
  json spec = BaseSpec(
      absl::StrCat("Network units per layer and hook point: ", n.condition),
      "Heat map of network units by layer and hook point");
  spec["width"] = {{"step", 36}};
  spec["height"] = {{"step", 26}};
  spec["data"] = {{"values", values}};
  const json x = {
      {"field", "layer"},
      {"type", "ordinal"},
      {"sort", LayerOrder(e)},
      {"axis", {{"title", "layer (transformer block)"}, {"labelAngle", 0}}}};
  const json y = {{"field", "hook"},
                  {"type", "ordinal"},
                  {"sort", KindOrder(e)},
                  {"axis", Axis("hook point")}};
  spec["layer"] = json::array(
      {{{"mark", {{"type", "rect"}, {"tooltip", true}}},
        {"encoding",
         {{"x", x},
          {"y", y},
          {"color",
           {{"field", "units"},
            {"type", "quantitative"},
            {"scale", {{"scheme", "blues"}}},
            {"legend", {{"title", "units in network"}}}}}}}},
       {{"mark", {{"type", "text"}, {"fontSize", 9}}},
        {"encoding",
         {{"x", x},
          {"y", y},
          {"text", {{"field", "units"}}},
          {"color",
           {{"condition", {{"test", "datum.units > 0"}, {"value", "black"}}},
            {"value", "#bbb"}}}}}}});
  return MakeChart(
      absl::StrCat("network-", Slug(n.condition), "-layers"),
      absl::StrCat("Units per layer and hook point: ", n.condition),
      absl::StrCat("Each cell counts the units of one hook point of one "
                   "layer that are in the '",
                   n.condition, "' network (", n.size, " units; ",
                   ThresholdText(n),
                   "). Darker cells hold more units; the number is the "
                   "count."),
      std::move(spec));
}

Chart UnitStripChart(const ReportExperiment& e, const ReportNetwork& n) {
  json values = json::array();
  std::vector<std::string> rows;
  int64_t offset = 0;
  for (const ReportHook& h : e.hooks) {
    const HookPlace p = PlaceOfHook(h.name);
    const std::string row =
        p.layer == p.kind ? p.kind : absl::StrCat("L", p.layer, " ", p.kind);
    rows.push_back(row);
    const int64_t bins = std::min<int64_t>(h.width, kMaxStripBins);
    for (int64_t b = 0; b < bins && !n.t.empty(); ++b) {
      const int64_t from = b * h.width / bins;
      const int64_t to = (b + 1) * h.width / bins;
      double best = 0;
      for (int64_t u = from; u < to; ++u) {
        const size_t i = static_cast<size_t>(offset + u);
        if (i < n.t.size() && std::isfinite(n.t[i]) &&
            std::abs(n.t[i]) > std::abs(best)) {
          best = n.t[i];
        }
      }
      values.push_back({{"row", row}, {"from", from}, {"to", to}, {"t", best}});
    }
    offset += h.width;
  }
  const double m = MaxAbs(n.t);
  json spec = BaseSpec(absl::StrCat("t of every captured unit: ", n.condition),
                       "Strip per hook point, binned units coloured by t");
  spec["width"] = kChartWidth;
  spec["height"] = {{"step", 9}};
  spec["data"] = {{"values", values}};
  spec["mark"] = {{"type", "rect"}, {"tooltip", true}};
  spec["encoding"] = {
      {"y",
       {{"field", "row"},
        {"type", "nominal"},
        {"sort", rows},
        {"axis",
         {{"title", "hook point (layer, kind)"}, {"labelFontSize", 8}}}}},
      {"x",
       {{"field", "from"},
        {"type", "quantitative"},
        {"axis", Axis("unit index within the hook point")}}},
      {"x2", {{"field", "to"}}},
      {"color",
       {{"field", "t"},
        {"type", "quantitative"},
        {"scale",
         {{"scheme", "redblue"}, {"reverse", true}, {"domain", {-m, m}}}},
        {"legend", {{"title", "t (task > baseline)"}}}}}};
  return MakeChart(
      absl::StrCat("network-", Slug(n.condition), "-strip"),
      absl::StrCat("t of every captured unit: ", n.condition),
      absl::StrCat(
          "One strip per hook point in layout order; each cell covers a run "
          "of adjacent units (at most ",
          kMaxStripBins,
          " cells per strip) and shows the t of its unit with the largest "
          "|t|. Red: more active in task than baseline blocks; blue: less. "
          "The network: ",
          ThresholdText(n), "."),
      std::move(spec));
}

Chart LayerDistributionChart(const ReportExperiment& e,
                             const ReportNetwork& n) {
  std::map<std::string, std::vector<double>> by_layer;
  int64_t offset = 0;
  for (const ReportHook& h : e.hooks) {
    std::vector<double>& v = by_layer[PlaceOfHook(h.name).layer];
    for (int64_t u = 0; u < h.width; ++u) {
      const size_t i = static_cast<size_t>(offset + u);
      if (i < n.t.size() && std::isfinite(n.t[i])) v.push_back(n.t[i]);
    }
    offset += h.width;
  }
  json values = json::array();
  for (const std::string& layer : LayerOrder(e)) {
    std::vector<double>& v = by_layer[layer];
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    int64_t above = 0;
    for (double t : v) above += HasThreshold(n) && std::abs(t) >= n.threshold;
    values.push_back({{"layer", layer},
                      {"min", v.front()},
                      {"p01", Quantile(v, 0.01)},
                      {"q1", Quantile(v, 0.25)},
                      {"median", Quantile(v, 0.5)},
                      {"q3", Quantile(v, 0.75)},
                      {"p99", Quantile(v, 0.99)},
                      {"max", v.back()},
                      {"units", v.size()},
                      {"above", above}});
  }
  const json x = {
      {"field", "layer"},
      {"type", "ordinal"},
      {"sort", LayerOrder(e)},
      {"axis", {{"title", "layer (transformer block)"}, {"labelAngle", 0}}}};
  json layers = json::array(
      {{{"mark", {{"type", "rule"}, {"color", "#888"}}},
        {"encoding",
         {{"x", x},
          {"y",
           {{"field", "min"},
            {"type", "quantitative"},
            {"axis", Axis("t (task > baseline)")}}},
          {"y2", {{"field", "max"}}}}}},
       {{"mark",
         {{"type", "bar"},
          {"size", 14},
          {"color", "#9ecae1"},
          {"tooltip", {{"content", "data"}}}}},
        {"encoding",
         {{"x", x},
          {"y", {{"field", "p01"}, {"type", "quantitative"}}},
          {"y2", {{"field", "p99"}}}}}},
       {{"mark", {{"type", "bar"}, {"size", 14}, {"color", "#3182bd"}}},
        {"encoding",
         {{"x", x},
          {"y", {{"field", "q1"}, {"type", "quantitative"}}},
          {"y2", {{"field", "q3"}}}}}},
       {{"mark", {{"type", "tick"}, {"color", "white"}, {"size", 14}}},
        {"encoding",
         {{"x", x}, {"y", {{"field", "median"}, {"type", "quantitative"}}}}}}});
  const bool has_threshold = HasThreshold(n);
  if (has_threshold) {
    layers.push_back(
        {{"data",
          {{"values",
            json::array({{{"cut", n.threshold}}, {{"cut", -n.threshold}}})}}},
         {"mark",
          {{"type", "rule"}, {"color", "#d62728"}, {"strokeDash", {6, 3}}}},
         {"encoding", {{"y", {{"field", "cut"}, {"type", "quantitative"}}}}}});
  }
  json spec = BaseSpec(absl::StrCat("t distribution per layer: ", n.condition),
                       "Box summary of t per layer against the threshold");
  spec["width"] = kChartWidth;
  spec["height"] = 220;
  spec["data"] = {{"values", values}};
  spec["layer"] = std::move(layers);
  return MakeChart(
      absl::StrCat("network-", Slug(n.condition), "-distribution"),
      absl::StrCat("t distribution per layer: ", n.condition),
      absl::StrCat(
          "For each layer, the t of all its units: the grey line spans "
          "min to max, the light bar the 1st to 99th percentile, the dark "
          "bar the quartiles, the white tick the median. ",
          has_threshold
              ? absl::StrFormat("The red dashed lines are the threshold "
                                "+-%.2f; units beyond them form the network.",
                                n.threshold)
              : std::string("No threshold line: no unit passed the "
                            "threshold.")),
      std::move(spec));
}

Chart TopUnitsChart(const ReportNetwork& n) {
  json values = json::array();
  std::vector<std::string> order;
  for (const ReportUnit& u : n.top_units) {
    values.push_back(
        {{"unit", u.name}, {"t", Finite(u.t)}, {"beta", Finite(u.beta)}});
    order.push_back(u.name);
  }
  json spec = BaseSpec(absl::StrCat("Strongest units: ", n.condition),
                       "Bar per unit: its t");
  spec["width"] = 420;
  spec["height"] = {{"step", 14}};
  spec["data"] = {{"values", values}};
  spec["mark"] = {{"type", "bar"}, {"tooltip", true}};
  spec["encoding"] = {
      {"y",
       {{"field", "unit"},
        {"type", "nominal"},
        {"sort", order},
        {"axis",
         {{"title", "unit (hook point[index])"},
          {"labelFontSize", 9},
          {"labelLimit", 220}}}}},
      {"x",
       {{"field", "t"},
        {"type", "quantitative"},
        {"axis", Axis("t (task > baseline)")}}},
      {"color",
       {{"condition", {{"test", "datum.t < 0"}, {"value", "#2166ac"}}},
        {"value", "#b2182b"}}}};
  return MakeChart(
      absl::StrCat("top-units-", Slug(n.condition)),
      absl::StrCat("Strongest units: ", n.condition),
      absl::StrCat("The ", n.top_units.size(), " units of the '", n.condition,
                   "' network with the largest |t|, largest first; red bars "
                   "are more active in task blocks, blue ones less."),
      std::move(spec));
}

Chart TimeCourseChart(const ReportData& data, const ReportNetwork& n) {
  const ReportExperiment& e = data.experiment;
  std::vector<ReportEvent> events;
  for (const ReportRunDesign& d : data.designs) {
    if (d.run_index == n.time_course_run) events = d.events;
  }
  json values = json::array();
  const double dt = e.tokens_per_second > 0 ? 1.0 / e.tokens_per_second : 1.0;
  for (const ReportUnit& u : n.top_units) {
    if (u.time_course.empty()) continue;
    // z-score so that units of different scales share one axis with the
    // regressor (also z-scored).
    double mean = 0, sq = 0;
    for (double v : u.time_course) mean += v;
    mean /= static_cast<double>(u.time_course.size());
    for (double v : u.time_course) sq += (v - mean) * (v - mean);
    const double sd =
        std::sqrt(sq / static_cast<double>(u.time_course.size())) + 1e-12;
    const std::vector<double> reg = TaskRegressor(
        events, ConditionOfRun(e, n.time_course_run),
        static_cast<int64_t>(u.time_course.size()), e.tokens_per_second, e.hrf);
    double rmean = 0, rsq = 0;
    for (double v : reg) rmean += v;
    rmean /= static_cast<double>(std::max<size_t>(1, reg.size()));
    for (double v : reg) rsq += (v - rmean) * (v - rmean);
    const double rsd =
        std::sqrt(rsq / static_cast<double>(std::max<size_t>(1, reg.size()))) +
        1e-12;
    for (size_t i = 0; i < u.time_course.size(); ++i) {
      const double t = static_cast<double>(i) * dt;
      values.push_back({{"unit", u.name},
                        {"time", t},
                        {"z", Finite((u.time_course[i] - mean) / sd)},
                        {"series", "activation"}});
      values.push_back({{"unit", u.name},
                        {"time", t},
                        {"z", Finite((reg[i] - rmean) / rsd)},
                        {"series", "task regressor"}});
    }
  }
  json spec = BaseSpec(absl::StrCat("Time courses: ", n.condition),
                       "Top units' activation against the task regressor");
  spec["data"] = {{"values", values}};
  spec["facet"] = {
      {"row", {{"field", "unit"}, {"type", "nominal"}, {"title", "unit"}}}};
  spec["spec"] = {
      {"width", kChartWidth},
      {"height", 70},
      {"mark", {{"type", "line"}, {"strokeWidth", 1}}},
      {"encoding",
       {{"x",
         {{"field", "time"},
          {"type", "quantitative"},
          {"axis", Axis("time (s)")}}},
        {"y",
         {{"field", "z"}, {"type", "quantitative"}, {"axis", Axis("z-score")}}},
        {"color", {{"field", "series"}, {"type", "nominal"}}}}}};
  return MakeChart(
      absl::StrCat("top-units-", Slug(n.condition), "-time-course"),
      absl::StrCat("Time courses: ", n.condition),
      absl::StrCat("Each row is one of the strongest units over run ",
                   n.time_course_run,
                   ": its activation (z-scored) against the task regressor "
                   "(z-scored). A unit of the network follows the regressor "
                   "(or its mirror image for negative t)."),
      std::move(spec));
}

}  // namespace fnprobe::client::report
