// Resolves hook selectors (names, globs, presets) against the hook points a
// model offers.
//
// A selector is a list of items; each item may itself be a comma-separated
// list. An item is a preset, an exact hook point name, or a glob in which
// '*' matches any run of characters (including '.') and '?' one character.
// Presets:
//   residual  blocks.*.resid_post
//   neurons   blocks.*.mlp_post
//   standard  blocks.*.{attn_out, mlp_post, mlp_out, resid_post}
//   all       every hook point the model offers
#ifndef FNPROBE_COMMON_HOOK_SELECTOR_H_
#define FNPROBE_COMMON_HOOK_SELECTOR_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace fnprobe {

// True if `name` matches `pattern` ('*' any run, '?' any one character).
bool GlobMatch(absl::string_view pattern, absl::string_view name);

// The hook points of `available` that `selectors` pick, in the order of
// `available`, each once. INVALID_ARGUMENT naming the item when an item
// matches nothing, or when the selector is empty.
absl::StatusOr<std::vector<std::string>> ResolveHookSelector(
    absl::Span<const std::string> selectors,
    absl::Span<const std::string> available);

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_HOOK_SELECTOR_H_
