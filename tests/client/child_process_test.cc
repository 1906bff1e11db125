#include "client/child_process.h"

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::client {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::ScopedTempDir;
using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The child's output goes to the log; Wait reports its exit code.
TEST(ChildProcessTest, LogsOutputAndReportsExitCode) {
  ScopedTempDir dir;
  const std::string log = dir.path() + "/child.log";
  auto child = ChildProcess::Spawn(
      "/bin/sh", {"-c", "echo out; echo err >&2; exit 3"}, log);
  ASSERT_THAT(child, IsOk());
  EXPECT_EQ((*child)->Wait(absl::Seconds(30)), 3);
  EXPECT_EQ((*child)->Stop(), 3);  // already ended: just the code
  EXPECT_EQ(ReadAll(log), "out\nerr\n");
  EXPECT_EQ((*child)->name(), "sh");
}

// Stop sends SIGTERM; a child that ignores it is killed after the grace.
TEST(ChildProcessTest, StopTerminatesThenKills) {
  ScopedTempDir dir;
  auto polite = ChildProcess::Spawn("/bin/sleep", {"30"}, dir.path() + "/a");
  ASSERT_THAT(polite, IsOk());
  EXPECT_EQ((*polite)->Poll(), std::nullopt);
  EXPECT_EQ((*polite)->Stop(absl::Seconds(10)), 128 + SIGTERM);

  auto stubborn = ChildProcess::Spawn(
      "/bin/sh", {"-c", "trap '' TERM; echo ready; sleep 30 & wait"},
      dir.path() + "/b");
  ASSERT_THAT(stubborn, IsOk());
  while (ReadAll(dir.path() + "/b").empty())
    absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ((*stubborn)->Stop(absl::Milliseconds(200)), 128 + SIGKILL);
}

// A binary that does not exist is an error naming it.
TEST(ChildProcessTest, MissingBinaryIsNamed) {
  ScopedTempDir dir;
  auto child = ChildProcess::Spawn("/nonexistent/fnprobe-worker", {},
                                   dir.path() + "/log");
  EXPECT_THAT(child, StatusIs(absl::StatusCode::kInternal,
                              HasSubstr("/nonexistent/fnprobe-worker")));
}

}  // namespace
}  // namespace fnprobe::client
