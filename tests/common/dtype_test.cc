#include "common/dtype.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;

// The float dtypes the tools' --dtype flags accept, case-insensitively.
TEST(DTypeTest, ParsesFloatDTypeFlags) {
  ASSERT_OK(ParseFloatDTypeFlag("f32"));
  EXPECT_EQ(*ParseFloatDTypeFlag("f32"), DType::kF32);
  ASSERT_OK(ParseFloatDTypeFlag("BF16"));
  EXPECT_EQ(*ParseFloatDTypeFlag("BF16"), DType::kBF16);
  ASSERT_OK(ParseFloatDTypeFlag("f16"));
  EXPECT_EQ(*ParseFloatDTypeFlag("f16"), DType::kF16);
  EXPECT_THAT(ParseFloatDTypeFlag("int8"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("unknown dtype 'int8'")));
}

}  // namespace
}  // namespace fnprobe
