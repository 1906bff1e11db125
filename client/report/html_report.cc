#include "client/report/html_report.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "client/report/report_assets.h"

namespace fnprobe::client::report {
namespace {

using json = nlohmann::json;

// Prompts (with their generated text) shown per block in the samples.
constexpr int kSamplesPerBlock = 2;
// Events listed per run before the rest is summarised.
constexpr size_t kMaxEventRows = 400;

std::string RunLabelFor(const ReportRun& r) {
  return absl::StrFormat("run %d: %s, repeat %d", r.index, r.condition,
                         r.repeat);
}

std::string Td(const std::string& text) {
  return absl::StrCat("<td>", HtmlEscape(text), "</td>");
}

std::string Row(const std::vector<std::string>& cells) {
  std::string row = "<tr>";
  for (const std::string& c : cells) absl::StrAppend(&row, Td(c));
  return absl::StrCat(row, "</tr>\n");
}

std::string Table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows) {
  std::string html = "<table>";
  if (!header.empty()) {
    absl::StrAppend(&html, "<thead><tr>");
    for (const std::string& h : header) {
      absl::StrAppend(&html, "<th>", HtmlEscape(h), "</th>");
    }
    absl::StrAppend(&html, "</tr></thead>");
  }
  absl::StrAppend(&html, "<tbody>\n");
  for (const auto& r : rows) absl::StrAppend(&html, Row(r));
  return absl::StrCat(html, "</tbody></table>\n");
}

std::string P(const std::string& text, const std::string& cls = "") {
  return absl::StrCat("<p", cls.empty() ? "" : " class=\"" + cls + "\"", ">",
                      HtmlEscape(text), "</p>\n");
}

// JSON inside a <script> element: "<" as \u003c, so that no "</script" or
// "<!--" in a string can end or confuse the element.
std::string JsonForScript(const json& value) {
  return absl::StrReplaceAll(value.dump(), {{"<", "\\u003c"}});
}

// JavaScript inside a <script> element: only "</script" ends it early.
// (Rewriting every "</" would break regular expressions such as /</g.)
std::string JsForScript(absl::string_view js) {
  return absl::StrReplaceAll(
      js, {{"</script", "<\\/script"}, {"</SCRIPT", "<\\/SCRIPT"}});
}

// The minified files end with a source-map comment naming a .map file that
// is not shipped; strip it so the page names no file outside itself.
std::string WithoutSourceMap(absl::string_view js) {
  std::string s(js);
  const size_t at = s.rfind("//# sourceMappingURL=");
  if (at != std::string::npos) s.erase(at);
  return JsForScript(s);
}

ReportSection ExperimentSection(const ReportData& data) {
  const ReportExperiment& e = data.experiment;
  ReportSection s{"experiment", "The experiment", "", {}, ""};
  std::vector<std::vector<std::string>> facts = {
      {"experiment", absl::StrCat(e.id, " \"", e.name, "\"")},
      {"owner", e.owner},
      {"phase", e.phase},
      {"model", e.model},
      {"model checksum",
       e.model_checksum.empty()
           ? "unknown: no inference server could be asked when it was "
             "submitted (the layout hash below identifies the captured "
             "units)"
           : e.model_checksum},
      {"layout", absl::StrCat(e.hooks.size(), " hook points, layout hash ",
                              e.layout_hash)},
      {"software", e.software_version},
      {"created / finished", absl::StrCat(e.created_at, " / ", e.finished_at)},
      {"design",
       absl::StrCat(absl::StrJoin(e.pattern, ", "), "; ", e.prompts_per_block,
                    " prompts per block, ", e.tokens_per_prompt,
                    " tokens per prompt, ", e.repeats, " repeats")},
      {"analysis", absl::StrCat(e.inference, " inference, HRF ", e.hrf,
                                ", threshold ", e.threshold_method, " alpha ",
                                absl::StrFormat("%g", e.alpha))},
      {"tokens", absl::StrCat(e.tokens_done, " generated over ", e.runs.size(),
                              " runs")}};
  s.html = Table({}, facts);
  std::vector<std::vector<std::string>> runs;
  for (const ReportRun& r : e.runs) {
    runs.push_back({absl::StrCat(r.index), r.condition, absl::StrCat(r.repeat),
                    r.state,
                    absl::StrCat(r.tokens_generated, " / ", r.time_points),
                    absl::StrCat(r.attempts), r.activation_checksum, r.error});
  }
  absl::StrAppend(
      &s.html, "<details><summary>Runs (", e.runs.size(),
      ": state, tokens, activation checksum)</summary>\n",
      Table({"run", "condition", "repeat", "state", "tokens / planned",
             "attempts", "activation checksum", "error"},
            runs),
      "</details>\n<details><summary>The stored spec (JSON)</summary><pre>",
      HtmlEscape(e.spec_json), "</pre></details>\n");
  if (e.runs.empty()) {
    s.empty_note = "No runs: this experiment has not been planned yet.";
  } else {
    s.charts.push_back(TokensPerRunChart(e));
  }
  return s;
}

ReportSection DesignSection(const ReportData& data) {
  ReportSection s{"design", "The design", "", {}, ""};
  if (data.designs.empty()) {
    s.empty_note = "No design: the worker returned no events for any run.";
    return s;
  }
  s.charts.push_back(BlockDesignChart(data));
  s.charts.push_back(RegressorChart(data));
  std::vector<std::vector<std::string>> rows;
  size_t total = 0;
  for (const ReportRunDesign& d : data.designs) {
    for (const ReportEvent& ev : d.events) {
      if (++total > kMaxEventRows) continue;
      rows.push_back({absl::StrCat(d.run_index),
                      absl::StrFormat("%g", ev.onset),
                      absl::StrFormat("%g", ev.duration), ev.trial_type});
    }
  }
  absl::StrAppend(
      &s.html, "<details><summary>Events table (", total,
      " events, BIDS onset / duration in s)</summary>",
      Table({"run", "onset (s)", "duration (s)", "trial_type"}, rows));
  if (total > kMaxEventRows) {
    absl::StrAppend(
        &s.html, P(absl::StrCat("... ", total - kMaxEventRows,
                                " more; `fnprobe events ID RUN` lists all.")));
  }
  absl::StrAppend(&s.html, "</details>\n");
  return s;
}

ReportSection NetworkSection(const ReportData& data, const ReportNetwork& n) {
  ReportSection s{absl::StrCat("network-", Slug(n.condition)),
                  absl::StrCat("Network: ", n.condition),
                  "",
                  {},
                  ""};
  s.html = P(absl::StrFormat(
      "Contrast %s; %d units in the network: %s (%s, alpha %g); %g degrees "
      "of freedom.",
      n.contrast, n.size, ThresholdText(n), data.experiment.threshold_method,
      data.experiment.alpha, n.dof));
  s.charts.push_back(UnitsPerLayerChart(data.experiment, n));
  if (n.t.empty()) {
    absl::StrAppend(&s.html,
                    P("No t-map for this condition: the per-unit strip and "
                      "the per-layer t distribution need it.",
                      "empty"));
  } else {
    s.charts.push_back(UnitStripChart(data.experiment, n));
    s.charts.push_back(LayerDistributionChart(data.experiment, n));
  }
  return s;
}

ReportSection OverlapSection(const ReportData& data) {
  ReportSection s{"overlap", "Overlap between networks", "", {}, ""};
  if (!data.overlap || data.overlap->labels.empty()) {
    s.empty_note = "No overlap matrix: the experiment has no networks.";
    return s;
  }
  s.charts.push_back(OverlapChart(*data.overlap));
  return s;
}

ReportSection RepeatabilitySection(const ReportData& data) {
  ReportSection s{"repeatability", "Repeatability", "", {}, ""};
  if (!data.repeatability || data.repeatability->conditions.empty()) {
    s.empty_note = absl::StrCat("No repeatability results",
                                data.repeatability_note.empty()
                                    ? std::string(".")
                                    : ": " + data.repeatability_note);
    return s;
  }
  s.charts.push_back(RepeatabilityChart(*data.repeatability));
  return s;
}

ReportSection ClassificationSection(const ReportData& data) {
  ReportSection s{"classification", "Held-out identification", "", {}, ""};
  if (!data.classification || data.classification->conditions.empty()) {
    s.empty_note = absl::StrCat("No held-out identification",
                                data.classification_note.empty()
                                    ? std::string(".")
                                    : ": " + data.classification_note);
    return s;
  }
  const ReportClassification& c = *data.classification;
  s.html = P(absl::StrFormat(
      "Accuracy %.0f%% by mean t (%d of %d held-out runs), %.0f%% by "
      "correlation; chance %.0f%%; binomial p = %.3g.",
      100 * c.accuracy, c.correct, c.predictions,
      100 * c.accuracy_by_correlation, 100 * c.chance, c.p_value));
  s.charts.push_back(ConfusionChart(c));
  s.charts.push_back(AccuracyChart(c));
  return s;
}

ReportSection TopUnitsSection(const ReportData& data) {
  ReportSection s{"top-units", "Top units of each network", "", {}, ""};
  bool any_time_course = false;
  for (const ReportNetwork& n : data.networks) {
    absl::StrAppend(&s.html, "<h3>", HtmlEscape(n.condition), "</h3>\n");
    if (n.top_units.empty()) {
      absl::StrAppend(&s.html, P(absl::StrCat("The '", n.condition,
                                              "' network is empty: no unit "
                                              "passed the threshold."),
                                 "empty"));
      continue;
    }
    std::vector<std::vector<std::string>> rows;
    for (const ReportUnit& u : n.top_units) {
      rows.push_back({u.name, absl::StrFormat("%.3f", u.t),
                      absl::StrFormat("%.4g", u.beta)});
    }
    absl::StrAppend(&s.html, "<details><summary>Table</summary>",
                    Table({"unit", "t", "beta (effect)"}, rows),
                    "</details>\n");
    s.charts.push_back(TopUnitsChart(n));
    const bool has_course =
        std::any_of(n.top_units.begin(), n.top_units.end(),
                    [](const ReportUnit& u) { return !u.time_course.empty(); });
    if (has_course) {
      any_time_course = true;
      s.charts.push_back(TimeCourseChart(data, n));
    }
  }
  if (data.networks.empty()) {
    s.empty_note = "No networks: the experiment has no results yet.";
  } else if (!any_time_course) {
    absl::StrAppend(&s.html,
                    P(absl::StrCat("No time courses: ",
                                   data.time_course_note.empty()
                                       ? std::string("the worker served none.")
                                       : data.time_course_note),
                      "empty"));
  }
  return s;
}

ReportSection SamplesSection(const ReportData& data) {
  ReportSection s{"samples", "Generated text per block", "", {}, ""};
  const ReportExperiment& e = data.experiment;
  // One run per condition (its first repeat): what each block presented.
  std::vector<std::string> seen;
  bool any_generated = false;
  for (const ReportRun& r : e.runs) {
    if (std::find(seen.begin(), seen.end(), r.condition) != seen.end()) {
      continue;
    }
    const ReportRunDesign* d = nullptr;
    for (const ReportRunDesign& x : data.designs) {
      if (x.run_index == r.index) d = &x;
    }
    if (d == nullptr || d->prompts.empty()) continue;
    seen.push_back(r.condition);
    std::vector<std::vector<std::string>> rows;
    const int per_block = std::max(1, e.prompts_per_block);
    for (size_t b = 0; b * per_block < d->prompts.size(); ++b) {
      const std::string block =
          b < e.pattern.size() ? e.pattern[b] : absl::StrCat("block ", b);
      for (int k = 0; k < kSamplesPerBlock && k < per_block; ++k) {
        const size_t i = b * per_block + k;
        if (i >= d->prompts.size()) break;
        const std::string generated =
            i < d->generated.size() ? d->generated[i] : "";
        any_generated |= !generated.empty();
        rows.push_back({absl::StrCat(b, " (", block, ")"), d->prompts[i],
                        generated.empty() ? "-" : generated});
      }
    }
    absl::StrAppend(&s.html, "<h3>", HtmlEscape(RunLabelFor(r)), "</h3>\n",
                    Table({"block", "prompt", "generated text"}, rows));
  }
  if (seen.empty()) {
    s.empty_note = "No prompts: the worker returned none for any run.";
  } else if (!any_generated) {
    absl::StrAppend(&s.html,
                    P(absl::StrCat("No generated text: ",
                                   data.generated_text_note.empty()
                                       ? std::string("the worker served none.")
                                       : data.generated_text_note),
                      "empty"));
  }
  return s;
}

}  // namespace

