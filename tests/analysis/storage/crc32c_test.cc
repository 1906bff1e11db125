#include "server/analysis/storage/crc32c.h"

#include <string>

#include "gtest/gtest.h"

namespace fnprobe {
namespace {

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(crc32c::Value(""), 0u);
  EXPECT_EQ(crc32c::Value("123456789"), 0xE3069283u);
  // RFC 3720 B.4: 32 bytes of zeros.
  EXPECT_EQ(crc32c::Value(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c::Value(std::string(32, '\xff')), 0x62A8AB43u);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 7 + 3));
  const uint32_t whole = crc32c::Value(data);
  for (size_t split : {0, 1, 7, 8, 9, 500, 999, 1000}) {
    const uint32_t a = crc32c::Value(data.data(), split);
    EXPECT_EQ(crc32c::Extend(a, data.data() + split, data.size() - split),
              whole)
        << split;
  }
}

TEST(Crc32cTest, Format) {
  EXPECT_EQ(crc32c::Format(0xE3069283u), "crc32c:e3069283");
  EXPECT_EQ(crc32c::Format(0x1u), "crc32c:00000001");
}

}  // namespace
}  // namespace fnprobe
