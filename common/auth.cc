#include "common/auth.h"

#include <iterator>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/file_util.h"

namespace fnprobe {
namespace {

constexpr absl::string_view kBearerPrefix = "Bearer ";

// True if a == b, in time that depends on b's length only, not on the bytes
// of either. `b` is the stored secret.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // A length difference makes the result non-zero. Then b.size() bytes are
  // compared whatever they hold, reading a cyclically so that the index stays
  // in range without branching on the data.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t a_size = a.size();
  for (size_t i = 0; i < b.size(); ++i) {
    const unsigned char ai =
        a_size == 0 ? 0 : static_cast<unsigned char>(a[i % a_size]);
    diff |= static_cast<unsigned char>(ai ^ static_cast<unsigned char>(b[i]));
  }
  // Keeps the compiler from turning the loop into an early-exit compare.
  volatile unsigned char result = diff;
  return result == 0;
}

bool IsPrintableToken(absl::string_view token) {
  for (char c : token) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

std::string ToString(grpc::string_ref ref) {
  return std::string(ref.data(), ref.size());
}

}  // namespace

absl::StatusOr<TokenTable> TokenTable::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view text,
                                             absl::string_view source) {
  TokenTable table;
  // Token -> line it was first seen on, to report duplicates.
  absl::flat_hash_map<std::string, int> first_line;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    const absl::string_view stripped = absl::StripAsciiWhitespace(line);
    if (stripped.empty() || stripped[0] == '#') continue;
    const std::vector<absl::string_view> fields = absl::StrSplit(
        stripped, absl::ByAnyChar(" \t\r\v\f"), absl::SkipEmpty());
    const std::string where = absl::StrCat(source, ":", line_number, ": ");
    if (fields.size() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "token without a user (expected 'TOKEN USER')"));
    }
    if (fields.size() > 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "expected 'TOKEN USER', found ", fields.size(), " fields"));
    }
    const absl::string_view token = fields[0];
    const absl::string_view user = fields[1];
    if (token.size() < kMinTokenLength) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "token for user '", user, "' is ", token.size(),
                       " characters; at least ", kMinTokenLength,
                       " are required so that it cannot be guessed"));
    }
    if (!IsPrintableToken(token)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "token for user '", user,
          "' has non-ASCII or control characters (tokens travel in HTTP/2 "
          "metadata, which allows printable ASCII only)"));
    }
    auto [it, inserted] = first_line.emplace(std::string(token), line_number);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "duplicate token (user '", user,
                       "'): the same token is on line ", it->second));
    }
    table.entries_.push_back(Entry{std::string(token), std::string(user)});
  }
  if (table.entries_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source,
                     ": no tokens (expected 'TOKEN USER' lines); nobody could "
                     "authenticate"));
  }
  return table;
}

std::optional<std::string> TokenTable::Lookup(absl::string_view token) const {
  // Visit every entry whatever matches, so the time does not say which entry
  // (or whether any) matched.
  const Entry* match = nullptr;
  for (const Entry& entry : entries_) {
    if (ConstantTimeEquals(token, entry.token)) match = &entry;
  }
  if (match == nullptr) return std::nullopt;
  return match->user;
}

Authenticator::Authenticator(std::optional<TokenTable> tokens)
    : tokens_(std::move(tokens)) {}

absl::StatusOr<std::string> Authenticator::Authenticate(
    const grpc::ServerContextBase& context) const {
  if (!enabled()) return std::string(kAnonymousUser);
  return AuthenticateMetadata(context.client_metadata());
}

absl::StatusOr<std::string> Authenticator::AuthenticateMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const {
  if (!enabled()) return std::string(kAnonymousUser);
  const auto [begin, end] = metadata.equal_range(kMetadataKey);
  if (begin == end) {
    return absl::UnauthenticatedError(
        "missing bearer token (send 'authorization: Bearer <token>')");
  }
  if (std::next(begin) != end) {
    return absl::UnauthenticatedError(
        "'authorization' metadata sent more than once");
  }
  const std::string value = ToString(begin->second);
  // The scheme is case-insensitive (RFC 7235).
  if (value.size() < kBearerPrefix.size() ||
      !absl::EqualsIgnoreCase(
          absl::string_view(value).substr(0, kBearerPrefix.size()),
          kBearerPrefix)) {
    return absl::UnauthenticatedError(
        "'authorization' metadata is not a bearer token (send "
        "'authorization: Bearer <token>')");
  }
  const absl::string_view token = absl::StripAsciiWhitespace(
      absl::string_view(value).substr(kBearerPrefix.size()));
  if (token.empty()) {
    return absl::UnauthenticatedError(
        "empty bearer token (send 'authorization: Bearer <token>')");
  }
  std::optional<std::string> user = tokens_->Lookup(token);
  if (!user.has_value()) {
    return absl::UnauthenticatedError("unknown bearer token");
  }
  return *std::move(user);
}

void AddBearerToken(grpc::ClientContext* context, const std::string& token) {
  if (token.empty()) return;
  context->AddMetadata(Authenticator::kMetadataKey,
                       absl::StrCat(kBearerPrefix, token));
}

}  // namespace fnprobe
