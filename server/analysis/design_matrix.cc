#include "server/analysis/design_matrix.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status_util.h"

namespace fnprobe::analysis {
namespace {

// Column index of `name` in the header, or -1.
int FindColumn(const std::vector<absl::string_view>& header,
               absl::string_view name) {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return static_cast<int>(i);
  }
  return -1;
}

absl::StatusOr<double> ParseNumber(absl::string_view field, int line,
                                   absl::string_view column) {
  double value = 0.0;
  if (!absl::SimpleAtod(field, &value)) {
    return absl::InvalidArgumentError(absl::StrCat("events.tsv line ", line,
                                                   ": ", column, " \"", field,
                                                   "\" is not a number"));
  }
  return value;
}

// Events grouped by condition, ordered by name (np.unique order).
std::map<std::string, ConditionEvents> GroupByCondition(
    const std::vector<Event>& events) {
  std::map<std::string, ConditionEvents> groups;
  for (const Event& e : events) {
    ConditionEvents& g = groups[e.trial_type];
    g.onsets.push_back(e.onset);
    g.durations.push_back(e.duration);
    g.amplitudes.push_back(e.amplitude);
  }
  return groups;
}

}  // namespace

absl::StatusOr<std::vector<Event>> ParseEventsTsv(absl::string_view text) {
  std::vector<absl::string_view> lines =
      absl::StrSplit(text, '\n', absl::SkipWhitespace());
  if (lines.empty()) return absl::InvalidArgumentError("events.tsv: empty");
  const std::vector<absl::string_view> header =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(lines[0]), '\t');
  const int onset_col = FindColumn(header, "onset");
  const int duration_col = FindColumn(header, "duration");
  const int type_col = FindColumn(header, "trial_type");
  if (onset_col < 0 || duration_col < 0 || type_col < 0) {
    return absl::InvalidArgumentError(
        "events.tsv: header must name onset, duration and trial_type");
  }
  std::vector<Event> events;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<absl::string_view> fields =
        absl::StrSplit(absl::StripTrailingAsciiWhitespace(lines[i]), '\t');
    if (fields.size() != header.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("events.tsv line ", i + 1, ": ", fields.size(),
                       " fields, header has ", header.size()));
    }
    Event e;
    const int line = static_cast<int>(i + 1);
    FNPROBE_ASSIGN_OR_RETURN(e.onset,
                             ParseNumber(fields[onset_col], line, "onset"));
    FNPROBE_ASSIGN_OR_RETURN(
        e.duration, ParseNumber(fields[duration_col], line, "duration"));
    e.trial_type = std::string(fields[type_col]);
    events.push_back(std::move(e));
  }
  return events;
}

DesignMatrixBuilder::DesignMatrixBuilder(DesignOptions options)
    : options_(std::move(options)) {}

std::vector<double> DesignMatrixBuilder::FrameTimes() const {
  std::vector<double> times(std::max(options_.num_frames, 0));
  for (size_t t = 0; t < times.size(); ++t) times[t] = t * options_.tr;
  return times;
}

absl::Status DesignMatrixBuilder::Validate(
    const std::vector<Event>& events) const {
  if (options_.num_frames < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "design: num_frames must be >= 2, got ", options_.num_frames));
  }
  if (!(options_.tr > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("design: tr must be > 0, got ", options_.tr));
  }
  if (options_.oversampling < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "design: oversampling must be >= 1, got ", options_.oversampling));
  }
  for (const Event& e : events) {
    if (e.trial_type.empty() || !(e.duration >= 0)) {
      return absl::InvalidArgumentError(
          absl::StrCat("design: event at onset ", e.onset,
                       " needs a trial_type and a duration >= 0"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<DesignMatrix> DesignMatrixBuilder::Build(
    const std::vector<Event>& events) const {
  FNPROBE_RETURN_IF_ERROR(Validate(events));
  const std::vector<double> times = FrameTimes();
  const int oversampling =
      options_.hrf == HrfModel::kNone ? 1 : options_.oversampling;
  DesignMatrix design;
  design.x.set_size(times.size(), 0);
  for (const auto& [name, condition] : GroupByCondition(events)) {
    const std::vector<double> column = ComputeRegressor(
        condition, options_.hrf, times, oversampling, options_.min_onset_s);
    design.x.insert_cols(design.x.n_cols, arma::vec(column));
    design.column_names.push_back(
        options_.hrf == HrfModel::kNone ? name + "_delay_0" : name);
  }
  FNPROBE_ASSIGN_OR_RETURN(
      DriftColumns drift,
      MakeDrift(options_.drift, times, options_.cosine_cutoff_s,
                options_.polynomial_order));
  design.x = arma::join_rows(design.x, drift.columns);
  for (std::string& n : drift.names) design.column_names.push_back(n);
  return design;
}

}  // namespace fnprobe::analysis
