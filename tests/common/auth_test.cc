#include "common/auth.h"

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <fstream>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/common/loopback_server.h"
#include "tests/support/status_matchers.h"

namespace fnprobe {
namespace {

using ::fnprobe::testing::CallWhoAmI;
using ::fnprobe::testing::LoopbackServer;
using ::fnprobe::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kAliceToken[] = "alice-0123456789abcdef";
constexpr char kBobToken[] = "bob-fedcba9876543210";
constexpr char kBobToken2[] = "bob-rotated-token-0000";

using Metadata = std::multimap<grpc::string_ref, grpc::string_ref>;

std::string WriteTempFile(const std::string& name,
                          const std::string& contents) {
  const std::string path = ::testing::TempDir() + "/auth_test_" + name;
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

TokenTable TwoUsers() {
  absl::StatusOr<TokenTable> table =
      TokenTable::Parse(absl::StrCat(kAliceToken, " alice\n", kBobToken,
                                     " bob\n", kBobToken2, " bob\n"),
                        "tokens");
  EXPECT_OK(table);
  return *std::move(table);
}

// Comments, blank lines, tabs, runs of spaces and CRLF line ends are
// accepted; several tokens may name one user.
TEST(TokenTableTest, ParsesPairsAndSkipsCommentsAndBlanks) {
  absl::StatusOr<TokenTable> table = TokenTable::Parse(
      absl::StrCat("# fnprobe tokens\n"
                   "\n"
                   "   \t\n",
                   kAliceToken, "\talice\r\n", "  # indented comment\n", "  ",
                   kBobToken, "    bob   \n", kBobToken2,
                   " bob"),  // No final newline.
      "tokens");
  ASSERT_OK(table);
  EXPECT_EQ(table->size(), 3u);
  EXPECT_EQ(table->Lookup(kAliceToken), "alice");
  EXPECT_EQ(table->Lookup(kBobToken), "bob");
  EXPECT_EQ(table->Lookup(kBobToken2), "bob");
}

// Lookup matches whole tokens only: no prefixes, extensions or case folding.
TEST(TokenTableTest, LookupIsExact) {
  const TokenTable table = TwoUsers();
  const std::string alice = kAliceToken;
  EXPECT_EQ(table.Lookup(alice.substr(0, alice.size() - 1)), std::nullopt);
  EXPECT_EQ(table.Lookup(alice + "0"), std::nullopt);
  EXPECT_EQ(table.Lookup("ALICE-0123456789ABCDEF"), std::nullopt);
  EXPECT_EQ(table.Lookup(""), std::nullopt);
  EXPECT_EQ(table.Lookup("alice"), std::nullopt);
}

TEST(TokenTableTest, LoadFileReadsTheFile) {
  const std::string path =
      WriteTempFile("good", absl::StrCat(kAliceToken, " alice\n"));
  absl::StatusOr<TokenTable> table = TokenTable::LoadFile(path);
  ASSERT_OK(table);
  EXPECT_EQ(table->Lookup(kAliceToken), "alice");
}

TEST(TokenTableTest, MissingFileIsNotFound) {
  const std::string path = ::testing::TempDir() + "/auth_test_no_such_file";
  EXPECT_THAT(TokenTable::LoadFile(path),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr(path)));
}

// Every malformed line is refused with the file, the line number and the
// reason, and never with the token itself.
TEST(TokenTableTest, MissingUserNamesFileAndLine) {
  const std::string path = WriteTempFile(
      "no_user",
      absl::StrCat("# header\n", kAliceToken, " alice\n", kBobToken, "\n"));
  EXPECT_THAT(
      TokenTable::LoadFile(path),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr(path + ":3:"), HasSubstr("token without a user"),
                     Not(HasSubstr(kBobToken)))));
}

TEST(TokenTableTest, ExtraFieldsRefused) {
  EXPECT_THAT(
      TokenTable::Parse(absl::StrCat(kAliceToken, " alice admin\n"), "t"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("t:1: expected 'TOKEN USER', found 3 fields")));
}

TEST(TokenTableTest, DuplicateTokenNamesBothLines) {
  EXPECT_THAT(TokenTable::Parse(absl::StrCat(kAliceToken, " alice\n\n",
                                             kAliceToken, " mallory\n"),
                                "tokens.txt"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("tokens.txt:3: duplicate token"),
                             HasSubstr("mallory"), HasSubstr("line 1"),
                             Not(HasSubstr(kAliceToken)))));
}

TEST(TokenTableTest, ShortTokenRefusedWithReason) {
  // 15 characters: one short of the minimum.
  EXPECT_THAT(
      TokenTable::Parse("abcdefghijklmno carol\n", "tokens.txt"),
      StatusIs(absl::StatusCode::kInvalidArgument,
               AllOf(HasSubstr("tokens.txt:1:"), HasSubstr("carol"),
                     HasSubstr("15 characters"), HasSubstr("at least 16"),
                     HasSubstr("cannot be guessed"),
                     Not(HasSubstr("abcdefghijklmno")))));
  // Exactly 16 is enough.
  EXPECT_OK(TokenTable::Parse("abcdefghijklmnop carol\n", "tokens.txt"));
}

