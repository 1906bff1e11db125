#include "common/layout_proto.h"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace fnprobe {

void LayoutToProto(const Layout& layout, v1::Layout* proto) {
  proto->Clear();
  proto->mutable_hooks()->Reserve(static_cast<int>(layout.size()));
  for (const HookSpec& hook : layout.hooks()) {
    v1::HookPoint* point = proto->add_hooks();
    point->set_name(hook.name);
    point->set_width(hook.width);
  }
  proto->set_width(layout.width());
  proto->set_hash(layout.hash());
}

v1::Layout LayoutToProto(const Layout& layout) {
  v1::Layout proto;
  LayoutToProto(layout, &proto);
  return proto;
}

absl::StatusOr<Layout> LayoutFromProto(const v1::Layout& proto) {
  std::vector<HookSpec> hooks;
  hooks.reserve(proto.hooks_size());
  int64_t sum = 0;
  for (int i = 0; i < proto.hooks_size(); ++i) {
    const v1::HookPoint& point = proto.hooks(i);
    // Layout::Create refuses widths <= 0; refuse overflow of the sum here.
    if (point.width() > 0 &&
        point.width() > std::numeric_limits<int64_t>::max() - sum) {
      return absl::InvalidArgumentError(
          absl::StrCat("layout.hooks[", i, "] ('", point.name(), "'): width ",
                       point.width(), " makes the total width overflow int64"));
    }
    if (point.width() > 0) sum += point.width();
    hooks.push_back(HookSpec{point.name(), point.width()});
  }
  absl::StatusOr<Layout> layout = Layout::Create(std::move(hooks));
  if (!layout.ok()) return layout.status();
  if (proto.width() != layout->width()) {
    return absl::InvalidArgumentError(
        absl::StrCat("layout.width is ", proto.width(),
                     " but the hook point widths sum to ", layout->width()));
  }
  // A default-constructed Layout hashes to 0 while Layout({}) hashes the
  // empty list, so an empty layout is accepted with either hash.
  const bool empty_with_zero_hash = layout->empty() && proto.hash() == 0;
  if (proto.hash() != layout->hash() && !empty_with_zero_hash) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "layout.hash is %016x but fnprobe hashes these hook points to %s "
        "(the sender uses another layout hash?)",
        proto.hash(), layout->HashHex()));
  }
  return layout;
}

}  // namespace fnprobe
