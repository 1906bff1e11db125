#include "client/progress_display.h"

#include <algorithm>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fnprobe::client {
namespace {

using ::testing::HasSubstr;

v1::ExperimentProgress Generating(int runs, int64_t tokens) {
  v1::ExperimentProgress p;
  p.set_experiment_id(3);
  p.set_phase(v1::PHASE_GENERATING);
  p.set_runs_done(runs);
  p.set_runs_total(18);
  p.set_tokens_done(tokens);
  p.set_tokens_total(43200);
  p.set_tokens_per_second(1234.5);
  return p;
}

// The line carries runs, tokens, rate and ETA (remaining tokens / rate).
TEST(ProgressDisplayTest, DescribesRunsTokensRateAndEta) {
  v1::ExperimentProgress p = Generating(7, 12345);
  p.set_message("run 8/18 retrying");
  EXPECT_EQ(ProgressDisplay::Describe(p),
            "generating  runs 7/18  tokens 12,345/43,200  1.2k tok/s  ETA "
            "25s  (run 8/18 retrying)");
  p.set_tokens_per_second(0);
  EXPECT_THAT(ProgressDisplay::Describe(p), HasSubstr("ETA ?"));
  EXPECT_EQ(ProgressDisplay::Bar(0.5, 10), "[#####-----]");
  EXPECT_EQ(ProgressDisplay::Bar(1.5, 4), "[####]");
}

// On a terminal the line is redrawn in place, at most 10 times a second,
// and the last state ends with a newline.
TEST(ProgressDisplayTest, TerminalRedrawsInPlace) {
  absl::Time now = absl::UnixEpoch();
  std::ostringstream out;
  ProgressDisplay display(out, /*tty=*/true, [&] { return now; });
  display.Update(Generating(1, 2400));
  display.Update(Generating(2, 4800));  // too soon: skipped
  now += absl::Milliseconds(150);
  display.Update(Generating(3, 7200));
  v1::ExperimentProgress done = Generating(18, 43200);
  done.set_phase(v1::PHASE_DONE);
  display.Finish(done);
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 3);
  EXPECT_EQ(text.find("runs 2/18"), std::string::npos);
  EXPECT_THAT(text, HasSubstr("\r[####################] 100%  done"));
  EXPECT_EQ(text.back(), '\n');
}

// Without a terminal: one line per change of runs or phase, and otherwise
// one every interval.
TEST(ProgressDisplayTest, PlainLinesOnChangesAndIntervals) {
  absl::Time now = absl::UnixEpoch();
  std::ostringstream out;
  ProgressDisplay display(
      out, /*tty=*/false, [&] { return now; }, absl::Seconds(10));
  display.Update(Generating(1, 2400));
  display.Update(Generating(1, 2500));  // same run, too soon
  now += absl::Seconds(11);
  display.Update(Generating(1, 2600));  // interval passed
  display.Update(Generating(2, 4800));  // a run finished
  const std::string text = out.str();
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
  EXPECT_EQ(text.find("2,500"), std::string::npos);
}

}  // namespace
}  // namespace fnprobe::client
