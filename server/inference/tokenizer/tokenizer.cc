#include "server/inference/tokenizer/tokenizer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"
#include "server/inference/tokenizer/added_vocabulary.h"
#include "server/inference/tokenizer/bpe_model.h"
#include "server/inference/tokenizer/json_fields.h"
#include "server/inference/tokenizer/normalizer.h"
#include "server/inference/tokenizer/post_processor.h"
#include "server/inference/tokenizer/pre_tokenizer.h"
#include "server/inference/tokenizer/token_decoder.h"
#include "server/inference/tokenizer/utf8.h"

namespace fnprobe {
namespace {

using nlohmann::json;

// A tokenizer.json pipeline: added tokens, normalizer, pre-tokenizer, BPE
// model, post-processor and decoder, each optional except the model.
class HfTokenizer final : public Tokenizer {
 public:
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(const json& root,
                                                         const JsonPath& at);

  absl::StatusOr<std::vector<int64_t>> Encode(
      absl::string_view text, bool add_special_tokens) const override;
  std::string Decode(absl::Span<const int64_t> ids,
                     bool skip_special_tokens) const override;
  int64_t vocab_size() const override {
    return std::max(model_->max_id(), added_->max_id()) + 1;
  }
  std::optional<int64_t> TokenToId(absl::string_view token) const override;
  std::optional<std::string> IdToToken(int64_t id) const override;
  std::vector<int64_t> SpecialTokenIds() const override {
    return added_->SpecialIds();
  }

 private:
  HfTokenizer() = default;
  absl::Status LoadComponents(const json& root, const JsonPath& at);
  // Appends the ids of a text segment between added tokens.
  void EncodeSegment(const AddedVocabulary::Segment& segment,
                     std::vector<int64_t>* ids) const;
  // The token string of `id` for decoding; nullptr if unknown.
  const std::string* TokenOf(int64_t id) const;

