#include "server/inference/tokenizer/post_processor.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_util.h"

namespace fnprobe {
namespace {

using nlohmann::json;

// A single-sequence template: runs of special-token ids around sequence A.
// Both TemplateProcessing and the Roberta/Bert processors reduce to one.
class Template final : public PostProcessor {
 public:
  Template(std::vector<int64_t> before, std::vector<int64_t> after)
      : before_(std::move(before)), after_(std::move(after)) {}

  void Process(std::vector<int64_t>* ids) const override {
    ids->insert(ids->begin(), before_.begin(), before_.end());
    ids->insert(ids->end(), after_.begin(), after_.end());
  }
  std::vector<int64_t> InsertedIds() const override {
    std::vector<int64_t> ids = before_;
    ids.insert(ids.end(), after_.begin(), after_.end());
    return ids;
  }

 private:
  std::vector<int64_t> before_;
  std::vector<int64_t> after_;
};

class NoOp final : public PostProcessor {
 public:
  void Process(std::vector<int64_t>*) const override {}
  std::vector<int64_t> InsertedIds() const override { return {}; }
};

class Sequence final : public PostProcessor {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PostProcessor>> parts)
      : parts_(std::move(parts)) {}
  void Process(std::vector<int64_t>* ids) const override {
    for (const auto& part : parts_) part->Process(ids);
  }
  std::vector<int64_t> InsertedIds() const override {
    std::vector<int64_t> ids;
    for (const auto& part : parts_) {
      const std::vector<int64_t> more = part->InsertedIds();
      ids.insert(ids.end(), more.begin(), more.end());
    }
    return ids;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

// The ids of special token `name` from the template's "special_tokens".
absl::StatusOr<std::vector<int64_t>> SpecialIds(const json& spec,
                                                const std::string& name,
                                                const JsonPath& at) {
  const JsonPath entry_at = at.Field("special_tokens").Field(name);
  auto tokens = spec.find("special_tokens");
  if (tokens == spec.end() || !tokens->is_object() || !tokens->contains(name)) {
    return entry_at.Error("missing (used by the template)");
  }
  FNPROBE_ASSIGN_OR_RETURN(const json* ids,
                           GetArray((*tokens)[name], "ids", entry_at));
  std::vector<int64_t> out;
  for (size_t i = 0; i < ids->size(); ++i) {
    if (!(*ids)[i].is_number_integer()) {
      return entry_at.Field("ids").Index(i).Error("must be an integer");
    }
    out.push_back((*ids)[i].get<int64_t>());
  }
  return out;
}

absl::StatusOr<std::unique_ptr<PostProcessor>> MakeTemplate(
    const json& spec, const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(const json* single, GetArray(spec, "single", at));
  std::vector<int64_t> before;
  std::vector<int64_t> after;
  bool seen_sequence = false;
  for (size_t i = 0; i < single->size(); ++i) {
    const JsonPath piece_at = at.Field("single").Index(i);
    const json& piece = (*single)[i];
    if (piece.is_object() && piece.contains("Sequence")) {
      seen_sequence = true;
      continue;
    }
    if (!piece.is_object() || !piece.contains("SpecialToken")) {
      return piece_at.Error(
          "must be {\"SpecialToken\": ...} or "
          "{\"Sequence\": ...}");
    }
    FNPROBE_ASSIGN_OR_RETURN(
        std::string name,
        GetString(piece["SpecialToken"], "id", piece_at.Field("SpecialToken")));
    FNPROBE_ASSIGN_OR_RETURN(std::vector<int64_t> ids,
                             SpecialIds(spec, name, at));
    std::vector<int64_t>& dest = seen_sequence ? after : before;
    dest.insert(dest.end(), ids.begin(), ids.end());
  }
  return std::make_unique<Template>(std::move(before), std::move(after));
}

// The id of a ["token", id] pair (RobertaProcessing / BertProcessing).
absl::StatusOr<int64_t> PairId(const json& spec, const char* key,
                               const JsonPath& at) {
  auto it = spec.find(key);
  if (it == spec.end() || !it->is_array() || it->size() != 2 ||
      !(*it)[1].is_number_integer()) {
    return at.Field(key).Error("must be a pair [\"token\", id]");
  }
  return (*it)[1].get<int64_t>();
}

absl::StatusOr<std::unique_ptr<PostProcessor>> MakeClsSep(const json& spec,
                                                          const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(int64_t cls, PairId(spec, "cls", at));
  FNPROBE_ASSIGN_OR_RETURN(int64_t sep, PairId(spec, "sep", at));
  return std::make_unique<Template>(std::vector<int64_t>{cls},
                                    std::vector<int64_t>{sep});
}

absl::StatusOr<std::unique_ptr<PostProcessor>> MakeSequence(
    const json& spec, const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(const json* list, GetArray(spec, "processors", at));
  std::vector<std::unique_ptr<PostProcessor>> parts;
  for (size_t i = 0; i < list->size(); ++i) {
    FNPROBE_ASSIGN_OR_RETURN(
        std::unique_ptr<PostProcessor> part,
        PostProcessor::FromJson((*list)[i], at.Field("processors").Index(i)));
    parts.push_back(std::move(part));
  }
  return std::make_unique<Sequence>(std::move(parts));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PostProcessor>> PostProcessor::FromJson(
    const json& spec, const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(std::string type,
                           GetComponentType(spec, "post_processor", at));
  if (type == "ByteLevel") return std::make_unique<NoOp>();
  if (type == "TemplateProcessing") return MakeTemplate(spec, at);
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    return MakeClsSep(spec, at);
  }
  if (type == "Sequence") return MakeSequence(spec, at);
  return UnsupportedType("post_processor", type, at);
}

}  // namespace fnprobe
