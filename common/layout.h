// A Layout is the ordered list of (hook point, width) that a capture or an
// activation stream carries; a *unit* is one index into the concatenation of
// those hook points. Networks store unit indices together with the layout's
// hash, so a layout must hash identically on every machine and build.
//
// Thread-safe: immutable after construction.
#ifndef FNPROBE_COMMON_LAYOUT_H_
#define FNPROBE_COMMON_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe {

// One hook point of a layout: its name (e.g. "blocks.7.mlp_post") and how
// many values it contributes per time point.
struct HookSpec {
  std::string name;
  int64_t width = 0;

  bool operator==(const HookSpec& o) const {
    return name == o.name && width == o.width;
  }
};

class Layout {
 public:
  Layout() = default;
  // REQUIRES: names unique, widths positive (use Create to check).
  explicit Layout(std::vector<HookSpec> hooks);

  // INVALID_ARGUMENT for an empty or duplicate name or a width <= 0.
  static absl::StatusOr<Layout> Create(std::vector<HookSpec> hooks);

  const std::vector<HookSpec>& hooks() const { return hooks_; }
  size_t size() const { return hooks_.size(); }
  bool empty() const { return hooks_.empty(); }

  // Total number of units (sum of widths).
  int64_t width() const { return width_; }

  // First unit of hook i. REQUIRES: i < size().
  int64_t offset(size_t i) const { return offsets_[i]; }

  // Index of the hook point named `name`, if present.
  std::optional<size_t> IndexOf(absl::string_view name) const;

  // Stable 64-bit FNV-1a hash of the names and widths, in order. Two layouts
  // hash equal iff they list the same hook points with the same widths in the
  // same order (up to hash collisions).
  uint64_t hash() const { return hash_; }
  // hash() as 16 lowercase hex digits.
  std::string HashHex() const;

  // The index of the hook point holding `unit` (its offset is the last one
  // <= unit). OUT_OF_RANGE if unit is not in [0, width()).
  absl::StatusOr<size_t> HookOf(int64_t unit) const;
  // "blocks.7.mlp_post[1203]" for a unit index. OUT_OF_RANGE if unit is not
  // in [0, width()).
  absl::StatusOr<std::string> UnitName(int64_t unit) const;
  // Inverse of UnitName. INVALID_ARGUMENT naming the text if it is not of the
  // form "<hook>[<index>]", the hook is absent or the index out of range.
  absl::StatusOr<int64_t> ParseUnit(absl::string_view text) const;

  bool operator==(const Layout& o) const { return hooks_ == o.hooks_; }

 private:
  std::vector<HookSpec> hooks_;
  std::vector<int64_t> offsets_;
  int64_t width_ = 0;
  uint64_t hash_ = 0;
};

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_LAYOUT_H_