std::string HtmlEscape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

namespace {

std::string Fixed(double v, int decimals) {
  if (std::isnan(v)) return "-";
  return absl::StrFormat("%.*f", decimals, v);
}

// The network's change beside its controls' (chart, then a table per
// network x operation x evaluation), and the double dissociation table.
ReportSection MaskingSection(const ReportData& data) {
  ReportSection s{"masking", "Masking against random controls", "", {}, ""};
  if (data.masking.empty()) {
    s.empty_note = "No masking results for this experiment.";
    return s;
  }
  s.charts.push_back(MaskingChart(data.masking));
  std::vector<std::vector<std::string>> rows;
  for (const ReportMasking& m : data.masking) {
    double lo = 0, hi = 0, sum = 0;
    for (size_t i = 0; i < m.random_controls.size(); ++i) {
      const double c = m.random_controls[i];
      lo = i == 0 ? c : std::min(lo, c);
      hi = i == 0 ? c : std::max(hi, c);
      sum += c;
    }
    const double mean =
        m.random_controls.empty()
            ? std::nan("")
            : sum / static_cast<double>(m.random_controls.size());
    rows.push_back({m.network, m.metric, Fixed(m.effect, 3), Fixed(mean, 3),
                    absl::StrCat(Fixed(lo, 3), " .. ", Fixed(hi, 3)),
                    Fixed(m.percentile, 2), Fixed(m.p, 3)});
  }
  absl::StrAppend(&s.html, Table({"network masked (operation, texts)", "metric",
                                  "change", "controls' mean change",
                                  "controls' range", "percentile", "p"},
                                 rows));
  if (data.masking_dissociations.empty()) {
    absl::StrAppend(&s.html,
                    P("No double dissociation: the evaluation texts test "
                      "fewer than two conditions, or no network's condition.",
                      "empty"));
    return s;
  }
  rows.clear();
  for (const ReportMaskingDissociation& d : data.masking_dissociations) {
    double hi = 0;
    for (size_t i = 0; i < d.control_contrasts.size(); ++i) {
      hi = i == 0 ? d.control_contrasts[i]
                  : std::max(hi, d.control_contrasts[i]);
    }
    rows.push_back({d.network, d.operation, d.metric, d.condition, d.other,
                    Fixed(d.change, 3), Fixed(d.other_change, 3),
                    Fixed(d.contrast, 3), Fixed(hi, 3), Fixed(d.percentile, 2),
                    Fixed(d.p, 3)});
  }
  absl::StrAppend(
      &s.html, "<h3>Double dissociation</h3>\n",
      P("Does the network of condition A harm A's texts more than B's? "
        "contrast = harm on A's texts - harm on B's (harm: nll up, top1 "
        "down); each control's contrast uses its same units on both, so "
        "harm shared by all texts cancels."),
      Table({"network", "operation", "metric", "A", "B", "change on A",
             "change on B", "contrast", "controls' largest contrast",
             "percentile", "p"},
            rows));
  return s;
}

}  // namespace

