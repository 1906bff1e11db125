#include "server/inference/tokenizer/bpe_model.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <queue>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/status_util.h"
#include "server/inference/tokenizer/utf8.h"

namespace fnprobe {
namespace {

using nlohmann::json;

uint64_t PairKey(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
         static_cast<uint32_t>(right);
}

// The two parts of merge entry `entry` ("a b" or ["a", "b"]).
absl::StatusOr<std::pair<std::string, std::string>> MergeParts(
    const json& entry, const JsonPath& at) {
  if (entry.is_string()) {
    const std::vector<std::string> parts =
        absl::StrSplit(entry.get_ref<const std::string&>(), ' ');
    if (parts.size() != 2) {
      return at.Error("must be two tokens separated by one space");
    }
    return std::make_pair(parts[0], parts[1]);
  }
  if (entry.is_array() && entry.size() == 2 && entry[0].is_string() &&
      entry[1].is_string()) {
    return std::make_pair(entry[0].get<std::string>(),
                          entry[1].get<std::string>());
  }
  return at.Error("must be a string \"a b\" or a pair [\"a\", \"b\"]");
}

}  // namespace

// The symbols of one word while merges are applied: a doubly linked list over
// a vector, merged in rank order as HF's Word::merge_all does.
class BpeModel::Word {
 public:
  void Add(int32_t id) {
    const int32_t n = static_cast<int32_t>(symbols_.size());
    symbols_.push_back({id, n - 1, n + 1, true});
  }

  void MergeAll(const BpeModel& model);

  void AppendIds(std::vector<int64_t>* ids) const {
    for (const Symbol& s : symbols_) {
      if (s.alive) ids->push_back(s.id);
    }
  }

 private:
  struct Symbol {
    int32_t id;
    int32_t prev;
    int32_t next;
    bool alive;
  };
  struct Candidate {
    int32_t rank;
    int32_t pos;
    int32_t new_id;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : pos > o.pos;
    }
  };
  using Queue = std::priority_queue<Candidate, std::vector<Candidate>,
                                    std::greater<Candidate>>;

  void PushPair(const BpeModel& model, int32_t pos, Queue* queue) const {
    if (pos < 0) return;
    const int32_t next = symbols_[pos].next;
    if (next >= static_cast<int32_t>(symbols_.size())) return;
    const Merge* m = model.FindMerge(symbols_[pos].id, symbols_[next].id);
    if (m != nullptr) queue->push({m->rank, pos, m->new_id});
  }

  std::vector<Symbol> symbols_;
};

void BpeModel::Word::MergeAll(const BpeModel& model) {
  if (symbols_.size() < 2) return;
  Queue queue;
  for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols_.size()); ++i) {
    PushPair(model, i, &queue);
  }
  const int32_t size = static_cast<int32_t>(symbols_.size());
  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    Symbol& left = symbols_[top.pos];
    if (!left.alive || left.next >= size) continue;
    Symbol& right = symbols_[left.next];
    const Merge* m = model.FindMerge(left.id, right.id);
    if (m == nullptr || m->new_id != top.new_id) continue;  // stale entry
    left.id = top.new_id;
    right.alive = false;
    left.next = right.next;
    if (left.next < size) symbols_[left.next].prev = top.pos;
    if (left.prev >= 0) PushPair(model, left.prev, &queue);
    PushPair(model, top.pos, &queue);
  }
}

absl::StatusOr<std::unique_ptr<BpeModel>> BpeModel::FromJson(
    const json& spec, const JsonPath& at) {
  std::unique_ptr<BpeModel> model(new BpeModel());
  FNPROBE_RETURN_IF_ERROR(model->LoadVocab(spec, at));
  FNPROBE_RETURN_IF_ERROR(model->LoadOptions(spec, at));
  FNPROBE_RETURN_IF_ERROR(model->LoadMerges(spec, at));
  return model;
}

absl::Status BpeModel::LoadVocab(const json& spec, const JsonPath& at) {
  const JsonPath vocab_at = at.Field("vocab");
  auto it = spec.find("vocab");
  if (it == spec.end() || !it->is_object()) {
    return vocab_at.Error("must be an object {token: id}");
  }
  vocab_.reserve(it->size());
  vocab_r_.reserve(it->size());
  for (const auto& [token, id] : it->items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
        id.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      return vocab_at.Error(absl::StrCat("id of token \"", token,
                                         "\" must be a non-negative integer"));
    }
    const int32_t value = static_cast<int32_t>(id.get<int64_t>());
    vocab_[token] = value;
    vocab_r_[value] = token;
    max_id_ = std::max<int64_t>(max_id_, value);
  }
  for (int b = 0; b < 256; ++b) {
    auto found = vocab_.find(absl::StrFormat("<0x%02X>", b));
    byte_tokens_[b] = found == vocab_.end() ? -1 : found->second;
  }
  return absl::OkStatus();
}

