#include "client/number_format.h"

#include <cmath>
#include <limits>

#include "gtest/gtest.h"

namespace fnprobe::client {
namespace {

TEST(NumberFormatTest, CountsHaveThousandsSeparators) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
  EXPECT_EQ(FormatCount(-1234), "-1,234");
  EXPECT_EQ(FormatCount(std::numeric_limits<int64_t>::min()),
            "-9,223,372,036,854,775,808");
}

TEST(NumberFormatTest, CompactRatesAndStatistics) {
  EXPECT_EQ(FormatCompact(0), "0");
  EXPECT_EQ(FormatCompact(96), "96");
  EXPECT_EQ(FormatCompact(12.25), "12.2");
  EXPECT_EQ(FormatCompact(12345), "12.3k");
  EXPECT_EQ(FormatCompact(4.2e6), "4.2M");
  EXPECT_EQ(FormatCompact(250000), "250k");
  EXPECT_EQ(FormatStat(12.3456), "12.35");
  EXPECT_EQ(FormatStat(-0.0042113), "-0.004211");
  EXPECT_EQ(FormatP(0.0123), "0.0123");
  EXPECT_EQ(FormatP(3.2e-7), "3.2e-07");
  EXPECT_EQ(FormatP(0), "0.0000");
  EXPECT_EQ(FormatPercent(5.0 / 6), "83.3%");
  EXPECT_EQ(FormatFixed(std::nan(""), 2), "-");
}

TEST(NumberFormatTest, Durations) {
  EXPECT_EQ(FormatDuration(1.5), "2s");
  EXPECT_EQ(FormatDuration(185), "3m05s");
  EXPECT_EQ(FormatDuration(3720), "1h02m");
  EXPECT_EQ(FormatDuration(-1), "?");
  EXPECT_EQ(FormatDuration(std::numeric_limits<double>::infinity()), "?");
}

}  // namespace
}  // namespace fnprobe::client
