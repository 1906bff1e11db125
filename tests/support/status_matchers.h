// GoogleTest matchers for absl::Status and absl::StatusOr, standing in for
// absl/status/status_matchers.h, which Debian's Abseil lacks.
//
//   EXPECT_THAT(reader.status(), IsOk());
//   EXPECT_THAT(Open(path), StatusIs(absl::StatusCode::kInvalidArgument,
//                                    HasSubstr("truncated")));
//
// There is deliberately no "is not OK" matcher: assert the specific error.
#ifndef FNPROBE_TESTS_SUPPORT_STATUS_MATCHERS_H_
#define FNPROBE_TESTS_SUPPORT_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace fnprobe::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s.ToString();
  return s.ok();
}

MATCHER_P(StatusIs, code, "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code) +
               " and a matching message") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code &&
         ::testing::ExplainMatchResult(
             message_matcher, std::string(s.message()), result_listener);
}

}  // namespace fnprobe::testing

// Asserts that `expr` (Status or StatusOr) is OK, printing the error if not.
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::fnprobe::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::fnprobe::testing::IsOk())

// ASSERT_OK_AND_ASSIGN(lhs, expr): asserts that the StatusOr `expr` is OK
// and moves its value into `lhs` (a declaration or an lvalue).
#define FNPROBE_TEST_CONCAT_INNER(a, b) a##b
#define FNPROBE_TEST_CONCAT(a, b) FNPROBE_TEST_CONCAT_INNER(a, b)
#define FNPROBE_ASSERT_OK_AND_ASSIGN_IMPL(var, lhs, expr) \
  auto var = (expr);                                      \
  ASSERT_TRUE(var.ok()) << var.status();                  \
  lhs = std::move(*var)
#define ASSERT_OK_AND_ASSIGN(lhs, expr)                                        \
  FNPROBE_ASSERT_OK_AND_ASSIGN_IMPL(FNPROBE_TEST_CONCAT(status_or_, __LINE__), \
                                    lhs, expr)

#endif  // FNPROBE_TESTS_SUPPORT_STATUS_MATCHERS_H_
