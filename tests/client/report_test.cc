// The HTML report library (client/report/): every section is there, each
// chart is a valid Vega-Lite spec with a caption and titled axes, sections
// without data say so, the page references nothing outside itself, the
// paper-sized report is small and fast to write, and `export --plots`
// writes JSON and (with node) SVG files.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/report/html_report.h"
#include "client/report/report_charts.h"
#include "client/report/report_fetch.h"
#include "client/report/report_files.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/report_fixture.h"
#include "tests/support/reference_data.h"

namespace fnprobe::client::report {
namespace {

using json = nlohmann::json;
using ::fnprobe::testing::MakeReportData;
using ::fnprobe::testing::ReportShape;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

ReportShape Small() {
  ReportShape s;
  s.conditions = 2;
  s.repeats = 2;
  s.prompts_per_block = 2;
  s.tokens_per_prompt = 3;
  s.layers = 2;
  s.hidden = 8;
  s.mlp = 32;
  return s;
}

std::vector<std::string> Ids(const std::vector<ReportSection>& sections) {
  std::vector<std::string> ids;
  for (const ReportSection& s : sections) ids.push_back(s.id);
  return ids;
}

const ReportSection& Find(const std::vector<ReportSection>& sections,
                          const std::string& id) {
  for (const ReportSection& s : sections) {
    if (s.id == id) return s;
  }
  ADD_FAILURE() << "no section " << id;
  static const ReportSection* none = new ReportSection;
  return *none;
}

// Calls `f` on every object of `j`, recursively.
void Walk(const json& j, const std::function<void(const json&)>& f) {
  if (j.is_object()) {
    f(j);
    for (const auto& [k, v] : j.items()) Walk(v, f);
  } else if (j.is_array()) {
    for (const json& v : j) Walk(v, f);
  }
}

TEST(HtmlReportTest, EverySectionIsThereInOrder) {
  ReportShape shape = Small();
  shape.everything = true;
  const std::vector<ReportSection> sections =
      BuildSections(MakeReportData(shape));
  EXPECT_THAT(
      Ids(sections),
      ElementsAre("experiment", "design", "network-topic-0", "network-topic-1",
                  "overlap", "repeatability", "classification", "top-units",
                  "samples", "ica", "masking"));
  std::vector<size_t> counts;
  for (const ReportSection& s : sections) {
    counts.push_back(s.charts.size());
    EXPECT_TRUE(s.empty_note.empty()) << s.id << ": " << s.empty_note;
  }
  // top-units: a bar chart and a time-course chart per condition.
  EXPECT_THAT(counts, ElementsAre(1, 2, 3, 3, 1, 1, 2, 4, 0, 1, 1));
}

TEST(HtmlReportTest, ChartsAreValidVegaLiteWithCaptionsAndAxisTitles) {
  ReportShape shape = Small();
  shape.everything = true;
  const std::vector<ReportSection> sections =
      BuildSections(MakeReportData(shape));
  std::set<std::string> ids;
  for (const Chart* c : AllCharts(sections)) {
    SCOPED_TRACE(c->id);
    EXPECT_TRUE(ids.insert(c->id).second) << "duplicate id";
    EXPECT_EQ(c->id, Slug(c->id));
    EXPECT_FALSE(c->title.empty());
    EXPECT_GT(c->caption.size(), 60u) << "a caption says how to read it";
    const json round_trip = json::parse(c->spec.dump());
    EXPECT_EQ(round_trip, c->spec);
    EXPECT_TRUE(c->spec.contains("mark") || c->spec.contains("layer") ||
                c->spec.contains("facet"));
    EXPECT_FALSE(c->spec.contains("$schema")) << "no URL inside the page";
    int data_points = 0;
    int axes = 0;
    json body = c->spec;
    body.erase("config");  // shared axis styles, not an axis
    Walk(body, [&](const json& o) {
      if (o.contains("values") && o["values"].is_array()) {
        data_points += static_cast<int>(o["values"].size());
      }
      if (o.contains("axis") && o["axis"].is_object()) {
        ++axes;
        EXPECT_TRUE(o["axis"].contains("title")) << o.dump();
      }
    });
    EXPECT_GT(data_points, 0);
    EXPECT_GE(axes, 1);
  }
}

// A masking experiment's results (GetMaskingResults) in the report: the
// chart of the network's change beside its controls' (nll only: one axis),
// a table of every result, and the dissociation table.
TEST(HtmlReportTest, MaskingSectionShowsChangesAndDissociation) {
  v1::GetMaskingResultsResponse r;
  for (const char* evaluation : {"alpha", "beta"}) {
    for (const char* metric : {"nll", "top1"}) {
      v1::MaskingResult* m = r.add_results();
      m->set_network("alpha");
      m->set_operation("ZERO");
      m->set_evaluation(evaluation);
      m->set_metric(metric);
      m->set_unmasked(2.0);
      m->set_masked(std::string(evaluation) == "alpha" ? 5.0 : 2.1);
      m->set_change(m->masked() - 2.0);
      for (int k = 1; k <= 10; ++k) m->add_controls(2.0 + 0.01 * k);
      m->set_percentile(1.0);
      m->set_p(1.0 / 11);
    }
  }
  v1::MaskingDissociation* d = r.add_dissociations();
  d->set_network("alpha");
  d->set_operation("ZERO");
  d->set_metric("nll");
  d->set_condition("alpha");
  d->set_other("beta");
  d->set_change(3.0);
  d->set_other_change(0.1);
  d->set_contrast(2.9);
  for (int k = 1; k <= 10; ++k) d->add_control_contrasts(0.001 * k);
  d->set_percentile(1.0);
  d->set_p(1.0 / 11);
  ReportData data;
  data.experiment.id = 4;
  data.experiment.name = "mask";
  AddMaskingResults(r, &data);
  ASSERT_EQ(data.masking.size(), 4u);  // nll rows first
  EXPECT_EQ(data.masking[0].network, "alpha ZERO on alpha");
  EXPECT_DOUBLE_EQ(data.masking[0].effect, 3.0);
  ASSERT_EQ(data.masking[0].random_controls.size(), 10u);
  EXPECT_NEAR(data.masking[0].random_controls[9], 0.1, 1e-12);
  EXPECT_EQ(data.masking[2].metric.rfind("change of top-1", 0), 0u);
  ASSERT_EQ(data.masking_dissociations.size(), 1u);

  const std::vector<ReportSection> sections = BuildSections(data);
  const ReportSection& s = Find(sections, "masking");
  EXPECT_TRUE(s.empty_note.empty());
  ASSERT_EQ(s.charts.size(), 1u);
  // The chart: 2 nll rows x (network + 10 controls), no top1 row.
  const json& spec = s.charts[0].spec;
  EXPECT_EQ(spec["data"]["values"].size(), 22u);
  EXPECT_THAT(s.html, HasSubstr("<td>alpha ZERO on beta</td>"));
  EXPECT_THAT(s.html, HasSubstr("<td>3.000</td>"));  // alpha's change
  EXPECT_THAT(s.html, HasSubstr("<td>0.055</td>"));  // controls' mean
  EXPECT_THAT(s.html, HasSubstr("Double dissociation"));
  EXPECT_THAT(s.html, HasSubstr("<td>2.900</td>"));  // the contrast
  EXPECT_THAT(s.html, HasSubstr("<td>0.010</td>"));  // largest control's
  EXPECT_THAT(s.html, HasSubstr("<td>0.091</td>"));  // p = 1/11
  const std::string html = RenderHtml(data, sections);
  EXPECT_THAT(html, Not(HasSubstr("No masking results")));

  // Without a second condition: the table, and a note instead of the
  // dissociation.
  data.masking_dissociations.clear();
  const std::vector<ReportSection> alone = BuildSections(data);
  EXPECT_THAT(Find(alone, "masking").html, HasSubstr("No double dissociation"));
}

TEST(HtmlReportTest, SectionsWithoutDataSaySo) {
  ReportData data;
  data.experiment.id = 3;
  data.experiment.name = "empty";
  data.repeatability_note = "no repeats";
  const std::vector<ReportSection> sections = BuildSections(data);
  EXPECT_THAT(Ids(sections),
              ElementsAre("experiment", "design", "networks", "overlap",
                          "repeatability", "classification", "top-units",
                          "samples", "ica", "masking"));
  for (const ReportSection& s : sections) {
    EXPECT_FALSE(s.empty_note.empty()) << s.id;
    EXPECT_TRUE(s.charts.empty()) << s.id;
  }
  EXPECT_EQ(Find(sections, "ica").empty_note,
            "No ICA results for this experiment.");
  EXPECT_EQ(Find(sections, "masking").empty_note,
            "No masking results for this experiment.");
  EXPECT_THAT(Find(sections, "repeatability").empty_note,
              HasSubstr("no repeats"));
  const std::string html = RenderHtml(data, sections);
  EXPECT_THAT(html, HasSubstr("No ICA results for this experiment."));
  EXPECT_THAT(html, HasSubstr("<p class=\"empty\">"));
}

TEST(HtmlReportTest, MissingTimeCoursesAndGeneratedTextAreExplained) {
  ReportData data = MakeReportData(Small());
  data.time_course_note = "no time courses served";
  data.generated_text_note = "no text served";
  const std::vector<ReportSection> sections = BuildSections(data);
  EXPECT_THAT(Find(sections, "top-units").html,
              HasSubstr("no time courses served"));
  EXPECT_THAT(Find(sections, "samples").html, HasSubstr("no text served"));
  EXPECT_THAT(Find(sections, "samples").html, HasSubstr("Prompt 0 about"));
}

TEST(HtmlReportTest, PageIsSelfContainedAndEscaped) {
  ReportData data = MakeReportData(Small());
  data.experiment.name = "<script>alert(1)</script>";
  const std::vector<ReportSection> sections = BuildSections(data);
  const std::string html = RenderHtml(data, sections);
  EXPECT_THAT(html, Not(HasSubstr("<script>alert(1)")));
  EXPECT_THAT(html, HasSubstr("&lt;script&gt;alert(1)"));
  EXPECT_THAT(html, Not(HasSubstr("<script src")));
  EXPECT_THAT(html, Not(HasSubstr("<link")));
  EXPECT_THAT(html, Not(HasSubstr("sourceMappingURL")));
  EXPECT_THAT(html, HasSubstr("Content-Security-Policy"));
  EXPECT_THAT(html, HasSubstr("default-src 'none'"));
  // The chart specs travel as one JSON object keyed by chart id.
  const std::string open =
      "<script type=\"application/json\" "
      "id=\"report-specs\">";
  const size_t begin = html.find(open);
  ASSERT_NE(begin, std::string::npos);
  const size_t end = html.find("</script>", begin);
  const json specs =
      json::parse(html.substr(begin + open.size(), end - begin - open.size()));
  EXPECT_EQ(specs.size(), AllCharts(sections).size());
  for (const Chart* c : AllCharts(sections)) {
    EXPECT_THAT(html, HasSubstr("id=\"vis-" + c->id + "\""));
  }
}

TEST(HtmlReportTest, TaskRegressorIsTheBoxcarOrItsConvolution) {
  const std::vector<ReportEvent> events = {
      {0, 10, "rest"}, {10, 10, "cooking"}, {20, 10, "rest"}};
  const std::vector<double> boxcar =
      TaskRegressor(events, "cooking", 30, 1.0, "NONE");
  ASSERT_EQ(boxcar.size(), 30u);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(boxcar[i], i >= 10 && i < 20 ? 1.0 : 0.0) << i;
  }
  const std::vector<double> spm =
      TaskRegressor(events, "cooking", 30, 1.0, "SPM");
  for (int i = 0; i <= 10; ++i) EXPECT_NEAR(spm[i], 0, 1e-12) << i;
  // The response lags the onset and peaks a few seconds in.
  EXPECT_GT(spm[16], spm[11]);
  EXPECT_GT(spm[16], 0.5);
}

TEST(HtmlReportTest, HooksSitInLayers) {
  EXPECT_EQ(PlaceOfHook("blocks.7.mlp_post").layer, "7");
  EXPECT_EQ(PlaceOfHook("blocks.7.mlp_post").kind, "mlp_post");
  EXPECT_EQ(PlaceOfHook("embed").layer, "embed");
  EXPECT_EQ(Slug("Medical imaging!"), "medical-imaging");
}

// The figures: the full paper experiment (6 conditions x 3 repeats,
// 64,512 units) is written in under 5 s and under 10 MB, with no chart
// carrying one mark per unit.
TEST(HtmlReportScaleTest, PaperSizedReportIsSmallAndFast) {
  const ReportData data = MakeReportData(ReportShape{});
  const auto start = std::chrono::steady_clock::now();
  const std::vector<ReportSection> sections = BuildSections(data);
  const std::string html = RenderHtml(data, sections);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  size_t largest = 0;
  for (const Chart* c : AllCharts(sections)) {
    Walk(c->spec, [&](const json& o) {
      if (o.contains("values") && o["values"].is_array()) {
        largest = std::max(largest, o["values"].size());
      }
    });
  }
  std::printf(
      "paper-sized report: %zu charts, %.2f MB, written in %.3f s; largest "
      "chart %zu data points\n",
      AllCharts(sections).size(), static_cast<double>(html.size()) / 1e6,
      seconds, largest);
  EXPECT_LT(seconds, 5.0);
  EXPECT_LT(html.size(), 10u * 1000 * 1000);
  EXPECT_LT(largest, 5000u);
  EXPECT_EQ(AllCharts(sections).size(), 1u + 2 + 6 * 3 + 1 + 1 + 2 + 6);
}

TEST(ReportFilesTest, PlotsAreJsonAndSvg) {
  const std::string dir = ::fnprobe::testing::MakeTempDir("report-plots");
  ReportShape shape = Small();
  shape.everything = true;
  const ReportData data = MakeReportData(shape);
  const bool node = !FindOnPath("node").empty();
  absl::StatusOr<std::vector<std::string>> files = WritePlots(data, dir);
  const std::vector<ReportSection> sections = BuildSections(data);
  const size_t charts = AllCharts(sections).size();
  for (const Chart* c : AllCharts(sections)) {
    const std::string path = dir + "/" + c->id + ".vl.json";
    ASSERT_TRUE(std::filesystem::exists(path)) << path;
  }
  if (!node) {
    EXPECT_EQ(files.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(files.status().message(), HasSubstr("node"));
    GTEST_SKIP() << "node is not installed: SVG rendering not checked";
  }
  ASSERT_TRUE(files.ok()) << files.status();
  EXPECT_EQ(files->size(), 2 * charts);
  for (const std::string& f : *files) {
    if (!absl::EndsWith(f, ".svg")) continue;
    std::FILE* in = std::fopen(f.c_str(), "rb");
    ASSERT_NE(in, nullptr) << f;
    char head[5] = {};
    EXPECT_EQ(std::fread(head, 1, 4, in), 4u);
    std::fclose(in);
    EXPECT_EQ(std::string(head), "<svg") << f;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace fnprobe::client::report
