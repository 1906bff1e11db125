#include "tests/client/report_fixture.h"

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace fnprobe::testing {

using client::report::ReportData;
using client::report::ReportEvent;
using client::report::ReportHook;
using client::report::ReportNetwork;
using client::report::ReportRun;
using client::report::ReportRunDesign;
using client::report::ReportUnit;

ReportData MakeReportData(const ReportShape& shape) {
  std::mt19937_64 rng(20230611);
  std::normal_distribution<double> normal(0, 1);
  ReportData d;
  auto& e = d.experiment;
  e.id = 42;
  e.name = "nencka2023-galactica-topics";
  e.owner = "alice";
  e.phase = "done";
  e.model = "galactica-125m";
  e.layout_hash = "0123456789abcdef";
  e.software_version = "fnprobe test";
  e.created_at = "2026-01-01T00:00:00Z";
  e.finished_at = "2026-01-01T01:00:00Z";
  e.spec_json = R"({"name": "nencka2023-galactica-topics"})";
  e.pattern = {"baseline", "task", "baseline"};
  e.prompts_per_block = shape.prompts_per_block;
  e.tokens_per_prompt = shape.tokens_per_prompt;
  e.repeats = shape.repeats;
  e.hrf = shape.everything ? "SPM" : "NONE";
  e.inference = "PROMPT";
  e.threshold_method = "FDR";
  for (int l = 0; l < shape.layers; ++l) {
    for (const auto& [kind, width] : std::vector<std::pair<std::string, int>>{
             {"attn_out", shape.hidden},
             {"mlp_post", shape.mlp},
             {"mlp_out", shape.hidden},
             {"resid_post", shape.hidden}}) {
      e.hooks.push_back(
          ReportHook{absl::StrCat("blocks.", l, ".", kind), width});
    }
  }
  int64_t width = 0;
  for (const ReportHook& h : e.hooks) width += h.width;
  std::vector<std::string> conditions;
  for (int c = 0; c < shape.conditions; ++c) {
    conditions.push_back(absl::StrCat("topic_", c));
  }
  const int prompts = 3 * shape.prompts_per_block;
  const int64_t time_points = int64_t{prompts} * shape.tokens_per_prompt;
  const double block_s = shape.prompts_per_block * shape.tokens_per_prompt;
  int index = 0;
  for (const std::string& c : conditions) {
    for (int r = 0; r < shape.repeats; ++r, ++index) {
      e.runs.push_back(ReportRun{index, c, r, "done", time_points, time_points,
                                 1, absl::StrCat("crc32c:", 1000 + index), ""});
      e.tokens_done += time_points;
      ReportRunDesign design;
      design.run_index = index;
      design.events = {ReportEvent{0, block_s, "rest"},
                       ReportEvent{block_s, block_s, c},
                       ReportEvent{2 * block_s, block_s, "rest"}};
      for (int p = 0; p < prompts; ++p) {
        design.prompts.push_back(absl::StrCat("Prompt ", p, " about ", c, "?"));
        if (shape.everything) {
          design.generated.push_back(absl::StrCat("An answer <", p, ">"));
        }
      }
      d.designs.push_back(std::move(design));
    }
  }
  for (size_t c = 0; c < conditions.size(); ++c) {
    ReportNetwork n;
    n.condition = conditions[c];
    n.contrast = absl::StrCat(conditions[c], " > rest");
    n.threshold = 4.2;
    n.dof = 2.0 * prompts * shape.repeats;
    n.t.resize(static_cast<size_t>(width));
    for (double& t : n.t) t = normal(rng);
    // A planted network: a stretch of units per condition.
    for (int64_t u = 0; u < 300; ++u) {
      n.t[static_cast<size_t>((c * 997 + u * 13) % width)] =
          (u % 2 ? -1 : 1) * (5 + normal(rng));
    }
    int64_t offset = 0;
    for (const ReportHook& h : e.hooks) {
      int64_t count = 0;
      for (int64_t u = 0; u < h.width; ++u) {
        count += std::abs(n.t[static_cast<size_t>(offset + u)]) >= n.threshold;
      }
      n.size_by_hook.emplace_back(h.name, count);
      n.size += count;
      offset += h.width;
    }
    for (int k = 0; k < 20; ++k) {
      ReportUnit u{
          k * 13,
          absl::StrCat("blocks.", k % shape.layers, ".mlp_post[", k * 13, "]"),
          8.0 - 0.2 * k,
          0.1,
          {}};
      if (shape.everything && k < 3) {
        for (int64_t t = 0; t < time_points; ++t) {
          const bool task = t >= time_points / 3 && t < 2 * time_points / 3;
          u.time_course.push_back((task ? 1.0 : 0.0) + 0.3 * normal(rng));
        }
      }
      n.top_units.push_back(std::move(u));
    }
    n.time_course_run = static_cast<int>(c) * shape.repeats;
    d.networks.push_back(std::move(n));
  }
  client::report::ReportOverlap overlap;
  overlap.labels = conditions;
  for (size_t a = 0; a < conditions.size(); ++a) {
    overlap.sizes.push_back(d.networks[a].size);
    for (size_t b = 0; b < conditions.size(); ++b) {
      overlap.dice.push_back(a == b ? 1.0
                                    : 0.05 * static_cast<double>((a + b) % 7));
    }
  }
  d.overlap = overlap;
  client::report::ReportRepeatability rep;
  for (const std::string& c : conditions) {
    client::report::ReportRepeatability::Condition rc{c, {}, 0};
    for (int a = 0; a < shape.repeats; ++a) {
      for (int b = a + 1; b < shape.repeats; ++b) {
        rc.pairs.push_back({a, b, 0.5 + 0.1 * ((a + b) % 3)});
        rc.mean_dice += rc.pairs.back().dice;
      }
    }
    if (!rc.pairs.empty()) rc.mean_dice /= static_cast<double>(rc.pairs.size());
    rep.mean_dice += rc.mean_dice / static_cast<double>(conditions.size());
    rep.conditions.push_back(std::move(rc));
  }
  d.repeatability = rep;
  client::report::ReportClassification cls;
  cls.conditions = conditions;
  const size_t n = conditions.size();
  cls.confusion.assign(n * n, 0);
  for (size_t a = 0; a < n; ++a) {
    cls.confusion[a * n + (a == 1 ? 2 : a)] = shape.repeats;
  }
  cls.predictions = static_cast<int>(n) * shape.repeats;
  cls.correct = cls.predictions - shape.repeats;
  cls.accuracy = static_cast<double>(cls.correct) / cls.predictions;
  cls.accuracy_by_correlation = cls.accuracy;
  cls.chance = 1.0 / static_cast<double>(n);
  cls.p_value = 1e-9;
  d.classification = cls;
  d.generated_text_note = "not served by this fixture.";
  d.time_course_note = "not served by this fixture.";
  if (shape.everything) {
    for (int k = 0; k < 8; ++k) {
      d.ica.push_back({absl::StrCat("IC", k), 1.0 - 0.1 * k, 100 + k});
    }
    for (const std::string& c : conditions) {
      d.masking.push_back(
          {c, "loss increase (nats/token)", 0.8, {0.1, 0.12, 0.05, 0.2, 0.09}});
    }
  }
  return d;
}

}  // namespace fnprobe::testing
