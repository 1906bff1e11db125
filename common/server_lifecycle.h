// What the server mains (fnprobe-inference, fnprobe-worker) share about
// their lifecycle: taking SIGINT/SIGTERM synchronously, and publishing the
// bound port for whoever started the process (tests, `fnprobe demo`).
//
// Free functions; call from main() before starting threads.
#ifndef FNPROBE_COMMON_SERVER_LIFECYCLE_H_
#define FNPROBE_COMMON_SERVER_LIFECYCLE_H_

#include <signal.h>

#include <string>

#include "absl/status/status.h"
#include "common/env.h"

namespace fnprobe {

// Blocks SIGINT and SIGTERM in the calling thread and every thread started
// after it, so that WaitForStopSignal can take them synchronously.
sigset_t BlockStopSignals();

// Waits for one of the signals in `set`; returns its number.
int WaitForStopSignal(const sigset_t& set);

// Writes "<port>\n" to `path` atomically through `env` (WriteFileAtomically
// in common/env.h), so a reader never sees a partial number. Does nothing
// for an empty path. Errors are PERMISSION_DENIED naming --port-file.
absl::Status WritePortFile(Env& env, const std::string& path, int port);
// The same through a PosixEnv.
absl::Status WritePortFile(const std::string& path, int port);

}  // namespace fnprobe

#endif  // FNPROBE_COMMON_SERVER_LIFECYCLE_H_
