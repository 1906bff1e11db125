#include "client/connection_settings.h"

#include <filesystem>
#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/reference_data.h"
#include "tests/support/status_matchers.h"

namespace fnprobe::client {
namespace {

using ::fnprobe::testing::IsOk;
using ::fnprobe::testing::ScopedTempDir;
using ::fnprobe::testing::StatusIs;
using ::testing::HasSubstr;

class ConnectionSettingsTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  ScopedTempDir dir_;
};

// Nothing given: the default server, no token, plaintext.
TEST_F(ConnectionSettingsTest, DefaultsWithoutAnySource) {
  auto s = ResolveConnectionSettings(
      {}, Environment::ForTest({{"HOME", dir_.path()}}));
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->server, "127.0.0.1:7070");
  EXPECT_EQ(s->server_source, "default");
  EXPECT_EQ(s->token, "");
  EXPECT_EQ(s->ca_cert, "");
}

// Each setting is resolved on its own: flag > environment > config.
TEST_F(ConnectionSettingsTest, FlagsBeatEnvironmentBeatConfig) {
  const std::string config =
      Write("c.json", R"({"server": "config:1", "token": "config-token",
                          "ca_cert": "ca.pem"})");
  Environment env = Environment::ForTest(
      {{"FNPROBE_CONFIG", config}, {"FNPROBE_TOKEN", "env-token"}});
  auto s = ResolveConnectionSettings({}, env);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->server, "config:1");
  EXPECT_EQ(s->server_source, config);
  EXPECT_EQ(s->token, "env-token");
  EXPECT_EQ(s->ca_cert, dir_.path() + "/ca.pem");  // relative to the file

  ConnectionFlags flags;
  flags.server = "flag:3";
  flags.token_file = Write("token", "  file-token\n");
  s = ResolveConnectionSettings(flags, env);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->server, "flag:3");
  EXPECT_EQ(s->server_source, "--server");
  EXPECT_EQ(s->token, "file-token");

  env = Environment::ForTest(
      {{"FNPROBE_CONFIG", config}, {"FNPROBE_SERVER", "env:2"}});
  s = ResolveConnectionSettings({}, env);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->server, "env:2");
  EXPECT_EQ(s->token, "config-token");
}

// --config beats FNPROBE_CONFIG, which beats ~/.config/fnprobe/config.json.
TEST_F(ConnectionSettingsTest, ConfigFileChoice) {
  std::filesystem::create_directories(dir_.path() + "/.config/fnprobe");
  Write(".config/fnprobe/config.json", R"({"server": "home:1"})");
  const std::string env_config = Write("env.json", R"({"server": "env:1"})");
  ConnectionFlags flags;
  flags.config = Write("flag.json", R"({"server": "flag:1"})");
  Environment home = Environment::ForTest({{"HOME", dir_.path()}});
  EXPECT_EQ(ResolveConnectionSettings({}, home)->server, "home:1");
  Environment both = Environment::ForTest(
      {{"HOME", dir_.path()}, {"FNPROBE_CONFIG", env_config}});
  EXPECT_EQ(ResolveConnectionSettings({}, both)->server, "env:1");
  EXPECT_EQ(ResolveConnectionSettings(flags, both)->server, "flag:1");
}

// Broken config files and token files are refused, naming the file.
TEST_F(ConnectionSettingsTest, BadFilesAreNamed) {
  ConnectionFlags flags;
  flags.config = dir_.path() + "/missing.json";
  EXPECT_THAT(ResolveConnectionSettings(flags, Environment::ForTest({})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("missing.json does not exist")));
  flags.config = Write("bad.json", "{not json");
  EXPECT_THAT(ResolveConnectionSettings(flags, Environment::ForTest({})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not a JSON object")));
  flags.config = Write("num.json", R"({"server": 7070})");
  EXPECT_THAT(ResolveConnectionSettings(flags, Environment::ForTest({})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("\"server\" must be a string")));
  ConnectionFlags token;
  token.token_file = Write("empty-token", "\n");
  EXPECT_THAT(
      ResolveConnectionSettings(token, Environment::ForTest({})),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is empty")));
}

// gRPC aborts the process (exit 134) on a header value that is not
// printable ASCII: such a token is refused first, naming its source.
TEST_F(ConnectionSettingsTest, NonPrintableTokensAreRefusedNamingTheSource) {
  ConnectionFlags flags;
  flags.token = "secret\x01";
  EXPECT_THAT(ResolveConnectionSettings(flags, Environment::ForTest({})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("--token: "),
                                        HasSubstr("byte 0x01 at offset 6"),
                                        ::testing::Not(HasSubstr("secret")))));
  flags.token = "";
  flags.token_file = Write("utf8-token", "caf\xc3\xa9\n");
  EXPECT_THAT(ResolveConnectionSettings(flags, Environment::ForTest({})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("token file " + flags.token_file)));
  // Inner newlines survive the file's trimming and are refused too.
  flags.token_file = Write("two-lines", "abc\ndef\n");
  EXPECT_THAT(ResolveConnectionSettings(flags, Environment::ForTest({})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("byte 0x0a at offset 3")));
  EXPECT_THAT(ResolveConnectionSettings(
                  {}, Environment::ForTest({{"FNPROBE_TOKEN", "a\tb"}})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("FNPROBE_TOKEN: ")));
  flags.token_file = Write("fine", "  tok-EN_1.2~+/=  \n");
  auto s = ResolveConnectionSettings(flags, Environment::ForTest({}));
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->token, "tok-EN_1.2~+/=");
}

}  // namespace
}  // namespace fnprobe::client
