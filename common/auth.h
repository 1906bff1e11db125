// Bearer-token authentication for the gRPC servers.
//
// A token file maps secret tokens to user names, one `TOKEN USER` pair per
// line. Clients send "authorization: Bearer <token>" metadata
// (AddBearerToken); each handler calls Authenticator::Authenticate on its
// ServerContext first and finishes the RPC with the returned UNAUTHENTICATED
// status on failure. The check is explicit rather than a
// grpc::AuthMetadataProcessor because gRPC runs metadata processors only on
// secure (TLS) credentials, and the servers must also authenticate over
// insecure loopback connections.
//
// Tokens are compared in time that does not depend on the presented token's
// bytes: every stored token is compared with a constant-time comparison, so a
// lookup costs O(number of tokens) byte compares (microseconds for thousands
// of tokens, once per RPC). Error messages never contain a token.
//
// Thread-safe: TokenTable and Authenticator are immutable after
// construction; their const methods may be called concurrently.
#ifndef FNPROBE_COMMON_AUTH_H_
#define FNPROBE_COMMON_AUTH_H_

#include <grpcpp/client_context.h>
#include <grpcpp/server_context.h>
#include <grpcpp/support/string_ref.h>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace fnprobe {

// The set of accepted tokens and the user each stands for. Several tokens may
// name the same user (e.g. while rotating a token).
class TokenTable {
 public:
  // Shorter tokens are refused: a token is the only secret.
  static constexpr size_t kMinTokenLength = 16;

  // Reads a token file: one `TOKEN USER` pair per line, separated by spaces
  // or tabs; blank lines and lines starting with '#' (after optional
  // whitespace) are ignored. Tokens are printable ASCII (they travel in HTTP/2
  // metadata). NOT_FOUND if `path` does not exist; INVALID_ARGUMENT naming the
  // file and line for a line without a user or with extra fields, a token
  // shorter than kMinTokenLength or with non-printable characters, a token
  // listed twice (naming the first line), or a file with no tokens at all.
  static absl::StatusOr<TokenTable> LoadFile(const std::string& path);

  // As LoadFile, from the text of a token file; `source` names it in errors.
  static absl::StatusOr<TokenTable> Parse(absl::string_view text,
                                          absl::string_view source);

  // The user that `token` stands for, or nullopt if it is unknown. Runs in
  // time independent of the bytes of `token`.
  std::optional<std::string> Lookup(absl::string_view token) const;

  // Number of tokens.
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::string token;
    std::string user;
  };

  TokenTable() = default;

  std::vector<Entry> entries_;
};

// Decides who is calling. With a TokenTable, callers must present a known
// bearer token; without one, authentication is disabled and every caller is
// kAnonymousUser.
class Authenticator {
 public:
  static constexpr char kAnonymousUser[] = "anonymous";
  static constexpr char kMetadataKey[] = "authorization";

  // `tokens` nullopt disables authentication.
  explicit Authenticator(std::optional<TokenTable> tokens);

  bool enabled() const { return tokens_.has_value(); }

  // The user the call's "authorization: Bearer <token>" metadata identifies
  // (kAnonymousUser when disabled). UNAUTHENTICATED "missing bearer token
  // (send 'authorization: Bearer <token>')" if absent, "unknown bearer token"
  // if not in the table, and a message saying why for malformed metadata
  // (another scheme, an empty token, or the key sent twice).
  absl::StatusOr<std::string> Authenticate(
      const grpc::ServerContextBase& context) const;

  // As Authenticate, from the client metadata itself (keys are lowercase, as
  // gRPC delivers them). Exposed for tests and for non-gRPC callers.
  absl::StatusOr<std::string> AuthenticateMetadata(
      const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const;

 private:
  const std::optional<TokenTable> tokens_;
};

// Adds "authorization: Bearer <token>" to the call's metadata. Does nothing
// if `token` is empty, so clients may pass an unset token through.
// REQUIRES: the call has not started.
void AddBearerToken(grpc::ClientContext* context, const std::string& token);

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_AUTH_H_
