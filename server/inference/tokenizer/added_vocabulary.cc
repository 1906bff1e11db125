#include "server/inference/tokenizer/added_vocabulary.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_util.h"
#include "server/inference/tokenizer/utf8.h"

namespace fnprobe {

using nlohmann::json;

AddedVocabulary::AddedVocabulary()
    : space_char_(RegexPattern::CompileBuiltin(R"(\s)")),
      word_char_(RegexPattern::CompileBuiltin(R"(\w)")) {}

absl::StatusOr<std::unique_ptr<AddedVocabulary>> AddedVocabulary::FromJson(
    const json* list, const JsonPath& at) {
  std::unique_ptr<AddedVocabulary> vocab(new AddedVocabulary());
  if (list != nullptr && !list->is_null()) {
    if (!list->is_array()) return at.Error("must be an array");
    for (size_t i = 0; i < list->size(); ++i) {
      FNPROBE_RETURN_IF_ERROR(vocab->Add((*list)[i], at.Index(i)));
    }
  }
  vocab->BuildMatchers();
  return vocab;
}

absl::Status AddedVocabulary::Add(const json& entry, const JsonPath& at) {
  if (!entry.is_object()) return at.Error("must be an object");
  AddedToken t;
  FNPROBE_ASSIGN_OR_RETURN(t.id, GetInt(entry, "id", at));
  if (t.id < 0) return at.Field("id").Error("must be non-negative");
  FNPROBE_ASSIGN_OR_RETURN(t.content, GetString(entry, "content", at));
  FNPROBE_ASSIGN_OR_RETURN(t.single_word,
                           GetBool(entry, "single_word", at, false));
  FNPROBE_ASSIGN_OR_RETURN(t.lstrip, GetBool(entry, "lstrip", at, false));
  FNPROBE_ASSIGN_OR_RETURN(t.rstrip, GetBool(entry, "rstrip", at, false));
  FNPROBE_ASSIGN_OR_RETURN(t.special, GetBool(entry, "special", at, false));
  FNPROBE_ASSIGN_OR_RETURN(t.normalized,
                           GetBool(entry, "normalized", at, !t.special));
  if (t.content.empty()) return absl::OkStatus();  // HF ignores these
  if (t.special) special_contents_.insert(t.content);
  by_content_[t.content] = t.id;
  by_id_[t.id] = tokens_.size();
  max_id_ = std::max(max_id_, t.id);
  tokens_.push_back(std::move(t));
  return absl::OkStatus();
}

void AddedVocabulary::BuildMatchers() {
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    if (by_content_[t.content] != t.id) continue;  // shadowed duplicate
    Matcher& m = t.normalized ? normalized_matcher_ : raw_matcher_;
    m.by_first_byte[static_cast<uint8_t>(t.content[0])].push_back(i);
  }
  for (Matcher* m : {&raw_matcher_, &normalized_matcher_}) {
    for (std::vector<size_t>& list : m->by_first_byte) {
      std::stable_sort(list.begin(), list.end(), [&](size_t a, size_t b) {
        return tokens_[a].content.size() > tokens_[b].content.size();
      });
    }
  }
}

int64_t AddedVocabulary::LongestAt(const Matcher& matcher,
                                   absl::string_view text, size_t pos) const {
  const absl::string_view rest = text.substr(pos);
  for (size_t i : matcher.by_first_byte[static_cast<uint8_t>(text[pos])]) {
    if (absl::StartsWith(rest, tokens_[i].content)) {
      return static_cast<int64_t>(i);
    }
  }
  return -1;
}

bool AddedVocabulary::IsSingleWord(absl::string_view text, size_t begin,
                                   size_t end) const {
  if (begin > 0 &&
      word_char_->MatchAt(text, utf8::PreviousCharStart(text, begin)) > 0) {
    return false;
  }
  return end == text.size() || word_char_->MatchAt(text, end) <= 0;
}

size_t AddedVocabulary::StartOfTrailingSpace(absl::string_view text,
                                             size_t end) const {
  while (end > 0) {
    const size_t start = utf8::PreviousCharStart(text, end);
    if (space_char_->MatchAt(text, start) <= 0) break;
    end = start;
  }
  return end;
}

size_t AddedVocabulary::EndOfLeadingSpace(absl::string_view text,
                                          size_t begin) const {
  while (begin < text.size()) {
    const int n = space_char_->MatchAt(text, begin);
    if (n <= 0) break;
    begin += static_cast<size_t>(n);
  }
  return begin;
}

void AddedVocabulary::Split(absl::string_view text, bool at_start,
                            bool normalized, std::vector<Segment>* out) const {
  const Matcher& matcher = normalized ? normalized_matcher_ : raw_matcher_;
  auto emit_text = [&](size_t begin, size_t end) {
    if (begin < end) {
      out->push_back({std::string(text.substr(begin, end - begin)),
                      std::nullopt, at_start && begin == 0});
    }
  };
  size_t emitted = 0;  // end of the last emitted part
  size_t pos = 0;
  while (pos < text.size()) {
    const int64_t index = LongestAt(matcher, text, pos);
    if (index < 0) {
      pos += utf8::CharLength(text, pos);
      continue;
    }
    const AddedToken& t = tokens_[static_cast<size_t>(index)];
    size_t begin = pos;
    size_t end = pos + t.content.size();
    pos = end;
    if (t.single_word && !IsSingleWord(text, begin, end)) continue;
    if (t.lstrip) begin = std::max(StartOfTrailingSpace(text, begin), emitted);
    if (t.rstrip) end = EndOfLeadingSpace(text, end);
    emit_text(emitted, begin);
    out->push_back({std::string(text.substr(begin, end - begin)), t.id,
                    at_start && begin == 0});
    emitted = end;
    pos = end;
  }
  emit_text(emitted, text.size());
}

const AddedToken* AddedVocabulary::Find(int64_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int64_t> AddedVocabulary::TokenToId(
    absl::string_view content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

bool AddedVocabulary::IsSpecialContent(absl::string_view content) const {
  return special_contents_.contains(content);
}

std::vector<int64_t> AddedVocabulary::SpecialIds() const {
  std::vector<int64_t> ids;
  for (const AddedToken& t : tokens_) {
    if (t.special && by_content_.at(t.content) == t.id) ids.push_back(t.id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

}  // namespace fnprobe
