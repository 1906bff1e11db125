#include "common/layout_proto.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;

Layout TwoHooks() {
  return Layout({{"blocks.0.mlp_post", 256}, {"blocks.0.resid_post", 64}});
}

v1::HookPoint* AddHook(v1::Layout* proto, const std::string& name,
                       int64_t width) {
  v1::HookPoint* hook = proto->add_hooks();
  hook->set_name(name);
  hook->set_width(width);
  return hook;
}

// A layout survives the trip through the message, and through its
// serialized bytes; the message carries the stable hash and total width.
TEST(LayoutProtoTest, RoundTrip) {
  const Layout layout = TwoHooks();
  const v1::Layout proto = LayoutToProto(layout);
  ASSERT_EQ(proto.hooks_size(), 2);
  EXPECT_EQ(proto.hooks(0).name(), "blocks.0.mlp_post");
  EXPECT_EQ(proto.hooks(0).width(), 256);
  EXPECT_EQ(proto.hooks(1).name(), "blocks.0.resid_post");
  EXPECT_EQ(proto.hooks(1).width(), 64);
  EXPECT_EQ(proto.width(), 320);
  EXPECT_EQ(proto.hash(), 0x5492cc666b5e65afULL);  // As in layout_test.

  v1::Layout parsed;
  ASSERT_TRUE(parsed.ParseFromString(proto.SerializeAsString()));
  absl::StatusOr<Layout> back = LayoutFromProto(parsed);
  ASSERT_OK(back);
  EXPECT_EQ(*back, layout);
  EXPECT_EQ(back->hash(), layout.hash());
  EXPECT_EQ(back->width(), 320);
}

// The empty layout (frames carry token ids only) round trips too, whether
// it was default-constructed (hash 0) or built from an empty list.
TEST(LayoutProtoTest, EmptyLayoutRoundTrips) {
  for (const Layout& empty : {Layout(), Layout(std::vector<HookSpec>{})}) {
    const v1::Layout proto = LayoutToProto(empty);
    EXPECT_EQ(proto.hooks_size(), 0);
    EXPECT_EQ(proto.width(), 0);
    absl::StatusOr<Layout> back = LayoutFromProto(proto);
    ASSERT_OK(back);
    EXPECT_TRUE(back->empty());
  }
  // An empty layout with some other hash is still a mismatch.
  v1::Layout wrong;
  wrong.set_hash(12345);
  EXPECT_THAT(LayoutFromProto(wrong),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

// LayoutToProto into an existing message replaces its contents.
TEST(LayoutProtoTest, ToProtoClearsTarget) {
  v1::Layout proto;
  AddHook(&proto, "stale", 3);
  proto.set_width(3);
  LayoutToProto(TwoHooks(), &proto);
  EXPECT_EQ(proto.hooks_size(), 2);
  EXPECT_EQ(proto.hooks(0).name(), "blocks.0.mlp_post");
}

// A hash that is not fnprobe's hash of the hook points means the sender
// hashes differently: FAILED_PRECONDITION, naming both hashes.
TEST(LayoutProtoTest, HashMismatchIsFailedPrecondition) {
  v1::Layout proto = LayoutToProto(TwoHooks());
  proto.set_hash(proto.hash() ^ 1);
  EXPECT_THAT(LayoutFromProto(proto),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("5492cc666b5e65ae")));
  EXPECT_THAT(LayoutFromProto(proto),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("5492cc666b5e65af")));
}

// The width field must be the sum of the hook widths.
TEST(LayoutProtoTest, WidthMismatchRefused) {
  v1::Layout proto = LayoutToProto(TwoHooks());
  proto.set_width(321);
  EXPECT_THAT(LayoutFromProto(proto),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layout.width is 321 but the hook point "
                                 "widths sum to 320")));
}

// Hook points are validated as Layout::Create does.
TEST(LayoutProtoTest, BadHookPointsRefused) {
  v1::Layout duplicate;
  AddHook(&duplicate, "embed", 4);
  AddHook(&duplicate, "embed", 4);
  EXPECT_THAT(
      LayoutFromProto(duplicate),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("listed twice")));

  v1::Layout zero_width;
  AddHook(&zero_width, "embed", 0);
  EXPECT_THAT(
      LayoutFromProto(zero_width),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("width 0")));

  v1::Layout negative_width;
  AddHook(&negative_width, "embed", -5);
  EXPECT_THAT(
      LayoutFromProto(negative_width),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("width -5")));

  v1::Layout unnamed;
  AddHook(&unnamed, "", 4);
  EXPECT_THAT(LayoutFromProto(unnamed),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("empty hook point name")));
}

// Widths whose sum overflows int64 are refused, not wrapped.
TEST(LayoutProtoTest, OverflowingWidthsRefused) {
  v1::Layout proto;
  AddHook(&proto, "a", std::numeric_limits<int64_t>::max());
  AddHook(&proto, "b", 1);
  EXPECT_THAT(LayoutFromProto(proto),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("layout.hooks[1] ('b')")));
}

}  // namespace
}  // namespace fnprobe
