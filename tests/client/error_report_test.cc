#include "client/error_report.h"

#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fnprobe::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ErrorContext Context() {
  ErrorContext c;
  c.server = "10.0.0.1:7070";
  c.server_source = "FNPROBE_SERVER";
  return c;
}

int ServerExit(absl::StatusCode code) {
  return DescribeError(MarkFromServer(absl::Status(code, "m")), Context())
      .exit_code;
}

// The worker's codes map to distinct exit codes.
TEST(ErrorReportTest, ServerCodesMapToExitCodes) {
  EXPECT_EQ(ServerExit(absl::StatusCode::kInvalidArgument), 3);
  EXPECT_EQ(ServerExit(absl::StatusCode::kOutOfRange), 3);
  EXPECT_EQ(ServerExit(absl::StatusCode::kNotFound), 4);
  EXPECT_EQ(ServerExit(absl::StatusCode::kUnauthenticated), 5);
  EXPECT_EQ(ServerExit(absl::StatusCode::kPermissionDenied), 5);
  EXPECT_EQ(ServerExit(absl::StatusCode::kUnavailable), 6);
  EXPECT_EQ(ServerExit(absl::StatusCode::kFailedPrecondition), 7);
  EXPECT_EQ(ServerExit(absl::StatusCode::kDeadlineExceeded), 1);
  EXPECT_EQ(ServerExit(absl::StatusCode::kInternal), 1);
}

// Local problems are told apart from the worker's: a local permission
// error is no token problem.
TEST(ErrorReportTest, LocalErrorsAreNotBlamedOnTheWorker) {
  EXPECT_EQ(DescribeError(absl::PermissionDeniedError("/x: denied"), Context())
                .exit_code,
            1);
  EXPECT_EQ(DescribeError(absl::NotFoundError("spec.json: missing"), Context())
                .exit_code,
            3);
  EXPECT_EQ(DescribeError(absl::CancelledError("experiment 9 was cancelled"),
                          Context())
                .exit_code,
            8);
  EXPECT_EQ(
      DescribeError(absl::AbortedError("experiment 8 failed: x"), Context())
          .exit_code,
      1);
  EXPECT_FALSE(IsFromServer(absl::InternalError("x")));
  EXPECT_TRUE(IsFromServer(MarkFromServer(absl::InternalError("x"))));
}

// Each "field: problem" line of INVALID_ARGUMENT is listed; a header line
// ending in ':' becomes the sentence.
TEST(ErrorReportTest, InvalidArgumentListsEachField) {
  ErrorReport r = DescribeError(
      MarkFromServer(absl::InvalidArgumentError(
          "conditions[0].name: must not be empty\ndesign.repeats: must be "
          ">= 1")),
      Context());
  EXPECT_EQ(r.sentence, "fnprobe-worker refused the request (2 problems):");
  EXPECT_THAT(r.details, ElementsAre("conditions[0].name: must not be empty",
                                     "design.repeats: must be >= 1"));
  r = DescribeError(MarkFromServer(absl::InvalidArgumentError(
                        "invalid experiment spec (1 problem(s)):\nname: is "
                        "empty")),
                    Context());
  EXPECT_EQ(r.sentence, "invalid experiment spec (1 problem(s)):");
  EXPECT_THAT(r.details, ElementsAre("name: is empty"));
  std::ostringstream err;
  PrintErrorReport(r, err);
  EXPECT_EQ(err.str(),
            "fnprobe: invalid experiment spec (1 problem(s)):\n"
            "    name: is empty\n"
            "hint: fix each field listed above and try again\n");
}

// Unreachable: names the address, where it came from, and TLS.
TEST(ErrorReportTest, UnreachableNamesTheAddressAndItsSource) {
  ErrorContext c = Context();
  c.tls = true;
  ErrorReport r = DescribeError(
      MarkFromServer(absl::UnavailableError("no connection within 5 s")), c);
  EXPECT_EQ(r.sentence,
            "cannot reach fnprobe-worker at 10.0.0.1:7070 (no connection "
            "within 5 s)");
  EXPECT_THAT(r.hint, HasSubstr("FNPROBE_SERVER"));
  EXPECT_THAT(r.hint, HasSubstr("TLS"));
}

}  // namespace
}  // namespace fnprobe::client
