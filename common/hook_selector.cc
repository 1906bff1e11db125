#include "common/hook_selector.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace fnprobe {
namespace {

// Glob patterns each preset expands to.
std::vector<std::string> PresetPatterns(absl::string_view item) {
  if (item == "residual") return {"blocks.*.resid_post"};
  if (item == "neurons") return {"blocks.*.mlp_post"};
  if (item == "standard") {
    return {"blocks.*.attn_out", "blocks.*.mlp_post", "blocks.*.mlp_out",
            "blocks.*.resid_post"};
  }
  if (item == "all") return {"*"};
  return {std::string(item)};
}

}  // namespace

bool GlobMatch(absl::string_view pattern, absl::string_view name) {
  // Iterative matcher with single-star backtracking: linear in practice.
  size_t p = 0, n = 0, star = absl::string_view::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == name[n])) {
      ++p;
      ++n;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (star != absl::string_view::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

absl::StatusOr<std::vector<std::string>> ResolveHookSelector(
    absl::Span<const std::string> selectors,
    absl::Span<const std::string> available) {
  std::vector<bool> picked(available.size(), false);
  bool any_item = false;
  for (const std::string& selector : selectors) {
    for (absl::string_view raw : absl::StrSplit(selector, ',')) {
      absl::string_view item = absl::StripAsciiWhitespace(raw);
      if (item.empty()) continue;
      any_item = true;
      bool matched = false;
      for (const std::string& pattern : PresetPatterns(item)) {
        for (size_t i = 0; i < available.size(); ++i) {
          if (GlobMatch(pattern, available[i])) picked[i] = matched = true;
        }
      }
      if (!matched) {
        return absl::InvalidArgumentError(absl::StrCat(
            "hook selector '", item,
            "' matches no hook point of this model (presets: residual, "
            "neurons, standard, all; e.g. blocks.*.mlp_post, "
            "blocks.3.attn_out)"));
      }
    }
  }
  if (!any_item) {
    return absl::InvalidArgumentError("hook selector is empty");
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < available.size(); ++i) {
    if (picked[i]) out.push_back(available[i]);
  }
  return out;
}

}  // namespace fnprobe
