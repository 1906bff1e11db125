#include "server/inference/tokenizer/regex_pattern.h"

#include <oniguruma.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>  // NOLINT(build/c++11): std::call_once

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/inference/tokenizer/utf8.h"

namespace fnprobe {
namespace {

void InitializeOniguruma() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding encodings[] = {ONIG_ENCODING_UTF8};
    onig_initialize(encodings, 1);
  });
}

const OnigUChar* Bytes(absl::string_view s) {
  return reinterpret_cast<const OnigUChar*>(s.data());
}

struct RegionDeleter {
  void operator()(OnigRegion* region) const { onig_region_free(region, 1); }
};

bool NeedsEscape(unsigned char c) {
  if (c >= 0x80) return false;
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
      (c >= 'A' && c <= 'Z') || c == '_') {
    return false;
  }
  return true;
}

}  // namespace

struct RegexPattern::Rep {
  OnigRegex regex = nullptr;
  ~Rep() {
    if (regex != nullptr) onig_free(regex);
  }
};

RegexPattern::RegexPattern(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
RegexPattern::~RegexPattern() = default;

absl::StatusOr<std::unique_ptr<RegexPattern>> RegexPattern::Compile(
    absl::string_view pattern) {
  InitializeOniguruma();
  auto rep = std::make_unique<Rep>();
  OnigErrorInfo info;
  const int rc =
      onig_new(&rep->regex, Bytes(pattern), Bytes(pattern) + pattern.size(),
               ONIG_OPTION_NONE, ONIG_ENCODING_UTF8, ONIG_SYNTAX_RUBY, &info);
  if (rc != ONIG_NORMAL) {
    rep->regex = nullptr;
    OnigUChar message[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(message, rc, &info);
    return absl::InvalidArgumentError(
        absl::StrCat("bad regex \"", pattern,
                     "\": ", reinterpret_cast<const char*>(message)));
  }
  return std::unique_ptr<RegexPattern>(new RegexPattern(std::move(rep)));
}

std::unique_ptr<RegexPattern> RegexPattern::CompileBuiltin(
    const char* pattern) {
  absl::StatusOr<std::unique_ptr<RegexPattern>> re = Compile(pattern);
  if (!re.ok()) {
    std::fprintf(stderr, "FATAL: built-in regex: %s\n",
                 std::string(re.status().message()).c_str());
    std::abort();
  }
  return *std::move(re);
}

absl::StatusOr<std::unique_ptr<RegexPattern>> RegexPattern::Literal(
    absl::string_view literal) {
  std::string escaped;
  for (char c : literal) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b == 0x7F) {
      absl::StrAppendFormat(&escaped, "\\x%02X", b);
    } else {
      if (NeedsEscape(b)) escaped.push_back('\\');
      escaped.push_back(c);
    }
  }
  return Compile(escaped);
}

std::vector<RegexPattern::Span> RegexPattern::FindMatches(
    absl::string_view text) const {
  if (text.empty()) return {{0, 0, false}};
  std::unique_ptr<OnigRegion, RegionDeleter> region(onig_region_new());
  const OnigUChar* begin = Bytes(text);
  const OnigUChar* end = begin + text.size();
  std::vector<Span> spans;
  size_t prev = 0;       // end of the last reported match
  size_t search_at = 0;  // where the next search starts
  bool have_match = false;
  while (search_at <= text.size()) {
    onig_region_clear(region.get());
    const int at = onig_search(rep_->regex, begin, end, begin + search_at, end,
                               region.get(), ONIG_OPTION_NONE);
    if (at < 0) break;
    const size_t s = static_cast<size_t>(region->beg[0]);
    const size_t e = static_cast<size_t>(region->end[0]);
    if (s == e && have_match && s == prev) {
      if (search_at >= text.size()) break;
      search_at += utf8::CharLength(text, search_at);
      continue;
    }
    if (prev != s) spans.push_back({prev, s, false});
    spans.push_back({s, e, true});
    prev = e;
    search_at = e;
    have_match = true;
  }
  if (prev != text.size()) spans.push_back({prev, text.size(), false});
  return spans;
}

int RegexPattern::MatchAt(absl::string_view text, size_t pos) const {
  const OnigUChar* begin = Bytes(text);
  const int n = onig_match(rep_->regex, begin, begin + text.size(), begin + pos,
                           nullptr, ONIG_OPTION_NONE);
  return n < 0 ? -1 : n;
}

}  // namespace fnprobe
