#include "server/inference/model/hook_points.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/hook_selector.h"
#include "common/status_util.h"

namespace fnprobe {
namespace {

struct KindName {
  HookKind kind;
  const char* suffix;
  bool per_layer;
};

constexpr KindName kKindNames[] = {
    {HookKind::kEmbed, "embed", false},
    {HookKind::kEmbedTokens, "embed_tokens", false},
    {HookKind::kEmbedPositions, "embed_positions", false},
    {HookKind::kLn1, "ln1", true},
    {HookKind::kAttnQ, "attn.q", true},
    {HookKind::kAttnK, "attn.k", true},
    {HookKind::kAttnV, "attn.v", true},
    {HookKind::kAttnOut, "attn_out", true},
    {HookKind::kResidMid, "resid_mid", true},
    {HookKind::kLn2, "ln2", true},
    {HookKind::kMlpPre, "mlp_pre", true},
    {HookKind::kMlpPreLinear, "mlp_pre_linear", true},
    {HookKind::kMlpPost, "mlp_post", true},
    {HookKind::kMlpOut, "mlp_out", true},
    {HookKind::kResidPost, "resid_post", true},
    {HookKind::kFinalNorm, "final_norm", false},
};

const KindName& Lookup(HookKind kind) {
  return kKindNames[static_cast<int>(kind)];
}

// Width of a per-layer hook kind, or 0 when the model lacks it.
int64_t LayerHookWidth(const ModelConfig& c, HookKind kind) {
  switch (kind) {
    case HookKind::kLn1:
    case HookKind::kAttnOut:
    case HookKind::kLn2:
    case HookKind::kMlpOut:
    case HookKind::kResidPost:
      return c.hidden_size;
    case HookKind::kAttnQ:
      return c.num_heads * c.head_dim;
    case HookKind::kAttnK:
    case HookKind::kAttnV:
      return c.num_kv_heads * c.head_dim;
    case HookKind::kResidMid:
      return c.family == ModelFamily::kGptNeox && c.parallel_residual
                 ? 0
                 : c.hidden_size;
    case HookKind::kMlpPre:
    case HookKind::kMlpPost:
      return c.intermediate_size;
    case HookKind::kMlpPreLinear:
      return c.family == ModelFamily::kLlama ? c.intermediate_size : 0;
    default:
      return 0;
  }
}

}  // namespace

std::string HookName(HookId id) {
  const KindName& k = Lookup(id.kind);
  if (!k.per_layer) return k.suffix;
  return absl::StrCat("blocks.", id.layer, ".", k.suffix);
}

absl::StatusOr<HookId> ParseHookName(absl::string_view name) {
  absl::string_view rest = name;
  if (absl::ConsumePrefix(&rest, "blocks.")) {
    size_t dot = rest.find('.');
    int layer = 0;
    if (dot != absl::string_view::npos &&
        absl::SimpleAtoi(rest.substr(0, dot), &layer) && layer >= 0) {
      absl::string_view suffix = rest.substr(dot + 1);
      for (const KindName& k : kKindNames) {
        if (k.per_layer && suffix == k.suffix) return HookId{k.kind, layer};
      }
    }
  } else {
    for (const KindName& k : kKindNames) {
      if (!k.per_layer && name == k.suffix) return HookId{k.kind, -1};
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("'", name, "' is not a hook point name"));
}

std::vector<HookSpec> ModelHookPoints(const ModelConfig& c) {
  std::vector<HookSpec> hooks;
  hooks.push_back({"embed", c.hidden_size});
  hooks.push_back({"embed_tokens", c.word_embed_proj_dim});
  if (c.learned_positions) hooks.push_back({"embed_positions", c.hidden_size});
  for (int layer = 0; layer < c.num_layers; ++layer) {
    for (const KindName& k : kKindNames) {
      if (!k.per_layer) continue;
      int64_t width = LayerHookWidth(c, k.kind);
      if (width > 0) hooks.push_back({HookName({k.kind, layer}), width});
    }
  }
  hooks.push_back({"final_norm", c.word_embed_proj_dim});
  return hooks;
}

std::vector<std::string> ModelHookNames(const ModelConfig& config) {
  std::vector<std::string> names;
  for (HookSpec& h : ModelHookPoints(config))
    names.push_back(std::move(h.name));
  return names;
}

absl::StatusOr<Layout> SelectLayout(const ModelConfig& config,
                                    const std::vector<std::string>& selectors) {
  std::vector<HookSpec> all = ModelHookPoints(config);
  std::vector<std::string> names;
  for (const HookSpec& h : all) names.push_back(h.name);
  FNPROBE_ASSIGN_OR_RETURN(std::vector<std::string> picked,
                           ResolveHookSelector(selectors, names));
  std::vector<HookSpec> chosen;
  size_t j = 0;
  for (const HookSpec& h : all) {
    if (j < picked.size() && picked[j] == h.name) {
      chosen.push_back(h);
      ++j;
    }
  }
  return Layout(std::move(chosen));
}

}  // namespace fnprobe