absl::Status BpeModel::LoadOptions(const json& spec, const JsonPath& at) {
  FNPROBE_ASSIGN_OR_RETURN(options_.fuse_unk,
                           GetBool(spec, "fuse_unk", at, false));
  FNPROBE_ASSIGN_OR_RETURN(options_.byte_fallback,
                           GetBool(spec, "byte_fallback", at, false));
  FNPROBE_ASSIGN_OR_RETURN(options_.ignore_merges,
                           GetBool(spec, "ignore_merges", at, false));
  FNPROBE_ASSIGN_OR_RETURN(
      options_.prefix, GetString(spec, "continuing_subword_prefix", at, ""));
  FNPROBE_ASSIGN_OR_RETURN(options_.suffix,
                           GetString(spec, "end_of_word_suffix", at, ""));
  FNPROBE_ASSIGN_OR_RETURN(std::string unk,
                           GetString(spec, "unk_token", at, ""));
  if (!unk.empty()) {
    auto found = vocab_.find(unk);
    if (found == vocab_.end()) {
      return at.Field("unk_token")
          .Error(absl::StrCat("\"", unk, "\" is not in the vocabulary"));
    }
    options_.unk_id = found->second;
  }
  return absl::OkStatus();
}

absl::Status BpeModel::LoadMerges(const json& spec, const JsonPath& at) {
  auto it = spec.find("merges");
  if (it == spec.end() || it->is_null()) return absl::OkStatus();
  const JsonPath merges_at = at.Field("merges");
  if (!it->is_array()) return merges_at.Error("must be an array");
  merges_.reserve(it->size());
  for (size_t i = 0; i < it->size(); ++i) {
    const JsonPath entry_at = merges_at.Index(i);
    FNPROBE_ASSIGN_OR_RETURN(auto parts, MergeParts((*it)[i], entry_at));
    FNPROBE_RETURN_IF_ERROR(
        AddMerge(parts.first, parts.second, static_cast<int32_t>(i), entry_at));
  }
  return absl::OkStatus();
}

absl::Status BpeModel::AddMerge(absl::string_view a, absl::string_view b,
                                int32_t rank, const JsonPath& at) {
  auto lookup = [&](absl::string_view token) -> absl::StatusOr<int32_t> {
    auto found = vocab_.find(token);
    if (found == vocab_.end()) {
      return at.Error(
          absl::StrCat("token \"", token, "\" is not in the vocabulary"));
    }
    return found->second;
  };
  FNPROBE_ASSIGN_OR_RETURN(int32_t a_id, lookup(a));
  FNPROBE_ASSIGN_OR_RETURN(int32_t b_id, lookup(b));
  absl::string_view b_tail = b;
  if (!options_.prefix.empty() && absl::StartsWith(b_tail, options_.prefix)) {
    b_tail.remove_prefix(options_.prefix.size());
  }
  FNPROBE_ASSIGN_OR_RETURN(int32_t new_id, lookup(absl::StrCat(a, b_tail)));
  merges_[PairKey(a_id, b_id)] = {rank, new_id};
  return absl::OkStatus();
}

const BpeModel::Merge* BpeModel::FindMerge(int32_t left, int32_t right) const {
  auto it = merges_.find(PairKey(left, right));
  return it == merges_.end() ? nullptr : &it->second;
}

void BpeModel::InitialSymbols(absl::string_view word, Word* out) const {
  int32_t pending_unk = -1;  // an unk not yet added (fuse_unk may grow it)
  std::string buffer;
  for (size_t pos = 0; pos < word.size();) {
    const size_t n = utf8::CharLength(word, pos);
    buffer.clear();
    if (pos > 0) buffer += options_.prefix;
    buffer.append(word.data() + pos, n);
    pos += n;
    if (pos == word.size()) buffer += options_.suffix;

    auto found = vocab_.find(buffer);
    if (found != vocab_.end()) {
      if (pending_unk >= 0) out->Add(pending_unk);
      pending_unk = -1;
      out->Add(found->second);
      continue;
    }
    if (options_.byte_fallback && AddByteTokens(buffer, out)) continue;
    if (options_.unk_id < 0) continue;
    if (pending_unk >= 0 && !options_.fuse_unk) out->Add(pending_unk);
    pending_unk = options_.unk_id;
  }
  if (pending_unk >= 0) out->Add(pending_unk);
}

bool BpeModel::AddByteTokens(absl::string_view text, Word* out) const {
  for (char c : text) {
    if (byte_tokens_[static_cast<uint8_t>(c)] < 0) return false;
  }
  // As in HF, a pending unk is not added before these byte tokens.
  for (char c : text) out->Add(byte_tokens_[static_cast<uint8_t>(c)]);
  return true;
}

void BpeModel::Tokenize(absl::string_view word,
                        std::vector<int64_t>* ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    auto found = vocab_.find(word);
    if (found != vocab_.end()) {
      ids->push_back(found->second);
      return;
    }
  }
  Word symbols;
  InitialSymbols(word, &symbols);
  symbols.MergeAll(*this);
  symbols.AppendIds(ids);
}

std::optional<int64_t> BpeModel::TokenToId(absl::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::IdToToken(int64_t id) const {
  auto it = vocab_r_.find(id);
  return it == vocab_r_.end() ? nullptr : &it->second;
}

}  // namespace fnprobe
