// The charts that compare networks (overlap, repeatability, held-out
// identification) and those of the later analyses (ICA, masking); declared
// in report_charts.h.
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/report/report_charts.h"
#include "client/report/vega_spec.h"

namespace fnprobe::client::report {

using json = nlohmann::json;
using internal::Axis;
using internal::BaseSpec;
using internal::Finite;
using internal::MakeChart;

Chart OverlapChart(const ReportOverlap& o) {
  json values = json::array();
  const size_t n = o.labels.size();
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) {
      const double d = a * n + b < o.dice.size() ? o.dice[a * n + b] : 0;
      values.push_back(
          {{"a", o.labels[a]}, {"b", o.labels[b]}, {"dice", Finite(d)}});
    }
  }
  const json x = {
      {"field", "b"},
      {"type", "nominal"},
      {"sort", o.labels},
      {"axis", {{"title", "condition network"}, {"labelAngle", -30}}}};
  const json y = {{"field", "a"},
                  {"type", "nominal"},
                  {"sort", o.labels},
                  {"axis", Axis("condition network")}};
  json spec = BaseSpec("Overlap between condition networks (Dice)",
                       "Annotated heat map of Dice coefficients");
  spec["width"] = {{"step", 56}};
  spec["height"] = {{"step", 30}};
  spec["data"] = {{"values", values}};
  spec["layer"] = json::array(
      {{{"mark", {{"type", "rect"}, {"tooltip", true}}},
        {"encoding",
         {{"x", x},
          {"y", y},
          {"color",
           {{"field", "dice"},
            {"type", "quantitative"},
            {"scale", {{"domain", {0, 1}}, {"scheme", "viridis"}}},
            {"legend", {{"title", "Dice (0..1)"}}}}}}}},
       {{"mark", {{"type", "text"}, {"fontSize", 10}}},
        {"encoding",
         {{"x", x},
          {"y", y},
          {"text",
           {{"field", "dice"}, {"type", "quantitative"}, {"format", ".2f"}}},
          {"color",
           {{"condition", {{"test", "datum.dice > 0.6"}, {"value", "black"}}},
            {"value", "white"}}}}}}});
  return MakeChart(
      "overlap-dice", "Overlap between condition networks (Dice)",
      "Each cell is the Dice coefficient 2|A n B| / (|A| + |B|) of the "
      "networks of its row and column: 1 for identical networks, 0 for "
      "disjoint ones (the diagonal is 1, or 0 for an empty network). "
      "Conditions that engage the same units overlap more.",
      std::move(spec));
}

Chart RepeatabilityChart(const ReportRepeatability& r) {
  json values = json::array();
  std::vector<std::string> order;
  for (const auto& c : r.conditions) {
    order.push_back(c.condition);
    for (const ReportRepeatPair& p : c.pairs) {
      values.push_back(
          {{"condition", c.condition},
           {"pair", absl::StrCat("#", p.repeat_a, " vs #", p.repeat_b)},
           {"dice", Finite(p.dice)},
           {"kind", "pair of repeats"}});
    }
    values.push_back({{"condition", c.condition},
                      {"pair", "mean"},
                      {"dice", Finite(c.mean_dice)},
                      {"kind", "mean"}});
  }
  const json x = {{"field", "condition"},
                  {"type", "nominal"},
                  {"sort", order},
                  {"axis", {{"title", "condition"}, {"labelAngle", -30}}}};
  json spec = BaseSpec("Repeatability between repeats (Dice)",
                       "Dice between the networks of repeats per condition");
  spec["width"] = {{"step", 70}};
  spec["height"] = 200;
  spec["data"] = {{"values", values}};
  spec["layer"] = json::array(
      {{{"transform", json::array({{{"filter", "datum.kind != 'mean'"}}})},
        {"mark", {{"type", "point"}, {"filled", true}, {"tooltip", true}}},
        {"encoding",
         {{"x", x},
          {"y",
           {{"field", "dice"},
            {"type", "quantitative"},
            {"scale", {{"domain", {0, 1}}}},
            {"axis", Axis("Dice between two repeats (0..1)")}}}}}},
       {{"transform", json::array({{{"filter", "datum.kind == 'mean'"}}})},
        {"mark",
         {{"type", "tick"},
          {"color", "#d62728"},
          {"thickness", 2},
          {"tooltip", true}}},
        {"encoding",
         {{"x", x}, {"y", {{"field", "dice"}, {"type", "quantitative"}}}}}}});
  return MakeChart(
      "repeatability-dice", "Repeatability between repeats (Dice)",
      absl::StrFormat(
          "Each dot is the Dice overlap between the networks of two repeats "
          "(runs) of a condition; the red tick is the condition's mean. "
          "Near 1: repeats find the same units. Mean over all pairs: %.2f.",
          r.mean_dice),
      std::move(spec));
}

