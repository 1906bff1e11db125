// Turns SIGINT and SIGTERM into a clean exit for a process that owns child
// processes: while an InterruptHandler exists, both signals are blocked in
// every thread started after it, and a thread of its own waits for them. On
// a signal it runs `on_signal` (stop the children, flush output), which
// returns the exit code, and ends the process with it (std::_Exit: the
// signal may arrive in the middle of a gRPC call, which is never unwound).
//
// Construct it before starting any thread (gRPC channels start threads),
// so that no other thread receives the signals. Destroying it stops the
// thread and restores the signal mask.
//
// Thread-safe: on_signal runs on the handler's thread, concurrently with
// the rest of the program.
#ifndef FNPROBE_CLIENT_INTERRUPT_HANDLER_H_
#define FNPROBE_CLIENT_INTERRUPT_HANDLER_H_

#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>

namespace fnprobe::client {

class InterruptHandler {
 public:
  // `on_signal` gets the signal number and returns the exit code.
  explicit InterruptHandler(std::function<int(int signal)> on_signal);
  ~InterruptHandler();
  InterruptHandler(const InterruptHandler&) = delete;
  InterruptHandler& operator=(const InterruptHandler&) = delete;

 private:
  void Loop();

  const std::function<int(int)> on_signal_;
  sigset_t signals_;
  sigset_t old_mask_;
  std::atomic<bool> closing_{false};
  std::thread thread_;
};

}  // namespace fnprobe::client

#endif  // FNPROBE_CLIENT_INTERRUPT_HANDLER_H_
