// Shows an experiment's progress as it arrives: on a terminal, one line
// redrawn in place (carriage return) with a bar; otherwise plain lines,
// written when the phase, the runs done or the message change, and at most
// every `plain_interval` in between. Both show runs done/total, tokens,
// the rate in tokens per second and the ETA. Rate and ETA come from the
// token counts of the updates as they arrive (TokenRate, timed with the
// injected clock); the worker's own rate is shown only until there is one.
//
//   [##########----------]  50%  generating  runs 3/6  tokens 720/1,440
//       96.0 tok/s  ETA 7s
//
// Not thread-safe.
#ifndef FNPROBE_CLIENT_PROGRESS_DISPLAY_H_
#define FNPROBE_CLIENT_PROGRESS_DISPLAY_H_

#include <functional>
#include <ostream>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/token_rate.h"
#include "fnprobe/v1/experiments.pb.h"

namespace fnprobe::client {

class ProgressDisplay {
 public:
  // `now` is the clock (absl::Now unless a test injects one).
  ProgressDisplay(std::ostream& out, bool tty,
                  std::function<absl::Time()> now = absl::Now,
                  absl::Duration plain_interval = absl::Seconds(10));

  // Shows `progress` if it is due (terminals: at most 10 redraws a second).
  void Update(const v1::ExperimentProgress& progress);

  // Shows the final state and ends the line.
  void Finish(const v1::ExperimentProgress& progress);

  // "generating  runs 3/6  tokens 720/1,440  96.0 tok/s  ETA 7s", plus
  // "  (<message>)" when there is one that does not merely repeat the phase
  // ("generating: 3/6 runs done"). The ETA is the tokens left over
  // `tokens_per_second`; the first form uses progress.tokens_per_second().
  static std::string Describe(const v1::ExperimentProgress& progress);
  static std::string Describe(const v1::ExperimentProgress& progress,
                              double tokens_per_second);

  // The rate shown now: the client's estimate, else the worker's.
  double TokensPerSecond(const v1::ExperimentProgress& progress) const;

  // "[#####-----]" `width` characters inside the brackets.
  static std::string Bar(double fraction, int width);

  // tokens_done / tokens_total, or runs when tokens are unknown; in [0, 1].
  static double Fraction(const v1::ExperimentProgress& progress);

 private:
  bool Due(const v1::ExperimentProgress& progress) const;
  void Observe(const v1::ExperimentProgress& progress);
  void Draw(const v1::ExperimentProgress& progress);

  std::ostream& out_;
  const bool tty_;
  const std::function<absl::Time()> now_;
  const absl::Duration plain_interval_;
  TokenRate rate_;
  absl::Time last_draw_ = absl::InfinitePast();
  v1::ExperimentProgress last_;
  bool drawn_ = false;
  size_t last_width_ = 0;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_PROGRESS_DISPLAY_H_
