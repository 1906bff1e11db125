#include "common/credentials.h"

#include <grpcpp/support/channel_arguments.h>

#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/loopback_server.h"
#include "tests/support/status_matchers.h"
#include "tests/support/test_certificates.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::CallWhoAmI;
using ::fnprobe::testing::kOtherCa;
using ::fnprobe::testing::kServerCert;
using ::fnprobe::testing::kServerKey;
using ::fnprobe::testing::LoopbackServer;
using ::fnprobe::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

std::string WriteTempFile(const std::string& name,
                          const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/credentials_test_" + name;
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

class CredentialsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cert_path_ = WriteTempFile("server.crt", kServerCert);
    key_path_ = WriteTempFile("server.key", kServerKey);
    other_ca_path_ = WriteTempFile("other_ca.crt", kOtherCa);
  }

  // A TLS loopback server with the test certificate.
  std::unique_ptr<LoopbackServer> StartTlsServer() {
    absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> creds =
        MakeServerCredentials(cert_path_, key_path_);
    EXPECT_OK(creds);
    if (!creds.ok()) return nullptr;
    return LoopbackServer::Start(*creds, &authenticator_);
  }

  const Authenticator authenticator_{std::nullopt};
  std::string cert_path_;
  std::string key_path_;
  std::string other_ca_path_;
};

// Neither path: plaintext on both sides, and calls go through.
TEST_F(CredentialsTest, NoPathsMeansInsecure) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server_creds =
      MakeServerCredentials("", "");
  ASSERT_OK(server_creds);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> channel_creds =
      MakeChannelCredentials("");
  ASSERT_OK(channel_creds);
  auto server = LoopbackServer::Start(*server_creds, &authenticator_);
  ASSERT_NE(server, nullptr);
  std::string user;
  grpc::Status status =
      CallWhoAmI(server->address(), *channel_creds, "", &user);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(user, "anonymous");
}

// A real TLS handshake: the client trusts the server's certificate and
// checks 127.0.0.1 against its subjectAltName.
TEST_F(CredentialsTest, TlsHandshakeSucceedsWithTheRightCa) {
  auto server = StartTlsServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      MakeChannelCredentials(cert_path_);
  ASSERT_OK(creds);
  std::string user;
  grpc::Status status = CallWhoAmI(server->address(), *creds, "", &user);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(user, "anonymous");

  // And by host name, which the certificate also lists.
  status =
      CallWhoAmI(absl::StrCat("localhost:", server->port()), *creds, "", &user);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// Bearer tokens travel over TLS as over plaintext.
TEST_F(CredentialsTest, BearerTokenOverTls) {
  absl::StatusOr<TokenTable> table =
      TokenTable::Parse("dave-0123456789abcdef dave\n", "tokens");
  ASSERT_OK(table);
  const Authenticator auth(*std::move(table));
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> server_creds =
      MakeServerCredentials(cert_path_, key_path_);
  ASSERT_OK(server_creds);
  auto server = LoopbackServer::Start(*server_creds, &auth);
  ASSERT_NE(server, nullptr);
  std::string user;
  grpc::Status status =
      CallWhoAmI(server->address(), *MakeChannelCredentials(cert_path_),
                 "dave-0123456789abcdef", &user);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(user, "dave");
}

// A plaintext client cannot talk to a TLS server.
TEST_F(CredentialsTest, InsecureClientRefusedByTlsServer) {
  auto server = StartTlsServer();
  ASSERT_NE(server, nullptr);
  std::string user;
  grpc::Status status = CallWhoAmI(
      server->address(), grpc::InsecureChannelCredentials(), "", &user);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

// A client that trusts another CA refuses the server's certificate.
TEST_F(CredentialsTest, TlsClientRefusesUntrustedServer) {
  auto server = StartTlsServer();
  ASSERT_NE(server, nullptr);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      MakeChannelCredentials(other_ca_path_);
  ASSERT_OK(creds);
  std::string user;
  grpc::Status status = CallWhoAmI(server->address(), *creds, "", &user);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

// A TLS client cannot talk to a plaintext server.
TEST_F(CredentialsTest, TlsClientRefusedByInsecureServer) {
  auto server =
      LoopbackServer::Start(grpc::InsecureServerCredentials(), &authenticator_);
  ASSERT_NE(server, nullptr);
  std::string user;
  grpc::Status status = CallWhoAmI(
      server->address(), *MakeChannelCredentials(cert_path_), "", &user);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

// The certificate must name the host the client dials.
TEST_F(CredentialsTest, TlsClientChecksServerName) {
  auto server = StartTlsServer();
  ASSERT_NE(server, nullptr);
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("not-localhost.example");
  std::string user;
  grpc::Status status = CallWhoAmI(
      server->address(), *MakeChannelCredentials(cert_path_), "", &user, args);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
}

TEST_F(CredentialsTest, CertificateWithoutKeyRefused) {
  EXPECT_THAT(MakeServerCredentials(cert_path_, ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("both a certificate and a private key"),
                             HasSubstr("only the certificate " + cert_path_))));
  EXPECT_THAT(MakeServerCredentials("", key_path_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("only the key " + key_path_)));
}

TEST_F(CredentialsTest, MissingFilesNamed) {
  const std::string missing =
      ::testing::TempDir() + "/credentials_test_missing.pem";
  EXPECT_THAT(MakeServerCredentials(missing, key_path_),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("TLS certificate " + missing)));
  EXPECT_THAT(MakeServerCredentials(cert_path_, missing),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("TLS private key " + missing)));
  EXPECT_THAT(MakeChannelCredentials(missing),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("TLS CA certificate " + missing)));
}

TEST_F(CredentialsTest, NonPemFilesRefused) {
  const std::string junk = WriteTempFile("junk.pem", "not a certificate\n");
  EXPECT_THAT(MakeServerCredentials(junk, key_path_),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr(junk), HasSubstr("no PEM block"))));
  EXPECT_THAT(MakeChannelCredentials(junk),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("TLS CA certificate " + junk)));
}

}  // namespace
}  // namespace fnprobe
