// Where the worker is and how to authenticate to it, resolved from (highest
// precedence first) command-line flags, environment variables, a JSON config
// file, and built-in defaults. Each setting is resolved on its own, so a
// config file may supply the token while FNPROBE_SERVER names the server.
//
//   setting   flag                      environment       config key
//   server    --server HOST:PORT        FNPROBE_SERVER    "server"
//   token     --token T, --token-file F FNPROBE_TOKEN     "token", "token_file"
//   TLS CA    --ca-cert F               FNPROBE_CA_CERT   "ca_cert"
//
// The config file is --config F, else $FNPROBE_CONFIG, else
// ~/.config/fnprobe/config.json (silently skipped when absent). Relative
// paths in it are relative to the file's directory. The default server is
// 127.0.0.1:7070, plaintext, without a token.
//
// Thread-safe: free functions and plain structs.
#ifndef FNPROBE_CLIENT_CONNECTION_SETTINGS_H_
#define FNPROBE_CLIENT_CONNECTION_SETTINGS_H_

#include <string>

#include "absl/status/statusor.h"
#include "client/environment.h"

namespace fnprobe::client {

inline constexpr char kDefaultServer[] = "127.0.0.1:7070";

// The connection flags as given on the command line ("" when absent).
struct ConnectionFlags {
  std::string server;
  std::string token;
  std::string token_file;
  std::string ca_cert;
  std::string config;
  double connect_timeout_s = 5;
  double call_timeout_s = 30;
};

struct ConnectionSettings {
  std::string server = kDefaultServer;
  std::string token;    // empty: send none
  std::string ca_cert;  // empty: plaintext
  double connect_timeout_s = 5;
  double call_timeout_s = 30;
  // Where `server` came from ("--server", "FNPROBE_SERVER", the config
  // file's path, or "default"), for error hints.
  std::string server_source = "default";
};

// Resolves the settings. INVALID_ARGUMENT naming the file for an explicit
// config file that is missing, a config file that is not a JSON object or
// has unknown keys or non-string values, an empty token file, or a token
// with a character outside printable ASCII (naming its source, not echoing
// it); the read error naming the file for an unreadable token file.
absl::StatusOr<ConnectionSettings> ResolveConnectionSettings(
    const ConnectionFlags& flags, const Environment& env);

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_CONNECTION_SETTINGS_H_