std::vector<std::string> FixedSectionIds() {
  return {"experiment", "design",  "overlap", "repeatability", "classification",
          "top-units",  "samples", "ica",     "masking"};
}

std::vector<ReportSection> BuildSections(const ReportData& data) {
  std::vector<ReportSection> sections;
  sections.push_back(ExperimentSection(data));
  sections.push_back(DesignSection(data));
  if (data.networks.empty()) {
    sections.push_back({"networks",
                        "Networks",
                        "",
                        {},
                        "No networks: the experiment has no results yet."});
  }
  for (const ReportNetwork& n : data.networks) {
    sections.push_back(NetworkSection(data, n));
  }
  sections.push_back(OverlapSection(data));
  sections.push_back(RepeatabilitySection(data));
  sections.push_back(ClassificationSection(data));
  sections.push_back(TopUnitsSection(data));
  sections.push_back(SamplesSection(data));
  ReportSection ica{"ica", "ICA components and recurrence", "", {}, ""};
  if (data.ica.empty()) {
    ica.empty_note = "No ICA results for this experiment.";
  } else {
    ica.charts.push_back(IcaRecurrenceChart(data.ica));
  }
  sections.push_back(std::move(ica));
  sections.push_back(MaskingSection(data));
  return sections;
}

std::vector<const Chart*> AllCharts(
    const std::vector<ReportSection>& sections) {
  std::vector<const Chart*> charts;
  for (const ReportSection& s : sections) {
    for (const Chart& c : s.charts) charts.push_back(&c);
  }
  return charts;
}

