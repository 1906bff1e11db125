#include "common/env.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/fault_injection_env.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::FaultInjectionEnv;
using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::ReadFileOrDie;
using ::fnprobe::testing::ScopedTempDir;
using ::fnprobe::testing::StatusIs;
using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// Sorted entries of `dir`, to see what a failed write left behind.
std::vector<std::string> Entries(Env& env, const std::string& dir) {
  absl::StatusOr<std::vector<std::string>> names = env.ListDirectory(dir);
  EXPECT_THAT(names, IsOk());
  if (!names.ok()) return {};
  std::sort(names->begin(), names->end());
  return *names;
}

mode_t Mode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(EnvTest, WriteFileAtomicallyReplacesTheWholeFile) {
  ScopedTempDir dir;
  PosixEnv env;
  const std::string path = dir.path() + "/a.txt";
  ASSERT_THAT(WriteFileAtomically(env, path, "old and longer contents\n"),
              IsOk());
  ASSERT_THAT(WriteFileAtomically(env, path, "new\n"), IsOk());
  EXPECT_EQ(ReadFileOrDie(path), "new\n");
  EXPECT_EQ(Mode(path), 0644u);
  EXPECT_THAT(Entries(env, dir.path()), ElementsAre("a.txt"));
}

TEST(EnvTest, WritableAndRandomAccessFilesRoundTrip) {
  ScopedTempDir dir;
  PosixEnv env;
  const std::string path = dir.path() + "/f";
  auto file = env.NewWritableFile(path);
  ASSERT_THAT(file, IsOk());
  ASSERT_THAT((*file)->Append("hello, "), IsOk());
  ASSERT_THAT((*file)->Append("world"), IsOk());
  ASSERT_THAT((*file)->Sync(), IsOk());
  ASSERT_THAT((*file)->Close(), IsOk());
  EXPECT_THAT((*file)->Append("x"),
              StatusIs(absl::StatusCode::kFailedPrecondition));

  auto reader = env.NewRandomAccessFile(path);
  ASSERT_THAT(reader, IsOk());
  EXPECT_EQ((*reader)->Size(), 12u);
  char buf[16] = {};
  auto got = (*reader)->Read(7, 16, buf);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(std::string(buf, *got), "world");
}

TEST(EnvTest, ErrorsNameThePathAndMapErrno) {
  ScopedTempDir dir;
  PosixEnv env;
  const std::string missing = dir.path() + "/no_such_dir/a.txt";
  EXPECT_THAT(WriteFileAtomically(env, missing, "x"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(missing)));
  EXPECT_THAT(env.NewRandomAccessFile(missing),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(missing)));
  EXPECT_THAT(env.DeleteFile(missing),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unlink")));
  std::ofstream(dir.path() + "/file") << "x";
  EXPECT_THAT(env.CreateDirectories(dir.path() + "/file/sub"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("file/sub")));
  // A file renamed over a non-empty directory: EISDIR.
  const std::string occupied = dir.path() + "/occupied";
  ASSERT_THAT(env.CreateDirectories(occupied + "/inner"), IsOk());
  EXPECT_THAT(WriteFileAtomically(env, occupied, "x"),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr(occupied), HasSubstr("rename"))));
  EXPECT_THAT(Entries(env, dir.path()), ElementsAre("file", "occupied"));

  EXPECT_EQ(ErrnoStatus("p", "write", ENOSPC).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoStatus("p", "write", EIO).code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ErrnoStatus("p", "open", EACCES).code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus("p", "rename", ENOTEMPTY).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(ErrnoStatus("p", "write", ENOSPC).message()),
              StartsWith("p: write: "));
}

TEST(EnvTest, DirectoriesAndTemporaries) {
  ScopedTempDir dir;
  PosixEnv env;
  const std::string nested = dir.path() + "/a/b/c";
  ASSERT_THAT(env.CreateDirectories(nested), IsOk());
  ASSERT_THAT(env.CreateDirectories(nested), IsOk());  // Exists: fine.
  ASSERT_THAT(env.SyncDirectory(nested), IsOk());
  auto temp_dir = env.NewTempDirectory(nested + "/.t-");
  ASSERT_THAT(temp_dir, IsOk());
  EXPECT_THAT(*temp_dir, StartsWith(nested + "/.t-"));
  EXPECT_EQ(Mode(*temp_dir), 0755u);
  std::string temp_file;
  auto file = env.NewTempFile(*temp_dir + "/f.", &temp_file);
  ASSERT_THAT(file, IsOk());
  EXPECT_THAT(temp_file, StartsWith(*temp_dir + "/f."));
  EXPECT_EQ(Mode(temp_file), 0644u);
  std::string second;
  ASSERT_THAT(env.NewTempFile(*temp_dir + "/f.", &second), IsOk());
  EXPECT_NE(second, temp_file);
  EXPECT_TRUE(env.FileExists(temp_file));
  ASSERT_THAT(env.RemoveRecursively(dir.path() + "/a"), IsOk());
  EXPECT_FALSE(env.FileExists(nested));
  ASSERT_THAT(env.RemoveRecursively(dir.path() + "/a"), IsOk());  // Absent.
  EXPECT_EQ(ParentDirectory("x"), ".");
  EXPECT_EQ(ParentDirectory("/x"), "/");
  EXPECT_EQ(ParentDirectory("a/b/c"), "a/b");
}

