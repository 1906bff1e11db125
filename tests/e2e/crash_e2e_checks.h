// What the crash-test driver (crash_*_e2e_test.cc, issue 13) checks and
// draws: its random moments (one printed base seed, FNPROBE_CRASH_SEED to
// repeat them), the experiment it runs, what a client exports of a
// finished experiment (compared byte for byte with an undisturbed run), and
// the database and activation-store facts of one experiment (read-only),
// with the invariants they must satisfy.
//
// Not thread-safe: for the test thread.
#ifndef FNPROBE_TESTS_E2E_CRASH_E2E_CHECKS_H_
#define FNPROBE_TESTS_E2E_CRASH_E2E_CHECKS_H_

#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "fnprobe/v1/experiments.grpc.pb.h"

namespace fnprobe::crash_e2e {

inline constexpr char kAlice[] = "alice-token-0123456789abcdef";

// ---------------------------------------------------------------------------
// Seeds. One base seed for the whole driver; each scenario draws from its
// own generator (the base mixed with the scenario's name), so that running
// one scenario alone (--gtest_filter) draws the moments it draws in a full
// run.

uint64_t SplitMix64(uint64_t x);

// FNPROBE_CRASH_SEED, or a random seed; printed on first use.
uint64_t BaseSeed();

// A scenario's random moments. Draws by modulo, not by std distributions,
// so that a seed means the same moments with any standard library.
class Moments {
 public:
  explicit Moments(const std::string& scenario);
  uint64_t Next() { return state_ = SplitMix64(state_); }
  // Uniform in [lo, hi].
  int64_t Between(int64_t lo, int64_t hi) {
    return lo +
           static_cast<int64_t>(Next() % static_cast<uint64_t>(hi - lo + 1));
  }
  void Say(const std::string& line) const {
    std::cout << "[crash] " << scenario_ << ": " << line << std::endl;
  }

 private:
  std::string scenario_;
  uint64_t state_;
};

// The spec: 2 conditions x 2 repeats = 4 runs of 12 prompts x 48 tokens.
v1::ExperimentSpec CrashSpec();

// ---------------------------------------------------------------------------
// Exports: what a client can read of a finished experiment, keyed without
// ids (which differ between experiments) and serialized, so that equality
// is byte equality.

struct Exports {
  std::map<std::string, std::string> maps;      // "condition/topic0", "run/.."
  std::map<std::string, std::string> networks;  // summary + every unit
};

absl::StatusOr<Exports> ReadExports(v1::ExperimentService::Stub* stub,
                                    const v1::Experiment& e);

// Names what differs (the values themselves are long).
void ExpectSameExports(const Exports& got, const Exports& want);

// ---------------------------------------------------------------------------
// The database and the activation store of one experiment.

struct RunRow {
  int64_t id = 0;
  std::string key;
  std::string status;
  std::string activation_path;
  int64_t time_points = 0;
  int64_t generations = 0;
  int64_t run_maps = 0;
  int64_t prompt_values = 0;
};

struct DbFacts {
  std::string status;
  std::vector<RunRow> runs;
  // Experiment-level rows: condition maps, networks, network_units,
  // overlaps, classifications, events.
  std::map<std::string, int64_t> counts;
  // "condition#repeat prompt step token" of every generated token.
  std::vector<std::string> generations;
};

absl::StatusOr<DbFacts> ReadDb(const std::string& data_dir, int64_t id);

// What the activation store holds that it should not: a file for a run
// that is not done, no file for a done one, a leftover partial file.
std::vector<std::string> ActivationProblems(const std::string& data_dir,
                                            int64_t id, const DbFacts& f);

// Invariants of a finished experiment's rows; empty when all hold.
std::vector<std::string> DbProblems(const DbFacts& f, const DbFacts& ref);

bool IsTerminal(v1::ExperimentPhase phase);

// "PHASE, d/n runs done[, run i at t/T tokens]".
std::string Describe(const v1::Experiment& e);

}  // namespace fnprobe::crash_e2e

#endif  // FNPROBE_TESTS_E2E_CRASH_E2E_CHECKS_H_
