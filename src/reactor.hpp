// The reactor: the loop's only window onto the kernel's readiness notification.
//
// Deliberately narrow so another backend (io_uring) can replace epoll without touching the
// loop: watch/unwatch interest per fd, poll with a timeout, and a thread-safe wakeup.
// Not a public header.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace asyncio::detail {

class Reactor {
 public:
  struct Ready {
    int fd;
    bool readable;  // also set on error/hang-up, so the reader sees it (as Python's selectors)
    bool writable;  // also set on error/hang-up
  };

  virtual ~Reactor() = default;

  /// Sets the interest for `fd`; both false stops watching it. Throws std::system_error.
  virtual void watch(int fd, bool readable, bool writable) = 0;
  /// Forgets `fd` (which may already be closed).
  virtual void unwatch(int fd) noexcept = 0;
  /// Waits until an fd is ready, `timeout_ns` passes (negative: no limit; 0: just look) or
  /// wakeup() is called, and appends the ready fds to `out`.
  virtual void poll(std::int64_t timeout_ns, std::vector<Ready>& out) = 0;
  /// Interrupts a poll() in progress, or makes the next one return at once. Thread-safe and
  /// async-signal-safe.
  virtual void wakeup() noexcept = 0;
};

std::unique_ptr<Reactor> make_epoll_reactor();

}  // namespace asyncio::detail
