// SigpipeGuard: a write to a pipe or FIFO whose reader is gone fails with EPIPE instead of killing
// the process with SIGPIPE, also where the host has not ignored the signal (an embedding
// program, a test harness). `sluice run` ignores SIGPIPE process-wide; sinks that write to
// descriptors which may be pipes (stdout, file) still hold one of these around their writes.
//
// SIGPIPE is blocked on this thread for the guard's lifetime; a SIGPIPE the writes raised is taken
// off the thread before the old mask comes back. C++17 and POSIX only.
#pragma once

#include <pthread.h>
#include <signal.h>
#include <time.h>

namespace sluice {

class SigpipeGuard {
 public:
  SigpipeGuard() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeGuard() {
    if (!was_pending_) {
      const timespec zero{0, 0};
      while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeGuard(const SigpipeGuard&) = delete;
  SigpipeGuard& operator=(const SigpipeGuard&) = delete;

 private:
  sigset_t pipe_, old_;
  bool was_pending_ = false;
};

}  // namespace sluice
