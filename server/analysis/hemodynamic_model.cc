#include "server/analysis/hemodynamic_model.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace fnprobe::analysis {
namespace {

// scipy.stats.gamma.pdf(x, a, loc) with unit scale.
double GammaPdf(double x, double a, double loc) {
  const double z = x - loc;
  if (z < 0.0) return 0.0;
  if (z == 0.0) return a > 1.0 ? 0.0 : (a == 1.0 ? 1.0 : INFINITY);
  return std::exp((a - 1.0) * std::log(z) - z - std::lgamma(a));
}

// Index of the first element >= value (np.searchsorted, side "left").
long SearchSorted(const std::vector<double>& sorted, double value) {
  return std::lower_bound(sorted.begin(), sorted.end(), value) - sorted.begin();
}

// nipy _sample_condition: the high-resolution boxcar on `hr_times`. The
// fancy-index updates of numpy ("a[idx] += v": last write wins on repeated
// indices) are reproduced.
std::vector<double> SampleCondition(const ConditionEvents& events,
                                    const std::vector<double>& hr_times) {
  const long tmax = static_cast<long>(hr_times.size());
  const size_t n = events.onsets.size();
  std::vector<long> t_onset(n), t_offset(n);
  for (size_t i = 0; i < n; ++i) {
    t_onset[i] = std::min(SearchSorted(hr_times, events.onsets[i]), tmax - 1);
    t_offset[i] =
        std::min(SearchSorted(hr_times, events.onsets[i] + events.durations[i]),
                 tmax - 1);
    if (t_offset[i] < tmax - 1 && t_offset[i] == t_onset[i]) ++t_offset[i];
  }
  std::vector<double> regressor(hr_times.size(), 0.0);
  std::vector<double> snapshot = regressor;
  for (size_t i = 0; i < n; ++i) {
    regressor[t_onset[i]] = snapshot[t_onset[i]] + events.amplitudes[i];
  }
  snapshot = regressor;
  for (size_t i = 0; i < n; ++i) {
    regressor[t_offset[i]] = snapshot[t_offset[i]] - events.amplitudes[i];
  }
  for (size_t i = 1; i < regressor.size(); ++i) {
    regressor[i] += regressor[i - 1];
  }
  return regressor;
}

// np.convolve(signal, kernel)[:signal.size()].
std::vector<double> ConvolveTruncated(const std::vector<double>& signal,
                                      const std::vector<double>& kernel) {
  std::vector<double> out(signal.size(), 0.0);
  for (size_t k = 0; k < signal.size(); ++k) {
    const size_t jmax = std::min(k, kernel.size() - 1);
    double acc = 0.0;
    for (size_t j = 0; j <= jmax; ++j) acc += kernel[j] * signal[k - j];
    out[k] = acc;
  }
  return out;
}

// scipy.interpolate.interp1d(x, y, kind="linear")(x_new).
std::vector<double> InterpolateLinear(const std::vector<double>& x,
                                      const std::vector<double>& y,
                                      const std::vector<double>& x_new) {
  std::vector<double> out(x_new.size());
  const long last = static_cast<long>(x.size()) - 1;
  for (size_t i = 0; i < x_new.size(); ++i) {
    const long hi = std::clamp(SearchSorted(x, x_new[i]), 1L, last);
    const long lo = hi - 1;
    const double slope = (y[hi] - y[lo]) / (x[hi] - x[lo]);
    out[i] = slope * (x_new[i] - x[lo]) + y[lo];
  }
  return out;
}

std::vector<double> HrfKernel(HrfModel model, double tr, int oversampling) {
  switch (model) {
    case HrfModel::kNone:
      return std::vector<double>(oversampling, 1.0);
    case HrfModel::kSpm:
      return GammaDifferenceHrf(tr, oversampling, /*glover=*/false);
    case HrfModel::kGlover:
      return GammaDifferenceHrf(tr, oversampling, /*glover=*/true);
  }
  return {};
}

}  // namespace

absl::StatusOr<HrfModel> ParseHrfModel(absl::string_view name) {
  if (name == "none" || name == "boxcar" || name == "fir") {
    return HrfModel::kNone;
  }
  if (name == "spm") return HrfModel::kSpm;
  if (name == "glover" || name == "canonical") return HrfModel::kGlover;
  return absl::InvalidArgumentError(
      absl::StrCat("hrf_model: unknown model \"", name,
                   "\" (expected none, spm or glover)"));
}

std::vector<double> Linspace(double start, double stop, long num) {
  std::vector<double> out(std::max(num, 0L));
  if (num <= 0) return out;
  const double step = num > 1 ? (stop - start) / (num - 1) : 0.0;
  for (long i = 0; i < num; ++i) out[i] = i * step + start;
  if (num > 1) out[num - 1] = stop;
  return out;
}

std::vector<double> GammaDifferenceHrf(double tr, int oversampling,
                                       bool glover) {
  const double delay = 6.0, time_length = 32.0;
  const double undershoot = glover ? 12.0 : 16.0;
  const double dispersion = glover ? 0.9 : 1.0;
  const double ratio = glover ? 0.35 : 0.167;
  const double dt = tr / oversampling;
  std::vector<double> hrf =
      Linspace(0.0, time_length, static_cast<long>(time_length / dt));
  double sum = 0.0;
  for (double& t : hrf) {
    t = GammaPdf(t, delay / dispersion, dt / dispersion) -
        ratio * GammaPdf(t, undershoot / dispersion, dt / dispersion);
    sum += t;
  }
  for (double& h : hrf) h /= sum;
  return hrf;
}

std::vector<double> ComputeRegressor(const ConditionEvents& events,
                                     HrfModel model,
                                     const std::vector<double>& frame_times,
                                     int oversampling, double min_onset) {
  const long n = static_cast<long>(frame_times.size());
  const double t_min = frame_times.front(), t_max = frame_times.back();
  const double tr = t_max / (n - 1);
  const double stop = t_max * (1 + 1. / (n - 1));
  const double n_hr = ((n - 1) * 1. / (t_max - t_min) *
                       (stop - t_min - min_onset) * oversampling) +
                      1;
  const std::vector<double> hr_times =
      Linspace(t_min + min_onset, stop, static_cast<long>(n_hr));
  const std::vector<double> hr_regressor = SampleCondition(events, hr_times);
  const std::vector<double> convolved =
      ConvolveTruncated(hr_regressor, HrfKernel(model, tr, oversampling));
  return InterpolateLinear(hr_times, convolved, frame_times);
}

}  // namespace fnprobe::analysis
