// Helpers shared by the tests of the event loop, futures, tasks, gather and runners.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "asyncio/asyncio.hpp"

namespace coretest {

/// Runs one iteration of `loop` (Python's test_utils.run_briefly for a bare loop).
inline void run_once(asyncio::EventLoop& loop) {
  loop.call_soon([&loop] { loop.stop(); });
  loop.run_forever();
}

/// Records what reaches the loop's exception handler.
struct HandlerLog {
  std::vector<asyncio::ExceptionContext> contexts;
  void install(asyncio::EventLoop& loop) {
    loop.set_exception_handler(
        [this](asyncio::EventLoop&, const asyncio::ExceptionContext& c) { contexts.push_back(c); });
  }
  std::size_t count(const std::string& message) const {
    std::size_t n = 0;
    for (const auto& c : contexts) n += c.message == message;
    return n;
  }
};

/// Stops `loop` from another thread if it still runs after `limit`, so that a hang fails the
/// test (run_until_complete throws "Event loop stopped before Future completed") instead of
/// blocking the suite. call_soon_threadsafe() wakes even a loop blocked in epoll for hours.
/// Disarm it (or let it go out of scope) before the loop is closed.
class Watchdog {
 public:
  Watchdog(asyncio::EventLoop& loop, std::chrono::milliseconds limit)
      : thread_([this, &loop, limit] {
          std::unique_lock lock(mutex_);
          if (!cv_.wait_for(lock, limit, [this] { return disarmed_; })) {
            fired_ = true;
            loop.call_soon_threadsafe([&loop] { loop.stop(); });
          }
        }) {}
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  ~Watchdog() { disarm(); }

  void disarm() {
    {
      std::lock_guard lock(mutex_);
      disarmed_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  bool fired() const noexcept { return fired_; }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool disarmed_ = false;
  std::atomic<bool> fired_{false};
  std::thread thread_;  // last: it uses the members above
};

/// The message of the CancelledError that `f()` throws.
template <class F>
std::string cancelled_message(F&& f) {
  try {
    f();
  } catch (const asyncio::CancelledError& e) {
    return e.message();
  }
  return "<no CancelledError>";
}

}  // namespace coretest