TEST(TokenTableTest, NonPrintableTokenRefused) {
  EXPECT_THAT(TokenTable::Parse("abcdefgh\x01ijklmnopq carol\n", "t"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("t:1: token for user 'carol' has non-ASCII")));
  EXPECT_THAT(
      TokenTable::Parse("abcdefgh\xc3\xa9ijklmnopq carol\n", "t"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("non-ASCII")));
}

// A file without a single token would lock everyone out: refused.
TEST(TokenTableTest, EmptyTableRefused) {
  EXPECT_THAT(TokenTable::Parse("# nothing yet\n\n", "tokens.txt"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("tokens.txt: no tokens")));
  EXPECT_THAT(
      TokenTable::Parse("", "tokens.txt"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no tokens")));
}

// Without a table every caller is "anonymous", token or not.
TEST(AuthenticatorTest, DisabledAcceptsEveryone) {
  const Authenticator auth(std::nullopt);
  EXPECT_FALSE(auth.enabled());
  EXPECT_EQ(*auth.AuthenticateMetadata({}), "anonymous");
  const Metadata metadata = {{"authorization", "Bearer whatever"}};
  EXPECT_EQ(*auth.AuthenticateMetadata(metadata), "anonymous");
}

TEST(AuthenticatorTest, KnownTokenGivesUser) {
  const Authenticator auth(TwoUsers());
  EXPECT_TRUE(auth.enabled());
  const std::string alice = absl::StrCat("Bearer ", kAliceToken);
  const std::string bob = absl::StrCat("Bearer ", kBobToken2);
  EXPECT_EQ(*auth.AuthenticateMetadata({{"authorization", alice}}), "alice");
  EXPECT_EQ(
      *auth.AuthenticateMetadata({{"x-other", "1"}, {"authorization", bob}}),
      "bob");
  // The scheme is case-insensitive.
  const std::string lower = absl::StrCat("bearer ", kAliceToken);
  EXPECT_EQ(*auth.AuthenticateMetadata({{"authorization", lower}}), "alice");
}

TEST(AuthenticatorTest, MissingTokenExplainsHowToSendOne) {
  const Authenticator auth(TwoUsers());
  EXPECT_THAT(auth.AuthenticateMetadata({{"x-other", "1"}}),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       "missing bearer token (send 'authorization: Bearer "
                       "<token>')"));
}

TEST(AuthenticatorTest, UnknownTokenRefused) {
  const Authenticator auth(TwoUsers());
  EXPECT_THAT(
      auth.AuthenticateMetadata(
          {{"authorization", "Bearer not-a-known-token-at-all"}}),
      StatusIs(absl::StatusCode::kUnauthenticated, "unknown bearer token"));
}

TEST(AuthenticatorTest, MalformedMetadataRefused) {
  const Authenticator auth(TwoUsers());
  const std::string basic = absl::StrCat("Basic ", kAliceToken);
  EXPECT_THAT(auth.AuthenticateMetadata({{"authorization", basic}}),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("not a bearer token")));
  EXPECT_THAT(auth.AuthenticateMetadata({{"authorization", kAliceToken}}),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("not a bearer token")));
  EXPECT_THAT(auth.AuthenticateMetadata({{"authorization", "Bearer "}}),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("empty bearer token")));
  const std::string alice = absl::StrCat("Bearer ", kAliceToken);
  EXPECT_THAT(auth.AuthenticateMetadata(
                  {{"authorization", alice}, {"authorization", alice}}),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("more than once")));
}

// End to end over a loopback connection: AddBearerToken on the client,
// Authenticate on the ServerContext in the handler.
TEST(AuthenticatorTest, LoopbackCallsCarryTheToken) {
  const Authenticator auth(TwoUsers());
  auto server = LoopbackServer::Start(grpc::InsecureServerCredentials(), &auth);
  ASSERT_NE(server, nullptr);
  const auto creds = grpc::InsecureChannelCredentials();

  std::string user;
  grpc::Status status = CallWhoAmI(server->address(), creds, kBobToken, &user);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(user, "bob");

  // An empty token adds no metadata, so the server sees none.
  status = CallWhoAmI(server->address(), creds, "", &user);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(),
            "missing bearer token (send 'authorization: Bearer <token>')");

  status =
      CallWhoAmI(server->address(), creds, "wrong-token-0123456789", &user);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(), "unknown bearer token");
}

TEST(AuthenticatorTest, LoopbackWithAuthDisabled) {
  const Authenticator auth(std::nullopt);
  auto server = LoopbackServer::Start(grpc::InsecureServerCredentials(), &auth);
  ASSERT_NE(server, nullptr);
  std::string user;
  grpc::Status status = CallWhoAmI(
      server->address(), grpc::InsecureChannelCredentials(), "", &user);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(user, "anonymous");
}

}  // namespace
}  // namespace fnprobe
