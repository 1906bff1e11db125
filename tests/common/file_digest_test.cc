#include "common/file_digest.h"

#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::ScopedTempDir;
using ::fnprobe::testing::StatusIs;

// FIPS 180-2 test vectors.
TEST(FileDigestTest, Sha256OfKnownTexts) {
  EXPECT_EQ(Sha256Text("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff6"
            "1f20015ad");
  EXPECT_EQ(Sha256Text(""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991"
            "b7852b855");
}

TEST(FileDigestTest, FilesHashAsTheirConcatenation) {
  ScopedTempDir dir;
  const std::string a = dir.path() + "/a", b = dir.path() + "/b";
  // Larger than one 1 MiB read, so the pieces are joined too.
  const std::string big(3 << 20 | 17, 'x');
  std::ofstream(a, std::ios::binary) << big;
  std::ofstream(b, std::ios::binary) << "tail";
  auto digest = Sha256OfFiles({a, b});
  ASSERT_OK(digest);
  EXPECT_EQ(*digest, Sha256Text(big + "tail"));
  auto swapped = Sha256OfFiles({b, a});
  ASSERT_OK(swapped);
  EXPECT_NE(*swapped, *digest);
  EXPECT_THAT(Sha256OfFiles({a, dir.path() + "/missing"}),
              StatusIs(absl::StatusCode::kNotFound));
}

}  // namespace
}  // namespace fnprobe
