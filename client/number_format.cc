#include "client/number_format.h"

#include <cmath>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fnprobe::client {

std::string FormatCount(int64_t value) {
  const uint64_t magnitude = value < 0 ? 0 - static_cast<uint64_t>(value)
                                       : static_cast<uint64_t>(value);
  std::string digits = absl::StrCat(magnitude);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

std::string FormatCompact(double value) {
  if (!std::isfinite(value)) return "-";
  const double magnitude = std::fabs(value);
  struct Unit {
    double scale;
    const char* suffix;
  };
  for (Unit unit : {Unit{1e9, "G"}, Unit{1e6, "M"}, Unit{1e3, "k"}}) {
    if (magnitude >= unit.scale) {
      double scaled = value / unit.scale;
      return std::fabs(scaled) < 100
                 ? absl::StrFormat("%.1f%s", scaled, unit.suffix)
                 : absl::StrFormat("%.0f%s", scaled, unit.suffix);
    }
  }
  return magnitude < 100 && magnitude != std::floor(magnitude)
             ? absl::StrFormat("%.1f", value)
             : absl::StrFormat("%.0f", value);
}

std::string FormatFixed(double value, int decimals) {
  if (std::isnan(value)) return "-";
  return absl::StrFormat("%.*f", decimals, value);
}

std::string FormatStat(double value) {
  if (std::isnan(value)) return "-";
  return absl::StrFormat("%.4g", value);
}

std::string FormatP(double value) {
  if (std::isnan(value)) return "-";
  if (value != 0 && std::fabs(value) < 1e-3) {
    return absl::StrFormat("%.1e", value);
  }
  return absl::StrFormat("%.4f", value);
}

std::string FormatPercent(double fraction) {
  if (std::isnan(fraction)) return "-";
  return absl::StrFormat("%.1f%%", fraction * 100);
}

std::string FormatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = std::llround(seconds);
  if (s < 60) return absl::StrFormat("%ds", s);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm", s / 3600, (s % 3600) / 60);
}

std::string FormatBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"B",   "KiB", "MiB",
                                           "GiB", "TiB", "PiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (std::fabs(value) >= 1024 && unit < 5) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return absl::StrCat(bytes, " B");
  const int decimals = std::fabs(value) < 10    ? 2
                       : std::fabs(value) < 100 ? 1
                                                : 0;
  return absl::StrCat(FormatFixed(value, decimals), " ", kUnits[unit]);
}

}  // namespace fnprobe::client
