#include "common/layout.h"

#include "common/hook_selector.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

Layout TwoHooks() {
  return Layout({{"blocks.0.mlp_post", 256}, {"blocks.0.resid_post", 64}});
}

// Unit indices run through the hook points in order.
TEST(LayoutTest, OffsetsAndUnitNames) {
  Layout layout = TwoHooks();
  EXPECT_EQ(layout.width(), 320);
  EXPECT_EQ(layout.offset(1), 256);
  EXPECT_EQ(*layout.UnitName(0), "blocks.0.mlp_post[0]");
  EXPECT_EQ(*layout.UnitName(255), "blocks.0.mlp_post[255]");
  EXPECT_EQ(*layout.UnitName(256), "blocks.0.resid_post[0]");
  EXPECT_EQ(*layout.ParseUnit("blocks.0.resid_post[63]"), 319);
  EXPECT_THAT(layout.UnitName(320), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_EQ(*layout.HookOf(0), 0u);
  EXPECT_EQ(*layout.HookOf(255), 0u);
  EXPECT_EQ(*layout.HookOf(256), 1u);
  EXPECT_EQ(*layout.HookOf(319), 1u);
  EXPECT_THAT(layout.HookOf(320), StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_THAT(layout.HookOf(-1), StatusIs(absl::StatusCode::kOutOfRange));
}

// Malformed unit names are refused with the reason.
TEST(LayoutTest, ParseUnitErrors) {
  Layout layout = TwoHooks();
  EXPECT_THAT(
      layout.ParseUnit("blocks.0.resid_post[64]"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("out of range")));
  EXPECT_THAT(layout.ParseUnit("blocks.9.mlp_post[1]"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("no such hook point")));
  EXPECT_THAT(layout.ParseUnit("blocks.0.mlp_post"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(layout.ParseUnit("blocks.0.mlp_post[-1]"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// The hash is a fixed function of names and widths: it must never change
// between builds, because stored networks refer to it.
TEST(LayoutTest, HashIsStableAndOrderSensitive) {
  Layout a = TwoHooks();
  EXPECT_EQ(a.hash(), TwoHooks().hash());
  EXPECT_EQ(a.HashHex().size(), 16u);
  EXPECT_EQ(a.HashHex(), "5492cc666b5e65af");
  Layout swapped({{"blocks.0.resid_post", 64}, {"blocks.0.mlp_post", 256}});
  EXPECT_NE(a.hash(), swapped.hash());
  Layout wider({{"blocks.0.mlp_post", 257}, {"blocks.0.resid_post", 64}});
  EXPECT_NE(a.hash(), wider.hash());
}

TEST(LayoutTest, CreateRejectsDuplicatesAndBadWidths) {
  EXPECT_THAT(
      Layout::Create({{"embed", 4}, {"embed", 4}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("listed twice")));
  EXPECT_THAT(
      Layout::Create({{"embed", 0}}),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("width 0")));
}

TEST(GlobMatchTest, StarsAndQuestionMarks) {
  EXPECT_TRUE(GlobMatch("blocks.*.mlp_post", "blocks.11.mlp_post"));
  EXPECT_FALSE(GlobMatch("blocks.*.mlp_post", "blocks.11.mlp_pre"));
  EXPECT_TRUE(GlobMatch("blocks.?.attn.*", "blocks.3.attn.q"));
  EXPECT_FALSE(GlobMatch("blocks.?.attn.*", "blocks.10.attn.q"));
  EXPECT_TRUE(GlobMatch("*", "final_norm"));
  EXPECT_TRUE(GlobMatch("*norm", "final_norm"));
}

const std::vector<std::string>& Available() {
  static const auto* v = new std::vector<std::string>{"embed",
                                                      "blocks.0.attn_out",
                                                      "blocks.0.mlp_post",
                                                      "blocks.0.mlp_out",
                                                      "blocks.0.resid_post",
                                                      "blocks.1.attn_out",
                                                      "blocks.1.mlp_post",
                                                      "blocks.1.mlp_out",
                                                      "blocks.1.resid_post",
                                                      "final_norm"};
  return *v;
}

// Presets expand to their documented hook points, in model order.
TEST(HookSelectorTest, Presets) {
  EXPECT_THAT(*ResolveHookSelector({"residual"}, Available()),
              ElementsAre("blocks.0.resid_post", "blocks.1.resid_post"));
  EXPECT_THAT(*ResolveHookSelector({"neurons"}, Available()),
              ElementsAre("blocks.0.mlp_post", "blocks.1.mlp_post"));
  EXPECT_EQ(ResolveHookSelector({"standard"}, Available())->size(), 8u);
  EXPECT_EQ(*ResolveHookSelector({"all"}, Available()), Available());
}

// Items combine, comma lists split, and duplicates collapse.
TEST(HookSelectorTest, CombinesItemsInModelOrder) {
  EXPECT_THAT(
      *ResolveHookSelector({"final_norm, blocks.1.mlp_post", "neurons"},
                           Available()),
      ElementsAre("blocks.0.mlp_post", "blocks.1.mlp_post", "final_norm"));
}

TEST(HookSelectorTest, UnknownItemNamed) {
  EXPECT_THAT(ResolveHookSelector({"blocks.*.mlp_pre"}, Available()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("'blocks.*.mlp_pre'")));
  EXPECT_THAT(ResolveHookSelector({" , "}, Available()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
}

}  // namespace
}  // namespace fnprobe
