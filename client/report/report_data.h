// The data of one experiment's HTML report as plain C++ values, with no
// protobuf or gRPC in sight: the fetcher (client/report/report_fetch.h) fills
// it from the worker's RPCs, tests and the benchmark fill it by hand, and
// the writer (html_report.h) turns it into charts and tables. Everything
// here is a value; an empty vector or a disengaged optional means "the
// worker has no such data", which the report then says in words.
//
// Thread-safe: plain data.
#ifndef FNPROBE_CLIENT_REPORT_REPORT_DATA_H_
#define FNPROBE_CLIENT_REPORT_REPORT_DATA_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fnprobe::client::report {

// One hook point of the layout, e.g. "blocks.7.mlp_post" of width 3072.
struct ReportHook {
  std::string name;
  int64_t width = 0;
};

struct ReportRun {
  int index = 0;  // position in the plan
  std::string condition;
  int repeat = 0;
  std::string state;  // "done", "failed", ...
  int64_t time_points = 0;
  int64_t tokens_generated = 0;
  int attempts = 0;
  std::string activation_checksum;
  std::string error;
};

// A BIDS event of one run: onset and duration in seconds.
struct ReportEvent {
  double onset = 0;
  double duration = 0;
  std::string trial_type;
};

// What one run presented: its events and its prompts in presentation order,
// with the generated text of each prompt where the worker serves it.
struct ReportRunDesign {
  int run_index = 0;
  std::vector<ReportEvent> events;
  std::vector<std::string> prompts;
  std::vector<std::string> generated;  // empty: not served
};

// The experiment as submitted and run.
struct ReportExperiment {
  int64_t id = 0;
  std::string name;
  std::string owner;
  std::string phase;
  std::string model;
  // The checkpoint's "sha256:..." the inference server reported at
  // submission; empty when none could be asked (the report then says so and
  // shows the layout hash, which identifies the captured units).
  std::string model_checksum;
  std::string layout_hash;  // hex
  std::string software_version;
  std::string created_at;
  std::string finished_at;
  std::string spec_json;  // the stored spec, pretty JSON
  // Design facts the charts need.
  std::vector<std::string> pattern;  // e.g. baseline, task, baseline
  int prompts_per_block = 0;
  int tokens_per_prompt = 0;
  int repeats = 0;
  double tokens_per_second = 1;
  std::string hrf;        // "NONE", "SPM", "GLOVER"
  std::string inference;  // "PROMPT" or "TOKEN"
  std::string threshold_method;
  double alpha = 0.05;
  int64_t tokens_done = 0;
  std::vector<ReportHook> hooks;  // the layout, in order
  std::vector<ReportRun> runs;
};

// A unit of a network with its statistics.
struct ReportUnit {
  int64_t unit = 0;
  std::string name;  // "blocks.7.mlp_post[1203]"
  double t = 0;
  double beta = 0;
  // The unit's activation over one run's time points, with the task
  // regressor of that run; empty where the worker does not serve them.
  std::vector<double> time_course;
};

// One condition's network and its whole t-map.
struct ReportNetwork {
  std::string condition;
  std::string contrast;
  double threshold = 0;  // |t| cut-off
  int64_t size = 0;
  double dof = 0;
  std::vector<std::pair<std::string, int64_t>> size_by_hook;
  // t of every unit in layout order; empty when the map was not fetched.
  std::vector<double> t;
  std::vector<ReportUnit> top_units;  // by |t|, largest first
  int time_course_run = -1;  // run index of the top units' time courses
};

// Dice between condition networks, n x n row-major over `labels`.
struct ReportOverlap {
  std::vector<std::string> labels;
  std::vector<int64_t> sizes;
  std::vector<double> dice;
};

struct ReportRepeatPair {
  int repeat_a = 0;
  int repeat_b = 0;
  double dice = 0;
};

struct ReportRepeatability {
  struct Condition {
    std::string condition;
    std::vector<ReportRepeatPair> pairs;
    double mean_dice = 0;
  };
  std::vector<Condition> conditions;
  double mean_dice = 0;
};

struct ReportClassification {
  std::vector<std::string> conditions;
  std::vector<int> confusion;  // row true, column predicted
  double accuracy = 0;
  double accuracy_by_correlation = 0;
  double chance = 0;
  int correct = 0;
  int predictions = 0;
  double p_value = 1;
};

// An ICA component with how often it recurs across runs (for when the
// worker serves ICA results; issue "ICA").
struct ReportIcaComponent {
  std::string label;
  double recurrence = 0;  // fraction of runs in which it recurs, 0..1
  int64_t size = 0;       // units above its threshold
};

// A masking (ablation) result against its random-unit controls: the
// change of the metric under the network's masking and under each
// control's (GetMaskingResults).
struct ReportMasking {
  std::string network;  // what was masked (with operation and texts)
  std::string metric;   // what was measured, with its unit
  double effect = 0;
  std::vector<double> random_controls;
  // The network's mid-rank among the controls and the permutation p;
  // NaN where not known.
  double percentile = std::numeric_limits<double>::quiet_NaN();
  double p = std::numeric_limits<double>::quiet_NaN();
};

// One row of the double dissociation (MaskingDissociation in
// experiments.proto): the network of `condition` on its texts against
// `other`'s, its paired contrast among its controls'.
struct ReportMaskingDissociation {
  std::string network;
  std::string operation;
  std::string metric;
  std::string condition;
  std::string other;
  double change = 0;
  double other_change = 0;
  double contrast = 0;
  std::vector<double> control_contrasts;
  double percentile = 0;
  double p = 1;
};

struct ReportData {
  ReportExperiment experiment;
  std::vector<ReportRunDesign> designs;  // by run index
  std::vector<ReportNetwork> networks;   // condition networks
  std::optional<ReportOverlap> overlap;
  std::optional<ReportRepeatability> repeatability;
  std::string repeatability_note;  // why absent
  std::optional<ReportClassification> classification;
  std::string classification_note;  // why absent
  std::vector<ReportIcaComponent> ica;
  std::vector<ReportMasking> masking;
  std::vector<ReportMaskingDissociation> masking_dissociations;
  std::string generated_text_note;  // why generated text is absent
  std::string time_course_note;     // why time courses are absent
};

}  // namespace fnprobe::client::report

#endif  // FNPROBE_CLIENT_REPORT_REPORT_DATA_H_
