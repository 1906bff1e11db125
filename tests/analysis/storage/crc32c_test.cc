#include "server/analysis/storage/crc32c.h"

#include <random>
#include <string>
#include <vector>

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

// The hardware CRC-32C (folding and instruction paths, picked by length)
// equals the portable one for every length up to a few folding blocks, at
// every alignment, from any starting CRC, and on large buffers.
TEST(Crc32cTest, HardwareCrcMatchesPortableCrc) {
  std::mt19937 rng(11);
  std::vector<unsigned char> data((size_t{3} << 20) + 64);
  for (unsigned char& b : data) b = static_cast<unsigned char>(rng());
  for (size_t n = 0; n <= 1100; ++n) {
    for (size_t align : {0, 1, 7, 13}) {
      const uint32_t init = n % 3 == 0 ? 0 : static_cast<uint32_t>(rng());
      ASSERT_EQ(crc32c::Extend(init, &data[align], n),
                crc32c::SoftwareExtend(init, &data[align], n))
          << "n " << n << " align " << align;
    }
  }
  for (size_t n : {size_t{4095}, size_t{65536 + 17}, size_t{1} << 20,
                   (size_t{3} << 20) + 5}) {
    ASSERT_EQ(crc32c::Extend(0x1234567u, &data[3], n),
              crc32c::SoftwareExtend(0x1234567u, &data[3], n))
        << n;
  }
  // Extend composes: the CRC of a whole equals that of its parts.
  const uint32_t whole = crc32c::Extend(0, data.data(), 100000);
  const uint32_t parts = crc32c::Extend(crc32c::Extend(0, data.data(), 33333),
                                        &data[33333], 100000 - 33333);
  EXPECT_EQ(whole, parts);
  EXPECT_EQ(crc32c::Combine(crc32c::Value(data.data(), 33333),
                            crc32c::Value(&data[33333], 100000 - 33333),
                            100000 - 33333),
            whole);
  EXPECT_EQ(crc32c::Extend(0, "123456789", 9), 0xE3069283u);
}

}  // namespace
}  // namespace fnprobe
