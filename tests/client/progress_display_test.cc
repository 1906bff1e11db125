#include "client/progress_display.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fnprobe::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

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

// Progress as the worker sends it during a short run: an update about every
// half second (and on every change), tokens arriving in bursts as prompts
// finish, and the worker's own rate 0 throughout (what `fnprobe watch` and
// the demo showed: "0 tok/s ETA ?" for the whole run).
struct Sample {
  double seconds;
  int64_t tokens;
};
constexpr Sample kRecorded[] = {
    {0.00, 0},    {0.12, 0},    {0.61, 0},    {1.05, 48},   {1.10, 96},
    {1.58, 96},   {2.02, 180},  {2.49, 228},  {2.55, 276},  {3.01, 276},
    {3.48, 372},  {3.97, 420},  {4.46, 504},  {4.51, 516},  {4.99, 600},
    {5.52, 648},  {6.01, 744},  {6.47, 792},  {6.98, 876},  {7.51, 936},
    {8.02, 1020}, {8.49, 1068}, {9.03, 1164}, {9.50, 1212}, {10.01, 1296}};
constexpr int64_t kRecordedTotal = 1296;

v1::ExperimentProgress Received(const Sample& s) {
  v1::ExperimentProgress p;
  p.set_experiment_id(1);
  p.set_phase(s.tokens < kRecordedTotal ? v1::PHASE_GENERATING
                                        : v1::PHASE_ANALYZING);
  p.set_runs_total(9);
  p.set_runs_done(static_cast<int>(s.tokens / 144));
  p.set_tokens_done(s.tokens);
  p.set_tokens_total(kRecordedTotal);
  p.set_tokens_per_second(0);  // as the worker sent it
  return p;
}

// The rate is the EWMA of the received counts: about the stream's ~130
// tokens/s once a few seconds have passed, whatever the bursts.
TEST(TokenRateTest, FollowsRecordedCountsAndGivesAFiniteEta) {
  TokenRate rate;
  EXPECT_FALSE(rate.rate().has_value());
  EXPECT_FALSE(rate.SecondsFor(100).has_value());
  for (const Sample& s : kRecorded) {
    rate.Add(absl::UnixEpoch() + absl::Seconds(s.seconds), s.tokens);
    if (s.seconds < 2.0) continue;
    ASSERT_TRUE(rate.rate().has_value()) << s.seconds;
    EXPECT_GT(*rate.rate(), 50.0) << s.seconds;
    EXPECT_LT(*rate.rate(), 250.0) << s.seconds;
    const std::optional<double> eta =
        rate.SecondsFor(kRecordedTotal - s.tokens);
    ASSERT_TRUE(eta.has_value()) << s.seconds;
    EXPECT_TRUE(std::isfinite(*eta)) << s.seconds;
  }
  EXPECT_NEAR(*rate.rate(), 1296 / 10.0, 20.0);
}

// Updates closer than the minimum interval are merged into the next one,
// and a count that goes down (a new stream) starts over.
TEST(TokenRateTest, MergesBurstsAndRestartsOnAnEarlierCount) {
  TokenRate rate(absl::Seconds(5), absl::Milliseconds(250));
  const absl::Time t0 = absl::UnixEpoch();
  rate.Add(t0, 0);
  rate.Add(t0 + absl::Milliseconds(1), 500);  // too close: no rate yet
  EXPECT_FALSE(rate.rate().has_value());
  rate.Add(t0 + absl::Seconds(1), 100);
  ASSERT_TRUE(rate.rate().has_value());
  EXPECT_DOUBLE_EQ(*rate.rate(), 100.0);
  rate.Add(t0 + absl::Seconds(2), 50);  // went down: starts over
  EXPECT_FALSE(rate.rate().has_value());
  rate.Add(t0 + absl::Seconds(3), 250);
  EXPECT_DOUBLE_EQ(*rate.rate(), 200.0);
}

// Fed the recorded stream on its own clock, both the terminal line and the
// plain lines show a non-zero rate and a finite ETA after the first
// seconds, although the worker's rate is 0 in every update.
TEST(ProgressDisplayTest, RateAndEtaComeFromTheReceivedTokens) {
  for (bool tty : {true, false}) {
    absl::Time now = absl::UnixEpoch();
    std::ostringstream out;
    ProgressDisplay display(
        out, tty, [&] { return now; }, absl::Seconds(1));
    std::vector<std::string> lines;
    for (const Sample& s : kRecorded) {
      now = absl::UnixEpoch() + absl::Seconds(s.seconds);
      const size_t before = out.str().size();
      display.Update(Received(s));
      std::string drawn = out.str().substr(before);
      if (!drawn.empty() && s.seconds >= 2.0 && s.tokens < kRecordedTotal) {
        lines.push_back(drawn);
      }
    }
    ASSERT_GE(lines.size(), 5u) << "tty " << tty;
    for (const std::string& line : lines) {
      EXPECT_THAT(line, Not(HasSubstr(" 0 tok/s"))) << line;
      EXPECT_THAT(line, Not(HasSubstr("ETA ?"))) << line;
      EXPECT_THAT(line, HasSubstr(" tok/s  ETA ")) << line;
    }
    EXPECT_THAT(out.str(), HasSubstr("ETA ?"));  // before any rate
  }
}

}  // namespace
}  // namespace fnprobe::client
