#include "common/grpc_status.h"

#include "gtest/gtest.h"

namespace fnprobe {
namespace {

// Every canonical code maps to the same number, keeping the message.
TEST(GrpcStatusTest, EveryCodeRoundTrips) {
  for (int code = 1; code <= 16; ++code) {
    const absl::Status status(static_cast<absl::StatusCode>(code),
                              "layout.width: too large");
    const grpc::Status grpc_status = ToGrpcStatus(status);
    EXPECT_EQ(static_cast<int>(grpc_status.error_code()), code);
    EXPECT_EQ(grpc_status.error_message(), "layout.width: too large");
    EXPECT_EQ(ToAbslStatus(grpc_status), status);
  }
}

TEST(GrpcStatusTest, NamedCodesAgree) {
  EXPECT_EQ(ToGrpcStatus(absl::UnauthenticatedError("x")).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(ToGrpcStatus(absl::FailedPreconditionError("x")).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(
      ToAbslStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down")).code(),
      absl::StatusCode::kUnavailable);
}

TEST(GrpcStatusTest, OkStaysOk) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_TRUE(ToAbslStatus(grpc::Status::OK).ok());
}

// Codes outside the canonical range (possible as raw ints) become UNKNOWN.
TEST(GrpcStatusTest, NonCanonicalCodeBecomesUnknown) {
  const absl::Status odd(static_cast<absl::StatusCode>(42), "odd");
  EXPECT_EQ(ToGrpcStatus(odd).error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(ToGrpcStatus(odd).error_message(), "odd");
  const grpc::Status grpc_odd(static_cast<grpc::StatusCode>(42), "odd");
  EXPECT_EQ(ToAbslStatus(grpc_odd), absl::UnknownError("odd"));
}

}  // namespace
}  // namespace fnprobe
