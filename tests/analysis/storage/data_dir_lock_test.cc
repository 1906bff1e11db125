#include "server/analysis/storage/data_dir_lock.h"

#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/command_runner.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::ReadAll;
using ::fnprobe::testing::ScopedTempDir;
using ::fnprobe::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(DataDirLockTest, SecondHolderIsRefusedNamingTheFirst) {
  ScopedTempDir dir;
  auto first = DataDirLock::Acquire(dir.path());
  ASSERT_OK(first);
  EXPECT_EQ((*first)->path(), dir.path() + "/LOCK");
  EXPECT_EQ(ReadAll(dir.path() + "/LOCK"), absl::StrCat(getpid(), "\n"));
  EXPECT_THAT(DataDirLock::Acquire(dir.path()),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("in use by another fnprobe-worker"),
                             HasSubstr(absl::StrCat("pid ", getpid())),
                             HasSubstr(dir.path()))));
  first->reset();
  // Released: the next holder gets it.
  EXPECT_OK(DataDirLock::Acquire(dir.path()));
}

TEST(DataDirLockTest, ADeadHolderLeavesNoStaleLock) {
  ScopedTempDir dir;
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = DataDirLock::Acquire(dir.path());
    // Dies holding it, as in a crash (no destructor runs).
    _exit(lock.ok() ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(ReadAll(dir.path() + "/LOCK"), absl::StrCat(child, "\n"));
  auto lock = DataDirLock::Acquire(dir.path());
  ASSERT_OK(lock);
  EXPECT_EQ(ReadAll(dir.path() + "/LOCK"), absl::StrCat(getpid(), "\n"));
}

TEST(DataDirLockTest, MissingDirectoryIsAnError) {
  ScopedTempDir dir;
  EXPECT_THAT(DataDirLock::Acquire(dir.path() + "/missing"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("LOCK")));
}

}  // namespace
}  // namespace fnprobe
