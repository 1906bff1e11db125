// How the CLI prints numbers: counts with thousands separators, rates in
// compact form, statistics with sensible precision, durations as h/m/s.
//
// Thread-safe: free functions without state.
#ifndef FNPROBE_CLIENT_NUMBER_FORMAT_H_
#define FNPROBE_CLIENT_NUMBER_FORMAT_H_

#include <cstdint>
#include <string>

namespace fnprobe::client {

// 1234567 -> "1,234,567".
std::string FormatCount(int64_t value);

// 950 -> "950", 12345 -> "12.3k", 4.2e6 -> "4.2M"; one decimal below 100
// of a unit, none above.
std::string FormatCompact(double value);

// `value` with `decimals` digits after the point; "-" for NaN.
std::string FormatFixed(double value, int decimals);

// A t or beta statistic: 4 significant digits ("12.35", "-0.004211").
std::string FormatStat(double value);

// A p or q value: "0.0123", or "3.2e-07" below 0.001.
std::string FormatP(double value);

// 0.8333 -> "83.3%".
std::string FormatPercent(double fraction);

// Seconds as "42s", "3m05s", "1h02m"; "?" for a negative or non-finite
// value.
std::string FormatDuration(double seconds);

// Bytes in binary units with three significant digits: "812 B", "1.50 KiB",
// "38.2 MiB", "1.79 GiB".
std::string FormatBytes(int64_t bytes);

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_NUMBER_FORMAT_H_
