#include "client/connection_settings.h"

#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"
#include "common/status_util.h"
#include "nlohmann/json.hpp"

namespace fnprobe::client {
namespace {

// The string values of a config file, by key.
struct ConfigFile {
  std::string path;  // empty: no config file
  std::map<std::string, std::string> values;

  std::optional<std::string> Get(const std::string& key) const {
    auto it = values.find(key);
    if (it == values.end() || it->second.empty()) return std::nullopt;
    return it->second;
  }
  // `key`'s value as a path: relative paths are taken from the file's dir.
  std::optional<std::string> GetPath(const std::string& key) const {
    std::optional<std::string> value = Get(key);
    if (!value || std::filesystem::path(*value).is_absolute()) return value;
    return (std::filesystem::path(path).parent_path() / *value).string();
  }
};

const std::set<std::string>& KnownConfigKeys() {
  static const auto* keys =
      new std::set<std::string>{"server", "token", "token_file", "ca_cert"};
  return *keys;
}

// Which config file to read, and whether its absence is an error.
std::pair<std::string, bool> ConfigPath(const ConnectionFlags& flags,
                                        const Environment& env) {
  if (!flags.config.empty()) return {flags.config, true};
  if (auto path = env.Get("FNPROBE_CONFIG")) return {*path, true};
  if (auto home = env.Get("HOME")) {
    return {absl::StrCat(*home, "/.config/fnprobe/config.json"), false};
  }
  return {"", false};
}

absl::StatusOr<ConfigFile> ParseConfig(const std::string& path,
                                       const std::string& text) {
  ConfigFile config{path, {}};
  nlohmann::json json = nlohmann::json::parse(text, nullptr, false);
  if (json.is_discarded() || !json.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ": not a JSON object"));
  }
  std::vector<std::string> unknown;
  for (const auto& [key, value] : json.items()) {
    if (KnownConfigKeys().count(key) == 0) {
      unknown.push_back(key);
    } else if (!value.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config file ", path, ": \"", key, "\" must be a string"));
    } else {
      config.values[key] = value.get<std::string>();
    }
  }
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config file ", path, ": unknown key(s) ", absl::StrJoin(unknown, ", "),
        " (known: server, token, token_file, ca_cert)"));
  }
  return config;
}

absl::StatusOr<ConfigFile> LoadConfig(const ConnectionFlags& flags,
                                      const Environment& env) {
  auto [path, required] = ConfigPath(flags, env);
  if (path.empty()) return ConfigFile{};
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (!required) return ConfigFile{};
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, " does not exist"));
  }
  FNPROBE_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  return ParseConfig(path, text);
}

absl::StatusOr<std::string> ReadToken(const std::string& path) {
  FNPROBE_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path));
  std::string token(absl::StripAsciiWhitespace(text));
  if (token.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("token file ", path, " is empty"));
  }
  return token;
}

// A bearer token travels in an HTTP/2 header, which holds printable ASCII
// only; gRPC aborts the whole process (validate_metadata) on anything else,
// so it is refused here, naming where it came from but not echoing it.
absl::Status CheckToken(absl::string_view token, absl::string_view source) {
  for (size_t i = 0; i < token.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(token[i]);
    if (c < 0x20 || c > 0x7E) {
      return absl::InvalidArgumentError(absl::StrCat(
          source,
          ": the token has a character that is not printable ASCII "
          "(byte 0x",
          absl::Hex(c, absl::kZeroPad2), " at offset ", i,
          "); a bearer token is printable ASCII"));
    }
  }
  return absl::OkStatus();
}

// The token and where it came from (for CheckToken's message).
absl::StatusOr<std::pair<std::string, std::string>> FindToken(
    const ConnectionFlags& flags, const Environment& env,
    const ConfigFile& config) {
  using Found = std::pair<std::string, std::string>;
  if (!flags.token.empty()) return Found{flags.token, "--token"};
  if (!flags.token_file.empty()) {
    FNPROBE_ASSIGN_OR_RETURN(std::string token, ReadToken(flags.token_file));
    return Found{token, "token file " + flags.token_file};
  }
  if (auto token = env.Get("FNPROBE_TOKEN")) {
    return Found{*token, "FNPROBE_TOKEN"};
  }
  if (auto token = config.Get("token")) {
    return Found{*token, absl::StrCat("config file ", config.path, " (token)")};
  }
  if (auto path = config.GetPath("token_file")) {
    FNPROBE_ASSIGN_OR_RETURN(std::string token, ReadToken(*path));
    return Found{token, "token file " + *path};
  }
  return Found{};
}

absl::StatusOr<std::string> ResolveToken(const ConnectionFlags& flags,
                                         const Environment& env,
                                         const ConfigFile& config) {
  FNPROBE_ASSIGN_OR_RETURN(auto found, FindToken(flags, env, config));
  FNPROBE_RETURN_IF_ERROR(CheckToken(found.first, found.second));
  return found.first;
}

void ResolveServer(const ConnectionFlags& flags, const Environment& env,
                   const ConfigFile& config, ConnectionSettings* settings) {
  if (!flags.server.empty()) {
    settings->server = flags.server;
    settings->server_source = "--server";
  } else if (auto server = env.Get("FNPROBE_SERVER")) {
    settings->server = *server;
    settings->server_source = "FNPROBE_SERVER";
  } else if (auto server = config.Get("server")) {
    settings->server = *server;
    settings->server_source = config.path;
  }
}

std::string ResolveCaCert(const ConnectionFlags& flags, const Environment& env,
                          const ConfigFile& config) {
  if (!flags.ca_cert.empty()) return flags.ca_cert;
  if (auto path = env.Get("FNPROBE_CA_CERT")) return *path;
  return config.GetPath("ca_cert").value_or("");
}

}  // namespace

absl::StatusOr<ConnectionSettings> ResolveConnectionSettings(
    const ConnectionFlags& flags, const Environment& env) {
  FNPROBE_ASSIGN_OR_RETURN(ConfigFile config, LoadConfig(flags, env));
  ConnectionSettings settings;
  ResolveServer(flags, env, config, &settings);
  FNPROBE_ASSIGN_OR_RETURN(settings.token, ResolveToken(flags, env, config));
  settings.ca_cert = ResolveCaCert(flags, env, config);
  settings.connect_timeout_s = flags.connect_timeout_s;
  settings.call_timeout_s = flags.call_timeout_s;
  return settings;
}

}  // namespace fnprobe::client
