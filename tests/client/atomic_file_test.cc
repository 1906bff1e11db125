#include "client/atomic_file.h"

#include <filesystem>
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

// A write replaces the whole file and leaves no temporary file.
TEST(AtomicFileTest, ReplacesTheFileWhole) {
  ScopedTempDir dir;
  const std::string path = dir.path() + "/a.csv";
  ASSERT_THAT(WriteFileAtomically(path, "old contents that are longer\n"),
              IsOk());
  ASSERT_THAT(WriteFileAtomically(path, "new\n"), IsOk());
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "new\n");
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path())) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

// Failures name the path; CreateDirectories makes missing parents.
TEST(AtomicFileTest, ErrorsNameThePath) {
  ScopedTempDir dir;
  EXPECT_THAT(WriteFileAtomically(dir.path() + "/missing/a.csv", "x"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing")));
  ASSERT_THAT(CreateDirectories(dir.path() + "/x/y/z"), IsOk());
  EXPECT_THAT(WriteFileAtomically(dir.path() + "/x/y/z/a", "x"), IsOk());
  std::ofstream(dir.path() + "/file") << "x";
  EXPECT_THAT(CreateDirectories(dir.path() + "/file/sub"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("file/sub")));
}

}  // namespace
}  // namespace fnprobe::client
