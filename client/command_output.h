// Where a command writes its results and in which form: human-readable
// tables, or (with --json) the responses in the proto JSON mapping.
//
// Not thread-safe: the stream is not synchronized.
#ifndef FNPROBE_CLIENT_COMMAND_OUTPUT_H_
#define FNPROBE_CLIENT_COMMAND_OUTPUT_H_

#include <ostream>

namespace fnprobe::client {

struct CommandOutput {
  std::ostream* out = nullptr;  // results (stdout)
  std::ostream* log = nullptr;  // progress notes that are not results
  bool json = false;            // --json
  bool tty = false;             // out is a terminal: draw progress bars
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_COMMAND_OUTPUT_H_