  // Constant after construction; every pointer but model_ and added_ may be
  // null (component absent).
  std::unique_ptr<AddedVocabulary> added_;
  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<TokenDecoder> decoder_;
};

// The member `key` of `root` unless absent or null.
const json* Component(const json& root, const char* key) {
  auto it = root.find(key);
  return it == root.end() || it->is_null() ? nullptr : &*it;
}

// Builds an optional component with T::FromJson into `out`.
template <typename T>
absl::Status LoadOptional(const json& root, const char* key, const JsonPath& at,
                          std::unique_ptr<T>* out) {
  const json* spec = Component(root, key);
  if (spec == nullptr) return absl::OkStatus();
  FNPROBE_ASSIGN_OR_RETURN(*out, T::FromJson(*spec, at.Field(key)));
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<BpeModel>> LoadModel(const json& root,
                                                    const JsonPath& at) {
  const json* spec = Component(root, "model");
  const JsonPath model_at = at.Field("model");
  if (spec == nullptr) return model_at.Error("missing");
  if (!spec->is_object()) return model_at.Error("must be an object");
  FNPROBE_ASSIGN_OR_RETURN(std::string type,
                           GetString(*spec, "type", model_at, "BPE"));
  if (type != "BPE") return UnsupportedType("model", type, model_at);
  return BpeModel::FromJson(*spec, model_at);
}

absl::Status HfTokenizer::LoadComponents(const json& root, const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(model_, LoadModel(root, at));
  FNPROBE_ASSIGN_OR_RETURN(
      added_, AddedVocabulary::FromJson(Component(root, "added_tokens"),
                                        at.Field("added_tokens")));
  FNPROBE_RETURN_IF_ERROR(LoadOptional(root, "normalizer", at, &normalizer_));
  FNPROBE_RETURN_IF_ERROR(
      LoadOptional(root, "pre_tokenizer", at, &pre_tokenizer_));
  FNPROBE_RETURN_IF_ERROR(
      LoadOptional(root, "post_processor", at, &post_processor_));
  FNPROBE_RETURN_IF_ERROR(LoadOptional(root, "decoder", at, &decoder_));
  // The post-processor's special-token ids are numbers in the JSON, not
  // looked up: one outside the vocabulary would make Encode give an id the
  // model has no embedding for, failing every prompt instead of the load.
  if (post_processor_ != nullptr) {
    for (int64_t id : post_processor_->InsertedIds()) {
      if (id < 0 || id >= vocab_size()) {
        return at.Field("post_processor")
            .Error(absl::StrCat("special token id ", id,
                                " is outside the vocabulary [0, ", vocab_size(),
                                ")"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Tokenizer>> HfTokenizer::Load(
    const json& root, const JsonPath& at) {
  if (!root.is_object()) return at.Error("top level must be a JSON object");
  std::unique_ptr<HfTokenizer> tokenizer(new HfTokenizer());
  FNPROBE_RETURN_IF_ERROR(tokenizer->LoadComponents(root, at));
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

void HfTokenizer::EncodeSegment(const AddedVocabulary::Segment& segment,
                                std::vector<int64_t>* ids) const {
  std::string text = segment.text;
  if (normalizer_ != nullptr) normalizer_->Normalize(&text);
  std::vector<AddedVocabulary::Segment> parts;
  added_->Split(text, segment.at_start, /*normalized=*/true, &parts);
  for (const AddedVocabulary::Segment& part : parts) {
    if (part.id.has_value()) {
      ids->push_back(*part.id);
      continue;
    }
    std::vector<TextPiece> pieces = {{part.text, part.at_start}};
    if (pre_tokenizer_ != nullptr) pre_tokenizer_->PreTokenize(&pieces);
    for (const TextPiece& piece : pieces) model_->Tokenize(piece.text, ids);
  }
}

absl::StatusOr<std::vector<int64_t>> HfTokenizer::Encode(
    absl::string_view text, bool add_special_tokens) const {
  if (std::optional<size_t> bad = utf8::FindInvalid(text)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "text to encode is not valid UTF-8 at byte offset ", *bad));
  }
  std::vector<AddedVocabulary::Segment> segments;
  added_->Split(text, /*at_start=*/true, /*normalized=*/false, &segments);
  std::vector<int64_t> ids;
  for (const AddedVocabulary::Segment& segment : segments) {
    if (segment.id.has_value()) {
      ids.push_back(*segment.id);
    } else {
      EncodeSegment(segment, &ids);
    }
  }
  if (add_special_tokens && post_processor_ != nullptr) {
    post_processor_->Process(&ids);
  }
  return ids;
}

const std::string* HfTokenizer::TokenOf(int64_t id) const {
  if (const AddedToken* added = added_->Find(id)) return &added->content;
  return model_->IdToToken(id);
}

std::string HfTokenizer::Decode(absl::Span<const int64_t> ids,
                                bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int64_t id : ids) {
    const std::string* token = TokenOf(id);
    if (token == nullptr) continue;
    if (skip_special_tokens && added_->IsSpecialContent(*token)) continue;
    tokens.push_back(*token);
  }
  if (decoder_ == nullptr) return absl::StrJoin(tokens, " ");
  decoder_->DecodeChain(&tokens);
  return absl::StrJoin(tokens, "");
}

std::optional<int64_t> HfTokenizer::TokenToId(absl::string_view token) const {
  if (std::optional<int64_t> id = added_->TokenToId(token)) return id;
  return model_->TokenToId(token);
}

std::optional<std::string> HfTokenizer::IdToToken(int64_t id) const {
  const std::string* token = TokenOf(id);
  if (token == nullptr) return std::nullopt;
  return *token;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) {
    return absl::DataLossError(absl::StrCat(path, ": read failed"));
  }
  return FromJson(contents.str(), path);
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(
    absl::string_view text, absl::string_view source) {
  const JsonPath at(source, "");
  json root;
  try {
    root = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {
    return at.Error(absl::StrCat("not valid JSON: ", e.what()));
  }
  return HfTokenizer::Load(root, at);
}

}  // namespace fnprobe
