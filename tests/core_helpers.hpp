// Helpers shared by the tests of the event loop, futures, tasks, gather and runners.
#pragma once

#include <cstddef>
#include <string>
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
