#include "common/layout.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/portable_hash.h"

namespace fnprobe {

Layout::Layout(std::vector<HookSpec> hooks) : hooks_(std::move(hooks)) {
  uint64_t h = Fnv1a64("fnprobe.layout.v1\n");
  offsets_.reserve(hooks_.size());
  for (const HookSpec& hook : hooks_) {
    offsets_.push_back(width_);
    width_ += hook.width;
    h = Fnv1a64(absl::StrCat(hook.name, "\t", hook.width, "\n"), h);
  }
  hash_ = h;
}

absl::StatusOr<Layout> Layout::Create(std::vector<HookSpec> hooks) {
  absl::flat_hash_set<std::string> seen;
  for (const HookSpec& hook : hooks) {
    if (hook.name.empty()) {
      return absl::InvalidArgumentError("layout: empty hook point name");
    }
    if (hook.width <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "layout: hook point '", hook.name, "' has width ", hook.width));
    }
    if (!seen.insert(hook.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("layout: hook point '", hook.name, "' listed twice"));
    }
  }
  return Layout(std::move(hooks));
}

std::optional<size_t> Layout::IndexOf(absl::string_view name) const {
  for (size_t i = 0; i < hooks_.size(); ++i) {
    if (hooks_[i].name == name) return i;
  }
  return std::nullopt;
}

std::string Layout::HashHex() const { return absl::StrFormat("%016x", hash_); }

absl::StatusOr<size_t> Layout::HookOf(int64_t unit) const {
  if (unit < 0 || unit >= width_) {
    return absl::OutOfRangeError(absl::StrCat(
        "unit ", unit, " outside the layout's ", width_, " units"));
  }
  // offsets_ is sorted; find the last offset <= unit.
  auto it = std::upper_bound(offsets_.begin(), offsets_.end(), unit);
  return static_cast<size_t>(it - offsets_.begin()) - 1;
}

absl::StatusOr<std::string> Layout::UnitName(int64_t unit) const {
  absl::StatusOr<size_t> i = HookOf(unit);
  if (!i.ok()) return i.status();
  return absl::StrCat(hooks_[*i].name, "[", unit - offsets_[*i], "]");
}

absl::StatusOr<int64_t> Layout::ParseUnit(absl::string_view text) const {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("unit '", text, "': ", why));
  };
  size_t open = text.rfind('[');
  if (open == absl::string_view::npos || text.empty() || text.back() != ']') {
    return bad("expected <hook point>[<index>], e.g. blocks.7.mlp_post[1203]");
  }
  absl::string_view hook = text.substr(0, open);
  absl::string_view digits = text.substr(open + 1, text.size() - open - 2);
  int64_t index = 0;
  if (!absl::SimpleAtoi(digits, &index) || index < 0) {
    return bad("index is not a non-negative integer");
  }
  std::optional<size_t> i = IndexOf(hook);
  if (!i.has_value()) return bad("no such hook point in this layout");
  if (index >= hooks_[*i].width) {
    return bad(
        absl::StrCat("index out of range (width ", hooks_[*i].width, ")"));
  }
  return offsets_[*i] + index;
}

}  // namespace fnprobe
