#include "client/error_report.h"

#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace fnprobe::client {
namespace {

constexpr char kServerPayload[] = "fnprobe.dev/client/from-server";

constexpr char kTokenHint[] =
    "check --token / --token-file / FNPROBE_TOKEN (or the config file's "
    "\"token\") against the worker's tokens file";

// Splits a message into its first line and the lines that follow. A message
// whose lines are all "field: problem" gets `header` as its sentence.
void SplitMessage(absl::string_view message, absl::string_view header,
                  ErrorReport* report) {
  std::vector<std::string> lines =
      absl::StrSplit(message, '\n', absl::SkipWhitespace());
  if (lines.empty()) lines.push_back("(no message)");
  if (lines.size() == 1 || absl::EndsWith(lines[0], ":")) {
    report->sentence = lines[0];
    report->details.assign(lines.begin() + 1, lines.end());
    return;
  }
  report->sentence = absl::StrCat(header, " (", lines.size(), " problems):");
  report->details = std::move(lines);
}

std::string FirstLine(absl::string_view message) {
  return std::string(message.substr(0, message.find('\n')));
}

ErrorReport DescribeInvalid(const absl::Status& status, bool from_server) {
  ErrorReport r;
  r.exit_code = kExitInvalidArgument;
  SplitMessage(
      status.message(),
      from_server ? "fnprobe-worker refused the request" : "invalid input", &r);
  if (!r.details.empty()) {
    r.hint = "fix each field listed above and try again";
  } else if (from_server) {
    r.hint = "check the command's arguments (see --help)";
  }
  return r;
}

ErrorReport DescribeUnavailable(const absl::Status& status,
                                const ErrorContext& c) {
  ErrorReport r;
  r.exit_code = kExitUnavailable;
  r.sentence = absl::StrCat("cannot reach fnprobe-worker at ", c.server, " (",
                            FirstLine(status.message()), ")");
  r.hint = absl::StrCat(
      "is fnprobe-worker running and listening there? Give its address with "
      "--server HOST:PORT or FNPROBE_SERVER (",
      c.server_source == "default"
          ? "this is the default address"
          : absl::StrCat("this one came from ", c.server_source),
      ")");
  if (c.tls) absl::StrAppend(&r.hint, "; with --ca-cert it must serve TLS");
  return r;
}

ErrorReport DescribeServerError(const absl::Status& status,
                                const ErrorContext& c) {
  ErrorReport r;
  const std::string message = FirstLine(status.message());
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return DescribeInvalid(status, /*from_server=*/true);
    case absl::StatusCode::kUnavailable:
      return DescribeUnavailable(status, c);
    case absl::StatusCode::kNotFound:
      r.exit_code = kExitNotFound;
      r.sentence = message;
      r.hint =
          "`fnprobe list` shows your experiments (another user's read as "
          "not found)";
      return r;
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      r.exit_code = kExitUnauthenticated;
      r.sentence = absl::StrCat("fnprobe-worker at ", c.server,
                                " refused the credentials: ", message);
      r.hint = kTokenHint;
      return r;
    case absl::StatusCode::kFailedPrecondition:
      r.exit_code = kExitFailedPrecondition;
      r.sentence = message;
      r.hint =
          "`fnprobe show ID` shows the experiment's phase; `fnprobe watch "
          "ID` waits until it is done";
      return r;
    case absl::StatusCode::kDeadlineExceeded:
      r.sentence =
          absl::StrCat("fnprobe-worker at ", c.server,
                       " did not answer within ", c.call_timeout_s, " s");
      r.hint = "raise --timeout, or check how busy the worker is";
      return r;
    case absl::StatusCode::kResourceExhausted:
      r.sentence = message;
      r.hint = "the worker is at a limit (queue or quota); try again later";
      return r;
    default:
      r.sentence =
          absl::StrCat("fnprobe-worker at ", c.server, " failed: ", message);
      r.hint = "this is likely a worker bug; the worker's log may say more";
      return r;
  }
}

ErrorReport DescribeLocalError(const absl::Status& status) {
  ErrorReport r;
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
      return DescribeInvalid(status, /*from_server=*/false);
    case absl::StatusCode::kCancelled:
      r.exit_code = kExitCancelled;
      r.hint = "`fnprobe show ID` lists the runs that finished";
      break;
    case absl::StatusCode::kAborted:
      r.hint =
          "`fnprobe show ID` shows each run's error; the worker's log may "
          "say more";
      break;
    case absl::StatusCode::kFailedPrecondition:
      r.exit_code = kExitFailedPrecondition;
      break;
    default:
      break;
  }
  SplitMessage(status.message(), "error", &r);
  return r;
}

}  // namespace

absl::Status MarkFromServer(absl::Status status) {
  if (!status.ok()) status.SetPayload(kServerPayload, absl::Cord("1"));
  return status;
}

bool IsFromServer(const absl::Status& status) {
  return status.GetPayload(kServerPayload).has_value();
}

ErrorReport DescribeError(const absl::Status& status,
                          const ErrorContext& context) {
  return IsFromServer(status) ? DescribeServerError(status, context)
                              : DescribeLocalError(status);
}

void PrintErrorReport(const ErrorReport& report, std::ostream& err) {
  err << "fnprobe: " << report.sentence << "\n";
  for (const std::string& line : report.details) err << "    " << line << "\n";
  if (!report.hint.empty()) err << "hint: " << report.hint << "\n";
}

}  // namespace fnprobe::client
