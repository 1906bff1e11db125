// The report's charts as Vega-Lite specs: each builder takes plain report
// data (report_data.h) and returns a Chart whose spec carries its data
// inline, with labelled axes (units in the titles), a title, and a caption
// saying what it shows and how to read it. Large maps are aggregated here
// (per layer, per bin of units) so that no chart carries one mark per unit of
// a 60k-unit layout: a browser draws a few thousand marks quickly, not 60k.
//
// Thread-safe: free functions over values.
#ifndef FNPROBE_CLIENT_REPORT_REPORT_CHARTS_H_
#define FNPROBE_CLIENT_REPORT_REPORT_CHARTS_H_

#include <string>
#include <vector>

#include "client/report/report_data.h"
#include "nlohmann/json.hpp"

namespace fnprobe::client::report {

struct Chart {
  std::string id;  // unique in a report, file-name safe
  std::string title;
  std::string caption;  // what it shows and how to read it
  nlohmann::json spec;  // Vega-Lite v5, data inline, without "$schema"
};

// Units per hook point drawn as one strip each are binned to at most this
// many cells; a cell shows its unit of largest |t|.
inline constexpr int kMaxStripBins = 64;

// Where a hook point sits: "blocks.7.mlp_post" is layer "7", kind
// "mlp_post"; a hook outside the blocks ("embed") is its own layer and kind.
struct HookPlace {
  std::string layer;
  std::string kind;
};
HookPlace PlaceOfHook(const std::string& hook);

// Whether `n` has a |t| cut-off to draw (the worker stores 0 for a
// threshold that no unit passes), and the cut-off in words: "units with
// |t| >= 3.12" or "no unit passed the threshold".
bool HasThreshold(const ReportNetwork& n);
std::string ThresholdText(const ReportNetwork& n);

// The task regressor of `events` sampled at the run's time points (one per
// generated token, 1 / tokens_per_second s apart): a boxcar of the events
// whose trial_type is `task` (the run's condition; the worker names
// baseline blocks after the baseline pool), convolved with the SPM or Glover
// kernel for `hrf` "SPM" / "GLOVER" (a display approximation of the
// worker's nipy-exact design matrix).
std::vector<double> TaskRegressor(const std::vector<ReportEvent>& events,
                                  const std::string& task, int64_t time_points,
                                  double tokens_per_second,
                                  const std::string& hrf);

// --- the experiment ---
Chart TokensPerRunChart(const ReportExperiment& e);
// --- the design ---
Chart BlockDesignChart(const ReportData& data);
Chart RegressorChart(const ReportData& data);
// --- one condition's network ---
Chart UnitsPerLayerChart(const ReportExperiment& e, const ReportNetwork& n);
Chart UnitStripChart(const ReportExperiment& e, const ReportNetwork& n);
Chart LayerDistributionChart(const ReportExperiment& e, const ReportNetwork& n);
Chart TopUnitsChart(const ReportNetwork& n);
// REQUIRES: some of n.top_units have a time course.
Chart TimeCourseChart(const ReportData& data, const ReportNetwork& n);
// --- comparisons ---
Chart OverlapChart(const ReportOverlap& o);
Chart RepeatabilityChart(const ReportRepeatability& r);
Chart ConfusionChart(const ReportClassification& c);
Chart AccuracyChart(const ReportClassification& c);
// --- later analyses ---
Chart IcaRecurrenceChart(const std::vector<ReportIcaComponent>& ica);
// The rows of the first row's metric (the others are in the section's
// table).
Chart MaskingChart(const std::vector<ReportMasking>& masking);

// A chart id made of [a-z0-9-] from free text ("Medical imaging" ->
// "medical-imaging").
std::string Slug(const std::string& text);

}  // namespace fnprobe::client::report

#endif  // FNPROBE_CLIENT_REPORT_REPORT_CHARTS_H_
