// Hemodynamic response models and event sampling for the GLM design, after
// nipy 0.5 (nipy/modalities/fmri/hemodynamic_models.py): the high-resolution
// event regressor, the SPM and Glover gamma-difference kernels, convolution
// and linear resampling onto frame times. Every function reproduces nipy's
// arithmetic, including its quirks (the truncated linspace size, the gamma
// "loc" shift of dt / dispersion), so designs match to rounding.
//
// Free functions over values; thread-safe.
#ifndef FNPROBE_SERVER_ANALYSIS_HEMODYNAMIC_MODEL_H_
#define FNPROBE_SERVER_ANALYSIS_HEMODYNAMIC_MODEL_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe::analysis {

// How a condition's boxcar becomes a regressor.
enum class HrfModel {
  kNone,    // Boxcar: nipy "fir" with delay 0 (no oversampling).
  kSpm,     // SPM canonical gamma difference, nipy "spm".
  kGlover,  // Glover gamma difference, nipy "canonical".
};

// Parses "none" / "boxcar" / "fir", "spm", "glover" / "canonical"
// (case-sensitive). Unknown names are INVALID_ARGUMENT.
absl::StatusOr<HrfModel> ParseHrfModel(absl::string_view name);

// One condition's events: parallel arrays of onset (s), duration (s) and
// amplitude.
struct ConditionEvents {
  std::vector<double> onsets;
  std::vector<double> durations;
  std::vector<double> amplitudes;
};

// np.linspace(start, stop, num) with numpy's arithmetic (i * step + start,
// last element exactly `stop`).
std::vector<double> Linspace(double start, double stop, long num);

// nipy _gamma_difference_hrf sampled at tr / oversampling over 32 s,
// normalized to sum 1. `glover` selects the Glover parameters.
std::vector<double> GammaDifferenceHrf(double tr, int oversampling,
                                       bool glover);

// The regressor of one condition sampled at `frame_times` (nipy
// compute_regressor with one kernel). REQUIRES: frame_times has at least two
// strictly increasing entries.
std::vector<double> ComputeRegressor(const ConditionEvents& events,
                                     HrfModel model,
                                     const std::vector<double>& frame_times,
                                     int oversampling, double min_onset);

}  // namespace fnprobe::analysis

#endif  // FNPROBE_SERVER_ANALYSIS_HEMODYNAMIC_MODEL_H_
