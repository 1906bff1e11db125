// gRPC credentials from PEM files: TLS when certificates are configured,
// plaintext otherwise (DESIGN.md, Wire).
//
// A server given a certificate chain and its private key serves TLS; given
// neither it serves plaintext. A client given a CA certificate (the roots
// that signed the server's certificate) connects with TLS and verifies the
// server's name against the certificate; given none it connects in
// plaintext. Client certificates (mutual TLS) are not used: clients
// authenticate with bearer tokens (common/auth.h).
//
// Paths are plain strings where "" means "not configured", as command-line
// flags deliver them. The files are read once, when the credentials are made.
//
// Thread-safe: free functions without state.
#ifndef FNPROBE_COMMON_CREDENTIALS_H_
#define FNPROBE_COMMON_CREDENTIALS_H_

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace fnprobe {

// TLS server credentials from `cert_path` (PEM certificate chain, leaf first)
// and `key_path` (its PEM private key), or insecure credentials if both are
// empty. INVALID_ARGUMENT if only one is given, or a file holds no PEM block;
// the read error (NOT_FOUND, PERMISSION_DENIED, ...) naming the file if one
// cannot be read. A certificate and key that do not belong together are
// reported by gRPC when the server starts (BuildAndStart fails).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const std::string& cert_path, const std::string& key_path);

// TLS channel credentials trusting the PEM certificates in `ca_path`, or
// insecure credentials if `ca_path` is empty. Errors as above.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const std::string& ca_path);

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_CREDENTIALS_H_