namespace {

constexpr char kStyle[] = R"css(
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif;
       margin: 0 auto; max-width: 1100px; padding: 0 24px 48px;
       color: #222; line-height: 1.45; }
header { border-bottom: 2px solid #3182bd; margin-bottom: 8px; }
h1 { margin: 16px 0 4px; font-size: 26px; }
h2 { margin-top: 36px; border-bottom: 1px solid #ddd; }
nav a { margin-right: 12px; white-space: nowrap; }
figure { margin: 18px 0; }
figcaption { color: #444; font-size: 14px; max-width: 820px; }
figcaption b { color: #222; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left;
         vertical-align: top; max-width: 520px; }
th { background: #f3f6fa; }
p.empty { color: #8a5a00; background: #fff8e5; padding: 6px 10px;
          border-left: 3px solid #e0a800; }
pre { white-space: pre-wrap; font-size: 12px; background: #f7f7f7;
      padding: 8px; max-height: 420px; overflow: auto; }
#report-errors:empty { display: none; }
#report-errors { color: #a00; background: #fee; }
#report-status { color: #666; font-size: 13px; }
)css";

// Installed first, before any other script runs: collects console errors,
// uncaught exceptions, rejected promises and CSP violations into the DOM,
// where a headless check (chromium --dump-dom) can read them.
constexpr char kErrorCapture[] = R"js(
(function () {
  var box = document.getElementById('report-errors');
  function record(msg) {
    box.textContent += msg + '\n';
    document.body.setAttribute('data-report-errors',
        String(box.textContent.split('\n').length - 1));
  }
  window.__fnprobeRecordError = record;
  var original = console.error;
  console.error = function () {
    record('console.error: ' + Array.prototype.map.call(arguments, String)
        .join(' '));
    return original.apply(console, arguments);
  };
  window.addEventListener('error', function (e) {
    record('uncaught: ' + (e.message || e));
  });
  window.addEventListener('unhandledrejection', function (e) {
    record('unhandled rejection: ' +
        (e.reason && e.reason.message ? e.reason.message : e.reason));
  });
  document.addEventListener('securitypolicyviolation', function (e) {
    record('blocked by the page policy: ' + e.blockedURI + ' (' +
        e.violatedDirective + ')');
  });
})();
)js";

// Renders every chart; marks the body when all are drawn (or one failed).
constexpr char kRender[] = R"js(
(function () {
  var specs = JSON.parse(document.getElementById('report-specs').textContent);
  var ids = Object.keys(specs);
  var status = document.getElementById('report-status');
  var body = document.body;
  body.setAttribute('data-report-state', 'rendering');
  body.setAttribute('data-charts-expected', String(ids.length));
  Promise.all(ids.map(function (id) {
    return vegaEmbed(document.getElementById('vis-' + id), specs[id], {
      mode: 'vega-lite', renderer: 'svg', downloadFileName: id,
      actions: {export: true, source: true, compiled: false, editor: false}
    });
  })).then(function (views) {
    body.setAttribute('data-charts-rendered', String(views.length));
    body.setAttribute('data-report-state', 'rendered');
    status.textContent = views.length + ' charts drawn.';
  }).catch(function (e) {
    window.__fnprobeRecordError('chart failed: ' + (e && e.message ? e.message
                                                                   : e));
    body.setAttribute('data-report-state', 'failed');
  });
})();
)js";

// No request may leave the page: scripts and styles are inline, images
// (vega-embed's PNG export) are data: or blob: URLs.
constexpr char kPolicy[] =
    "default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
    "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
    "connect-src data: blob:";

}  // namespace

std::string RenderHtml(const ReportData& data,
                       const std::vector<ReportSection>& sections) {
  const ReportExperiment& e = data.experiment;
  json specs = json::object();
  for (const Chart* c : AllCharts(sections)) specs[c->id] = c->spec;
  std::string html;
  html.reserve(1 << 20);
  absl::StrAppend(
      &html, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n",
      "<meta charset=\"utf-8\">\n",
      "<meta http-equiv=\"Content-Security-Policy\" content=\"", kPolicy,
      "\">\n<meta name=\"viewport\" content=\"width=device-width\">\n",
      "<title>fnprobe report: experiment ", e.id, " ", HtmlEscape(e.name),
      "</title>\n<style>", kStyle, "</style>\n</head>\n<body>\n",
      "<pre id=\"report-errors\"></pre>\n<script>", kErrorCapture,
      "</script>\n<header><h1>Experiment ", e.id, ": ", HtmlEscape(e.name),
      "</h1>\n",
      P(absl::StrCat("Model ", e.model, "; ", e.runs.size(), " runs; ",
                     e.software_version, "; charts: ", VegaVersions(),
                     ". Each chart's menu (...) saves it as SVG or PNG.")),
      "<p id=\"report-status\">Drawing charts...</p>\n<nav>");
  for (const ReportSection& s : sections) {
    absl::StrAppend(&html, "<a href=\"#", s.id, "\">", HtmlEscape(s.title),
                    "</a> ");
  }
  absl::StrAppend(&html, "</nav>\n</header>\n");
  for (const ReportSection& s : sections) {
    absl::StrAppend(&html, "<section id=\"", s.id, "\" data-expected-charts=\"",
                    s.charts.size(), "\">\n<h2>", HtmlEscape(s.title),
                    "</h2>\n");
    if (!s.empty_note.empty()) {
      absl::StrAppend(&html, P(s.empty_note, "empty"));
    }
    absl::StrAppend(&html, s.html);
    for (const Chart& c : s.charts) {
      absl::StrAppend(&html, "<figure class=\"chart\" data-chart-id=\"", c.id,
                      "\">\n<div class=\"vis\" id=\"vis-", c.id,
                      "\"></div>\n<figcaption><b>", HtmlEscape(c.title),
                      ".</b> ", HtmlEscape(c.caption),
                      "</figcaption>\n</figure>\n");
    }
    absl::StrAppend(&html, "</section>\n");
  }
  absl::StrAppend(&html, "<script>", WithoutSourceMap(VegaJs()),
                  "</script>\n<script>", WithoutSourceMap(VegaLiteJs()),
                  "</script>\n<script>", WithoutSourceMap(VegaEmbedJs()),
                  "</script>\n<script type=\"application/json\" "
                  "id=\"report-specs\">",
                  JsonForScript(specs), "</script>\n<script>", kRender,
                  "</script>\n</body>\n</html>\n");
  return html;
}

}  // namespace fnprobe::client::report