TEST(EnvTest, ExchangePathsSwapsOrSaysUnimplemented) {
  ScopedTempDir dir;
  PosixEnv env;
  const std::string a = dir.path() + "/a";
  const std::string b = dir.path() + "/b";
  std::ofstream(a) << "A";
  std::ofstream(b) << "B";
  const absl::Status s = env.ExchangePaths(a, b);
  if (s.code() == absl::StatusCode::kUnimplemented) {
    GTEST_SKIP() << "this file system has no RENAME_EXCHANGE";
  }
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(ReadFileOrDie(a), "B");
  EXPECT_EQ(ReadFileOrDie(b), "A");
  EXPECT_THAT(env.ExchangePaths(a, dir.path() + "/none"),
              StatusIs(absl::StatusCode::kNotFound));
}

// A full disk in the middle of the write (after half the data landed, as
// ENOSPC does) leaves the old file whole and no temporary behind.
TEST(EnvTest, EnospcMidWriteLeavesNoHalfWrittenFile) {
  ScopedTempDir dir;
  FaultInjectionEnv env;
  const std::string path = dir.path() + "/state.json";
  ASSERT_THAT(WriteFileAtomically(env, path, "old\n"), IsOk());
  EXPECT_EQ(env.appends, 1);
  env.fail_append_at = 2;
  env.short_write = true;
  const std::string big(1 << 20, 'x');
  EXPECT_THAT(WriteFileAtomically(env, path, big),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       AllOf(HasSubstr(path), HasSubstr("No space left"))));
  EXPECT_EQ(ReadFileOrDie(path), "old\n");
  EXPECT_THAT(Entries(env, dir.path()), ElementsAre("state.json"));

  // A disk that stays full: no new file appears at all.
  env.disk_full = true;
  const std::string fresh = dir.path() + "/fresh";
  EXPECT_THAT(WriteFileAtomically(env, fresh, "x"),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_FALSE(env.FileExists(fresh));
  EXPECT_THAT(Entries(env, dir.path()), ElementsAre("state.json"));
  env.disk_full = false;
  EXPECT_THAT(WriteFileAtomically(env, fresh, "x"), IsOk());
  EXPECT_EQ(ReadFileOrDie(fresh), "x");
}

// A failed fsync or rename leaves the old file; a failed directory fsync
// (after the rename) is reported, the new file being in place.
TEST(EnvTest, FailedSyncOrRenameKeepsTheOldFile) {
  for (int which = 0; which < 3; ++which) {
    SCOPED_TRACE(which);
    ScopedTempDir dir;
    FaultInjectionEnv env;
    const std::string path = dir.path() + "/f";
    ASSERT_THAT(WriteFileAtomically(env, path, "old"), IsOk());
    env.fail_sync = which == 0;
    env.fail_rename = which == 1;
    env.fail_sync_directory = which == 2;
    const absl::Status s = WriteFileAtomically(env, path, "new");
    EXPECT_THAT(s, StatusIs(which == 1 ? absl::StatusCode::kInternal
                                       : absl::StatusCode::kDataLoss,
                            HasSubstr("injected")));
    EXPECT_EQ(ReadFileOrDie(path), which == 2 ? "new" : "old");
    EXPECT_THAT(Entries(env, dir.path()), ElementsAre("f"));
  }
}

TEST(EnvTest, DefaultIsOnePosixEnv) {
  EXPECT_EQ(Env::Default(), Env::Default());
  EXPECT_NE(dynamic_cast<PosixEnv*>(Env::Default()), nullptr);
  ScopedTempDir dir;
  EXPECT_THAT(Entries(*Env::Default(), dir.path()), IsEmpty());
}

}  // namespace
}  // namespace fnprobe