Chart ConfusionChart(const ReportClassification& c) {
  json values = json::array();
  const size_t n = c.conditions.size();
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) {
      const int count =
          a * n + b < c.confusion.size() ? c.confusion[a * n + b] : 0;
      values.push_back({{"true", c.conditions[a]},
                        {"predicted", c.conditions[b]},
                        {"runs", count}});
    }
  }
  const json x = {
      {"field", "predicted"},
      {"type", "nominal"},
      {"sort", c.conditions},
      {"axis", {{"title", "predicted condition"}, {"labelAngle", -30}}}};
  const json y = {{"field", "true"},
                  {"type", "nominal"},
                  {"sort", c.conditions},
                  {"axis", Axis("true condition")}};
  json spec = BaseSpec("Held-out identification: confusion matrix",
                       "Counts of held-out runs by true and predicted label");
  spec["width"] = {{"step", 56}};
  spec["height"] = {{"step", 30}};
  spec["data"] = {{"values", values}};
  spec["layer"] = json::array(
      {{{"mark", {{"type", "rect"}, {"tooltip", true}}},
        {"encoding",
         {{"x", x},
          {"y", y},
          {"color",
           {{"field", "runs"},
            {"type", "quantitative"},
            {"scale", {{"scheme", "greens"}}},
            {"legend", {{"title", "held-out runs"}}}}}}}},
       {{"mark", {{"type", "text"}}},
        {"encoding", {{"x", x}, {"y", y}, {"text", {{"field", "runs"}}}}}}});
  return MakeChart(
      "classification-confusion", "Held-out identification: confusion matrix",
      "Each held-out run (left out of its condition's network) is assigned "
      "to the condition whose network its t-map matches best (mean t). "
      "Rows: the run's true condition; columns: the prediction; cells: "
      "number of runs. A perfect classifier fills only the diagonal.",
      std::move(spec));
}

Chart AccuracyChart(const ReportClassification& c) {
  json values =
      json::array({{{"method", "by mean t"}, {"accuracy", Finite(c.accuracy)}},
                   {{"method", "by correlation"},
                    {"accuracy", Finite(c.accuracy_by_correlation)}}});
  json spec = BaseSpec("Held-out accuracy against chance",
                       "Accuracy of two scoring methods and chance level");
  spec["width"] = 300;
  spec["height"] = {{"step", 28}};
  spec["layer"] = json::array(
      {{{"data", {{"values", values}}},
        {"mark", {{"type", "bar"}, {"tooltip", true}}},
        {"encoding",
         {{"y",
           {{"field", "method"},
            {"type", "nominal"},
            {"axis", Axis("scoring")}}},
          {"x",
           {{"field", "accuracy"},
            {"type", "quantitative"},
            {"scale", {{"domain", {0, 1}}}},
            {"axis",
             {{"title", "accuracy (fraction of held-out runs)"},
              {"format", ".0%"}}}}}}}},
       {{"data", {{"values", json::array({{{"chance", Finite(c.chance)}}})}}},
        {"mark",
         {{"type", "rule"},
          {"color", "#d62728"},
          {"strokeDash", {6, 3}},
          {"strokeWidth", 2}}},
        {"encoding",
         {{"x", {{"field", "chance"}, {"type", "quantitative"}}}}}}});
  return MakeChart(
      "classification-accuracy", "Held-out accuracy against chance",
      absl::StrFormat(
          "Bars: the share of held-out runs identified correctly, scoring "
          "by mean t and by spatial correlation; the red dashed line is "
          "chance (1 / %d conditions = %.0f%%). %d of %d correct, binomial "
          "p = %.3g.",
          static_cast<int>(c.conditions.size()), 100 * c.chance, c.correct,
          c.predictions, c.p_value),
      std::move(spec));
}

Chart IcaRecurrenceChart(const std::vector<ReportIcaComponent>& ica) {
  json values = json::array();
  for (const ReportIcaComponent& c : ica) {
    values.push_back({{"component", c.label},
                      {"recurrence", Finite(c.recurrence)},
                      {"size", c.size}});
  }
  json spec = BaseSpec("ICA components: recurrence across runs",
                       "Bar per component: fraction of runs it recurs in");
  spec["width"] = 420;
  spec["height"] = {{"step", 16}};
  spec["data"] = {{"values", values}};
  spec["mark"] = {{"type", "bar"}, {"tooltip", true}};
  spec["encoding"] = {
      {"y",
       {{"field", "component"},
        {"type", "nominal"},
        {"sort", nullptr},
        {"axis", Axis("component")}}},
      {"x",
       {{"field", "recurrence"},
        {"type", "quantitative"},
        {"scale", {{"domain", {0, 1}}}},
        {"axis",
         {{"title", "recurrence (fraction of runs)"}, {"format", ".0%"}}}}}};
  return MakeChart("ica-recurrence", "ICA components: recurrence across runs",
                   "Each bar is an ICA component; its length the share of "
                   "runs in which a matching component recurs. Components "
                   "near 100% are stable across runs.",
                   std::move(spec));
}

Chart MaskingChart(const std::vector<ReportMasking>& masking) {
  // One axis, one metric: the first row's (the rest in the section's
  // table).
  json values = json::array();
  for (const ReportMasking& m : masking) {
    if (m.metric != masking.front().metric) continue;
    values.push_back({{"network", m.network},
                      {"value", Finite(m.effect)},
                      {"kind", "network masked"}});
    for (double r : m.random_controls) {
      values.push_back({{"network", m.network},
                        {"value", Finite(r)},
                        {"kind", "random units masked"}});
    }
  }
  const std::string metric =
      masking.empty() ? std::string("effect") : masking.front().metric;
  json spec = BaseSpec("Masking against random controls",
                       "Effect of masking each network vs random units");
  spec["width"] = 420;
  spec["height"] = {{"step", 24}};
  spec["data"] = {{"values", values}};
  spec["mark"] = {{"type", "point"}, {"tooltip", true}};
  spec["encoding"] = {
      {"y",
       {{"field", "network"},
        {"type", "nominal"},
        {"axis", Axis("network masked")}}},
      {"x",
       {{"field", "value"}, {"type", "quantitative"}, {"axis", Axis(metric)}}},
      {"color", {{"field", "kind"}, {"type", "nominal"}}},
      {"shape", {{"field", "kind"}, {"type", "nominal"}}}};
  return MakeChart("masking-effects", "Masking against random controls",
                   "For each network, the effect of masking its units "
                   "against masking as many random units (grey cloud): an "
                   "effect outside the cloud is specific to the network.",
                   std::move(spec));
}

}  // namespace fnprobe::client::report
