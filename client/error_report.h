// Turns a failed command's absl::Status into what the user sees: one
// sentence, the lines that detail it (e.g. each invalid spec field), a hint
// saying what to do next, and the process exit code.
//
// Statuses that came from the worker are marked with MarkFromServer (the
// ExperimentClient does this for every RPC); their code decides the exit
// code. Unmarked statuses are local problems (a spec file that does not
// parse, an unwritable export directory, an experiment that failed).
//
// Exit codes:
//   0 success
//   1 anything else (internal errors, an experiment that FAILED, a call
//     past its deadline, ...)
//   2 usage error (bad flags; CLI11)
//   3 invalid spec or argument (INVALID_ARGUMENT, OUT_OF_RANGE; a local
//     file that is missing or does not parse)
//   4 not found (no such experiment, run, network or unit)
//   5 not authenticated or not allowed (UNAUTHENTICATED, PERMISSION_DENIED)
//   6 worker unreachable (UNAVAILABLE, or no connection within the
//     connect timeout)
//   7 failed precondition (e.g. the experiment is not done yet)
//   8 the experiment was cancelled (watch, submit --watch, demo)
//   130 interrupted (Ctrl-C during demo)
//
// Thread-safe: free functions without state.
#ifndef FNPROBE_CLIENT_ERROR_REPORT_H_
#define FNPROBE_CLIENT_ERROR_REPORT_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace fnprobe::client {

enum ExitCode : int {
  kExitOk = 0,
  kExitError = 1,
  kExitUsage = 2,
  kExitInvalidArgument = 3,
  kExitNotFound = 4,
  kExitUnauthenticated = 5,
  kExitUnavailable = 6,
  kExitFailedPrecondition = 7,
  kExitCancelled = 8,
  kExitInterrupted = 130,
};

// What DescribeError needs to know about the call that failed.
struct ErrorContext {
  std::string server;         // HOST:PORT the CLI talked to
  std::string server_source;  // where the address came from
  bool tls = false;
  double call_timeout_s = 30;
};

struct ErrorReport {
  int exit_code = kExitError;
  std::string sentence;              // one line, no trailing newline
  std::vector<std::string> details;  // printed indented under the sentence
  std::string hint;                  // empty: none
};

// Returns `status` marked as the worker's answer. OK stays OK.
absl::Status MarkFromServer(absl::Status status);
// Whether `status` carries MarkFromServer's mark.
bool IsFromServer(const absl::Status& status);

// The report for a failed `status`. REQUIRES: !status.ok().
ErrorReport DescribeError(const absl::Status& status,
                          const ErrorContext& context);

// Writes "fnprobe: <sentence>", each detail indented by four spaces, and
// "hint: <hint>", one per line.
void PrintErrorReport(const ErrorReport& report, std::ostream& err);

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_ERROR_REPORT_H_
