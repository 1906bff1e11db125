#include "server/inference/tools/offline_capture.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/safetensors_writer.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"
#include "server/inference/model/hook_points.h"
#include "server/inference/model/torch_engine.h"

namespace fnprobe {
namespace {

using Json = nlohmann::json;

absl::StatusOr<std::string> ReadPromptsFile(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("prompts file '", path, "': ", ec.message()));
  }
  if (size > static_cast<uintmax_t>(kMaxPromptsFileBytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("prompts file '", path, "' is ", size,
                     " bytes; the limit is ", kMaxPromptsFileBytes));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<Prompt> ParseIdPrompt(const Json& item, const std::string& where,
                                     int64_t vocab_size) {
  Prompt ids;
  for (const Json& id : item) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() >= vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", id.dump(), " is not a token id in [0, ",
                       vocab_size, ")"));
    }
    ids.push_back(id.get<int64_t>());
  }
  return ids;
}

// hidden_states.K copies: embed, blocks.{K-1}.resid_post, final_norm (K=L).
std::vector<std::string> HiddenStateSources(const ModelConfig& c) {
  std::vector<std::string> sources = {"embed"};
  for (int64_t k = 1; k < c.num_layers; ++k) {
    sources.push_back(absl::StrCat("blocks.", k - 1, ".resid_post"));
  }
  sources.push_back("final_norm");
  return sources;
}

// Columns of hook `i` from row-major [rows, layout width] values.
std::vector<float> HookColumns(const Layout& layout, size_t i,
                               absl::Span<const float> values, int64_t rows) {
  const int64_t width = layout.width(), w = layout.hooks()[i].width;
  std::vector<float> out;
  out.reserve(static_cast<size_t>(rows * w));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = values.data() + r * width + layout.offset(i);
    out.insert(out.end(), row, row + w);
  }
  return out;
}

// Accumulates the output tensors and writes them.
class CaptureFile {
 public:
  CaptureFile(const ModelConfig& config, const Layout& layout)
      : config_(config), layout_(layout) {}

  absl::Status AddPrefill(int64_t k, const Prompt& ids,
                          const PromptActivations& a) {
    const std::string p = absl::StrCat("p", k, ".");
    const int64_t t = a.length;
    FNPROBE_RETURN_IF_ERROR(writer_.AddInt64(p + "input_ids", {t}, ids));
    for (size_t i = 0; i < layout_.size(); ++i) {
      FNPROBE_RETURN_IF_ERROR(AddHook(p, i, a.values, t));
    }
    return writer_.AddFloat32(p + "logits", {t, config_.vocab_size}, a.logits);
  }

  void AddToken(const GeneratedToken& g) {
    Generated& gen = generated_[g.prompt];
    gen.ids.push_back(g.token);
    gen.values.insert(gen.values.end(), g.values.begin(), g.values.end());
    std::vector<int64_t> order(g.logits.size());
    for (size_t i = 0; i < order.size(); ++i)
      order[i] = static_cast<int64_t>(i);
    const size_t top = std::min<size_t>(5, order.size());
    std::partial_sort(
        order.begin(), order.begin() + top, order.end(),
        [&](int64_t a, int64_t b) {
          return g.logits[a] != g.logits[b] ? g.logits[a] > g.logits[b] : a < b;
        });
    for (size_t i = 0; i < top; ++i) {
      gen.top5_ids.push_back(order[i]);
      gen.top5_values.push_back(g.logits[order[i]]);
    }
  }

  absl::Status FlushGenerated() {
    for (auto& [k, gen] : generated_) {
      const std::string p = absl::StrCat("p", k, ".gen.");
      const int64_t n = static_cast<int64_t>(gen.ids.size());
      FNPROBE_RETURN_IF_ERROR(writer_.AddInt64(p + "ids", {n}, gen.ids));
      for (size_t i = 0; i < layout_.size(); ++i) {
        FNPROBE_RETURN_IF_ERROR(AddHook(p, i, gen.values, n));
      }
      const int64_t top = n == 0 ? 0 : gen.top5_ids.size() / n;
      FNPROBE_RETURN_IF_ERROR(writer_.AddFloat32(p + "logits_top5.values",
                                                 {n, top}, gen.top5_values));
      FNPROBE_RETURN_IF_ERROR(
          writer_.AddInt64(p + "logits_top5.ids", {n, top}, gen.top5_ids));
    }
    generated_.clear();
    return absl::OkStatus();
  }

  absl::Status Write(const std::string& path) {
    writer_.SetMetadata("format", "pt");
    writer_.SetMetadata("producer", "fnprobe-capture");
    writer_.SetMetadata("layout_hash", layout_.HashHex());
    return writer_.WriteFile(path);
  }

 private:
  struct Generated {
    std::vector<int64_t> ids;
    std::vector<float> values;
    std::vector<int64_t> top5_ids;
    std::vector<float> top5_values;
  };

