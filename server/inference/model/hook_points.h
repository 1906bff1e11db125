// The hook points a model offers (DESIGN.md "Names"), in canonical order,
// with their widths. One naming scheme for every family:
//
//   embed, embed_tokens, embed_positions (learned positions only),
//   blocks.{L}.ln1, blocks.{L}.attn.q|k|v, blocks.{L}.attn_out,
//   blocks.{L}.resid_mid (not with GPT-NeoX's parallel residual),
//   blocks.{L}.ln2, blocks.{L}.mlp_pre, blocks.{L}.mlp_pre_linear (Llama's
//   up projection), blocks.{L}.mlp_post, blocks.{L}.mlp_out,
//   blocks.{L}.resid_post, final_norm.
//
// `final_norm` is the vector the LM head reads (after OPT's project_out).
#ifndef FNPROBE_SERVER_INFERENCE_MODEL_HOOK_POINTS_H_
#define FNPROBE_SERVER_INFERENCE_MODEL_HOOK_POINTS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/layout.h"
#include "server/inference/model/model_config.h"

namespace fnprobe {

// What a hook point is, independent of its layer.
enum class HookKind {
  kEmbed,
  kEmbedTokens,
  kEmbedPositions,
  kLn1,
  kAttnQ,
  kAttnK,
  kAttnV,
  kAttnOut,
  kResidMid,
  kLn2,
  kMlpPre,
  kMlpPreLinear,
  kMlpPost,
  kMlpOut,
  kResidPost,
  kFinalNorm,
};
inline constexpr int kNumHookKinds = 16;

// A hook point: kind plus layer (-1 for model-level hook points).
struct HookId {
  HookKind kind;
  int layer = -1;
};

std::string HookName(HookId id);

// Parses a hook point name. INVALID_ARGUMENT naming it if it is not one.
absl::StatusOr<HookId> ParseHookName(absl::string_view name);

// Every hook point of the model, in canonical order, with widths.
std::vector<HookSpec> ModelHookPoints(const ModelConfig& config);

// Names only, in the same order.
std::vector<std::string> ModelHookNames(const ModelConfig& config);

// Resolves `selectors` (see common/hook_selector.h) against the model's hook
// points and returns the layout they select.
absl::StatusOr<Layout> SelectLayout(const ModelConfig& config,
                                    const std::vector<std::string>& selectors);

}  // namespace fnprobe

#endif  // FNPROBE_SERVER_INFERENCE_MODEL_HOOK_POINTS_H_
