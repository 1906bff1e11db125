// KsDistance: the Kolmogorov-Smirnov distance of a sample of p-values from
// Uniform(0, 1), the statistic the null checks (level_two_test, the null
// audit) compare against the KS critical value. Header-only so that the
// null-audit tool can use it without linking the test-support library.
//
// Thread-safe: a pure function.
#ifndef FNPROBE_TESTS_SUPPORT_KS_DISTANCE_H_
#define FNPROBE_TESTS_SUPPORT_KS_DISTANCE_H_

#include <algorithm>
#include <cstddef>
#include <vector>

namespace fnprobe::testing {

// sup_x |F_n(x) - x| over the empirical CDF F_n of `p`; 0 for an empty
// sample.
inline double KsDistance(std::vector<double> p) {
  std::sort(p.begin(), p.end());
  const double n = static_cast<double>(p.size());
  double d = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    d = std::max({d, (i + 1) / n - p[i], p[i] - i / n});
  }
  return d;
}

}  // namespace fnprobe::testing

#endif  // FNPROBE_TESTS_SUPPORT_KS_DISTANCE_H_
