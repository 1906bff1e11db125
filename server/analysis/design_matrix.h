// The GLM design matrix X (T x p), built as nipy 0.5's make_dmtx builds it:
// one regressor per condition (sorted by name), from BIDS events convolved
// with an HRF, then the drift block ending with the constant. Time is in
// tokens: frame t sits at t * tr seconds (tr = 1 s means "one token per
// second").
//
// DesignMatrixBuilder is a value type; Build() is const and thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_DESIGN_MATRIX_H_
#define FNPROBE_SERVER_ANALYSIS_DESIGN_MATRIX_H_

#include <armadillo>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/analysis/drift_model.h"
#include "server/analysis/hemodynamic_model.h"

namespace fnprobe::analysis {

// One BIDS event: onset and duration in seconds, its condition, amplitude.
struct Event {
  double onset = 0.0;
  double duration = 0.0;
  std::string trial_type;
  double amplitude = 1.0;
};

// Parses a BIDS events.tsv (header naming at least onset, duration and
// trial_type, in any order). INVALID_ARGUMENT names the line and field.
absl::StatusOr<std::vector<Event>> ParseEventsTsv(absl::string_view text);

struct DesignOptions {
  int num_frames = 0;  // T; frame t is at t * tr seconds.
  double tr = 1.0;     // Seconds per frame (per token).
  HrfModel hrf = HrfModel::kGlover;
  DriftModel drift = DriftModel::kCosine;
  double cosine_cutoff_s = 128.0;  // For kCosine.
  int polynomial_order = 1;        // For kPolynomial.
  int oversampling = 16;           // For kSpm / kGlover (kNone uses 1).
  double min_onset_s = -24.0;      // nipy's min_onset.
};

// X with its column names, in column order.
struct DesignMatrix {
  arma::mat x;
  std::vector<std::string> column_names;
};

class DesignMatrixBuilder {
 public:
  explicit DesignMatrixBuilder(DesignOptions options);

  // Builds X for `events`. Conditions are ordered by trial_type (byte
  // order); names are the trial_type ("A") or, for HrfModel::kNone,
  // "A_delay_0". INVALID_ARGUMENT for fewer than two frames, tr <= 0,
  // oversampling < 1, a negative duration or an empty trial_type.
  absl::StatusOr<DesignMatrix> Build(const std::vector<Event>& events) const;

  // The frame times in seconds: 0, tr, 2 tr, ...
  std::vector<double> FrameTimes() const;

 private:
  absl::Status Validate(const std::vector<Event>& events) const;

  DesignOptions options_;
};

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_DESIGN_MATRIX_H_
