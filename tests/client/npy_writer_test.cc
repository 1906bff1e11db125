#include "client/npy_writer.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace fnprobe::client {
namespace {

// The header is NumPy 1.0's: magic, version, length, a dict padded so the
// data starts on a 64-byte boundary; the data is little-endian float64.
TEST(NpyWriterTest, WritesVersionOneHeaderAndLittleEndianData) {
  const std::vector<double> values = {1.5, -2.0, 3.25};
  const std::string npy = EncodeNpy(values);
  ASSERT_GE(npy.size(), 10u);
  EXPECT_EQ(npy.substr(0, 6), "\x93NUMPY");
  EXPECT_EQ(npy[6], 1);
  EXPECT_EQ(npy[7], 0);
  const size_t header_len = static_cast<unsigned char>(npy[8]) |
                            (static_cast<unsigned char>(npy[9]) << 8);
  const size_t data_start = 10 + header_len;
  EXPECT_EQ(data_start % 64, 0u);
  const std::string header = npy.substr(10, header_len);
  EXPECT_EQ(header.rfind("{'descr': '<f8', 'fortran_order': False, "
                         "'shape': (3,), }",
                         0),
            0u);
  EXPECT_EQ(header.back(), '\n');
  ASSERT_EQ(npy.size(), data_start + 3 * sizeof(double));
  double second;
  std::memcpy(&second, npy.data() + data_start + 8, 8);  // host is LE
  EXPECT_EQ(second, -2.0);
}

TEST(NpyWriterTest, ShapesWithSeveralDimensions) {
  const std::string npy = EncodeNpy(std::vector<double>(6, 0.0), {2, 3});
  EXPECT_NE(npy.find("'shape': (2, 3), }"), std::string::npos);
  const std::string empty = EncodeNpy(std::vector<double>());
  EXPECT_NE(empty.find("'shape': (0,), }"), std::string::npos);
  EXPECT_EQ(empty.size() % 64, 0u);
}

}  // namespace
}  // namespace fnprobe::client
