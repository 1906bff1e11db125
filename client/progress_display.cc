#include "client/progress_display.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/number_format.h"
#include "client/proto_names.h"

namespace fnprobe::client {
namespace {

constexpr int kBarWidth = 20;
constexpr absl::Duration kTtyInterval = absl::Milliseconds(100);

std::string Eta(const v1::ExperimentProgress& p, double tokens_per_second) {
  if (p.phase() != v1::PHASE_GENERATING && p.phase() != v1::PHASE_QUEUED) {
    return "";
  }
  const int64_t left = p.tokens_total() - p.tokens_done();
  if (!(tokens_per_second > 0) || left < 0) return "  ETA ?";
  return absl::StrCat("  ETA ", FormatDuration(left / tokens_per_second));
}

}  // namespace

ProgressDisplay::ProgressDisplay(std::ostream& out, bool tty,
                                 std::function<absl::Time()> now,
                                 absl::Duration plain_interval)
    : out_(out),
      tty_(tty),
      now_(std::move(now)),
      plain_interval_(plain_interval) {}

double ProgressDisplay::Fraction(const v1::ExperimentProgress& p) {
  double f = 0;
  if (p.tokens_total() > 0) {
    f = static_cast<double>(p.tokens_done()) / p.tokens_total();
  } else if (p.runs_total() > 0) {
    f = static_cast<double>(p.runs_done()) / p.runs_total();
  }
  if (p.phase() == v1::PHASE_DONE) f = 1;
  return std::clamp(f, 0.0, 1.0);
}

std::string ProgressDisplay::Bar(double fraction, int width) {
  const int filled =
      static_cast<int>(std::floor(std::clamp(fraction, 0.0, 1.0) * width));
  return absl::StrCat("[", std::string(filled, '#'),
                      std::string(width - filled, '-'), "]");
}

std::string ProgressDisplay::Describe(const v1::ExperimentProgress& p) {
  return Describe(p, p.tokens_per_second());
}

std::string ProgressDisplay::Describe(const v1::ExperimentProgress& p,
                                      double tokens_per_second) {
  const std::string phase = PhaseName(p.phase());
  std::string line = absl::StrCat(
      phase, "  runs ", p.runs_done(), "/", p.runs_total(), "  tokens ",
      FormatCount(p.tokens_done()), "/", FormatCount(p.tokens_total()), "  ",
      FormatCompact(tokens_per_second), " tok/s", Eta(p, tokens_per_second));
  if (!p.message().empty() && !absl::StartsWith(p.message(), phase)) {
    absl::StrAppend(&line, "  (", p.message(), ")");
  }
  return line;
}

double ProgressDisplay::TokensPerSecond(const v1::ExperimentProgress& p) const {
  return rate_.rate().value_or(p.tokens_per_second());
}

void ProgressDisplay::Observe(const v1::ExperimentProgress& p) {
  // Every update counts towards the rate, drawn or not.
  rate_.Add(now_(), p.tokens_done());
}

bool ProgressDisplay::Due(const v1::ExperimentProgress& p) const {
  if (!drawn_) return true;
  const absl::Duration since = now_() - last_draw_;
  if (tty_) return since >= kTtyInterval;
  return p.phase() != last_.phase() || p.runs_done() != last_.runs_done() ||
         p.message() != last_.message() || since >= plain_interval_;
}

void ProgressDisplay::Draw(const v1::ExperimentProgress& p) {
  if (tty_) {
    const double f = Fraction(p);
    std::string line =
        absl::StrCat(Bar(f, kBarWidth), absl::StrFormat(" %3.0f%%  ", f * 100),
                     Describe(p, TokensPerSecond(p)));
    const size_t width = line.size();
    if (width < last_width_) line.append(last_width_ - width, ' ');
    last_width_ = width;
    out_ << "\r" << line << std::flush;
  } else {
    out_ << Describe(p, TokensPerSecond(p)) << std::endl;
  }
  last_ = p;
  last_draw_ = now_();
  drawn_ = true;
}

void ProgressDisplay::Update(const v1::ExperimentProgress& progress) {
  Observe(progress);
  if (Due(progress)) Draw(progress);
}

void ProgressDisplay::Finish(const v1::ExperimentProgress& progress) {
  Observe(progress);
  const bool same =
      drawn_ && progress.SerializeAsString() == last_.SerializeAsString();
  if (!same) Draw(progress);
  if (tty_) out_ << std::endl;
}

}  // namespace fnprobe::client
