#include "client/interrupt_handler.h"

#include <pthread.h>

#include <cstdlib>
#include <utility>

namespace fnprobe::client {

InterruptHandler::InterruptHandler(std::function<int(int)> on_signal)
    : on_signal_(std::move(on_signal)) {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, &old_mask_);
  thread_ = std::thread([this] { Loop(); });
}

InterruptHandler::~InterruptHandler() {
  closing_ = true;
  pthread_kill(thread_.native_handle(), SIGTERM);
  thread_.join();
  // A signal that arrived meanwhile is still pending: it is delivered, with
  // its default action, when the old mask is restored.
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

void InterruptHandler::Loop() {
  int signal_number = 0;
  while (sigwait(&signals_, &signal_number) == 0) {
    if (closing_) return;
    std::_Exit(on_signal_(signal_number));
  }
}

}  // namespace fnprobe::client