  // Writes hook i (and any hidden_states.K that copies it).
  absl::Status AddHook(const std::string& prefix, size_t i,
                       absl::Span<const float> values, int64_t rows) {
    const HookSpec& hook = layout_.hooks()[i];
    std::vector<float> cols = HookColumns(layout_, i, values, rows);
    const std::vector<std::string> sources = HiddenStateSources(config_);
    for (size_t k = 0; k < sources.size(); ++k) {
      if (sources[k] != hook.name) continue;
      FNPROBE_RETURN_IF_ERROR(writer_.AddFloat32(
          absl::StrCat(prefix, "hidden_states.", k), {rows, hook.width}, cols));
    }
    return writer_.AddFloat32(prefix + hook.name, {rows, hook.width}, cols);
  }

  const ModelConfig& config_;
  const Layout& layout_;
  SafetensorsWriter writer_;
  std::map<int64_t, Generated> generated_;
};

}  // namespace

absl::StatusOr<std::vector<Prompt>> ParsePrompts(absl::string_view json,
                                                 absl::string_view source,
                                                 const Tokenizer& tokenizer,
                                                 int64_t vocab_size) {
  Json root = Json::parse(json.begin(), json.end(), nullptr, false);
  if (root.is_discarded() || !root.is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source,
                     ": expected a JSON array of prompt strings or token-id "
                     "arrays"));
  }
  if (root.empty() || static_cast<int64_t>(root.size()) > kMaxPrompts) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, ": has ", root.size(), " prompts; expected 1 to ",
                     kMaxPrompts));
  }
  std::vector<Prompt> prompts;
  for (size_t k = 0; k < root.size(); ++k) {
    const Json& item = root[k];
    const std::string where = absl::StrCat(source, ": prompt ", k);
    Prompt ids;
    if (item.is_string()) {
      FNPROBE_ASSIGN_OR_RETURN(ids, tokenizer.Encode(item.get<std::string>()));
    } else if (item.is_array()) {
      FNPROBE_ASSIGN_OR_RETURN(ids, ParseIdPrompt(item, where, vocab_size));
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat(where,
                       ": expected a string or an array of token ids, "
                       "got ",
                       item.type_name()));
    }
    if (ids.empty()) {
      return absl::InvalidArgumentError(where + ": has no tokens");
    }
    prompts.push_back(std::move(ids));
  }
  return prompts;
}

absl::Status RunOfflineCapture(const OfflineCaptureOptions& options,
                               std::ostream* progress) {
  if (options.generate < 0) {
    return absl::InvalidArgumentError("--generate must be >= 0");
  }
  if (options.batch_size <= 0) {
    return absl::InvalidArgumentError("--batch must be positive");
  }
  FNPROBE_ASSIGN_OR_RETURN(std::string text,
                           ReadPromptsFile(options.prompts_path));
  FNPROBE_ASSIGN_OR_RETURN(auto model,
                           Model::Load(options.model_dir, options.model));
  const ModelConfig& config = model->config();
  FNPROBE_ASSIGN_OR_RETURN(std::vector<Prompt> prompts,
                           ParsePrompts(text, options.prompts_path,
                                        model->tokenizer(), config.vocab_size));
  FNPROBE_ASSIGN_OR_RETURN(Layout layout, SelectLayout(config, options.hooks));
  auto engine = NewTorchEngine(model);
  CaptureFile file(config, layout);
  if (progress) {
    *progress << "fnprobe-capture: " << prompts.size() << " prompts, "
              << layout.size() << " hook points, " << layout.width()
              << " values per token, on " << model->device() << "\n";
  }
  for (size_t first = 0; first < prompts.size(); first += options.batch_size) {
    const size_t last = std::min(
        prompts.size(), first + static_cast<size_t>(options.batch_size));
    std::vector<Prompt> batch(prompts.begin() + first, prompts.begin() + last);
    FNPROBE_RETURN_IF_ERROR(
        ForwardBatch(*engine, batch, layout, [&](const PromptActivations& a) {
          return file.AddPrefill(first + a.prompt, batch[a.prompt], a);
        }));
    if (options.generate > 0) {
      GenerationOptions gen;
      gen.max_new_tokens = options.generate;
      FNPROBE_RETURN_IF_ERROR(GenerateBatch(
          *engine, batch, layout, gen, [&](const GeneratedToken& t) {
            GeneratedToken shifted = t;
            shifted.prompt = static_cast<int64_t>(first) + t.prompt;
            file.AddToken(shifted);
            return absl::OkStatus();
          }));
      FNPROBE_RETURN_IF_ERROR(file.FlushGenerated());
    }
    if (progress) {
      *progress << "  " << last << "/" << prompts.size() << " prompts\n";
    }
  }
  FNPROBE_RETURN_IF_ERROR(file.Write(options.out_path));
  if (progress) *progress << "wrote " << options.out_path << "\n";
  return absl::OkStatus();
}

}  // namespace fnprobe
