// asyncio/runners.hpp — run() and Runner (Python: asyncio.runners).
//
//   int main() { return asyncio::run(amain()); }
//
// run() creates a loop, runs the coroutine as the main task, then — as Python does — cancels
// every task still pending, waits for them to finish, reports exceptions they raised while
// cancelling, and closes the loop. It throws RuntimeError when a loop already runs in this
// thread.
#pragma once

#include <memory>
#include <optional>

#include "asyncio/events.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/unix_events.hpp"  // KeyboardInterrupt, which run() may throw

namespace asyncio {

/// Owns an event loop for several run() calls (Python: asyncio.Runner, a context manager:
/// here the destructor closes it).
class Runner {
 public:
  /// `debug`: run the loop in debug mode (see EventLoop::set_debug).
  explicit Runner(std::optional<bool> debug = std::nullopt);
  ~Runner();
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  /// Runs `coro` as a task until it completes; returns its result or rethrows its exception.
  ///
  /// Ctrl-C, as Python 3.11+ (details in asyncio/unix_events.hpp): when called from the main
  /// thread while SIGINT has its default disposition, a SIGINT handler is installed for the
  /// duration of the call. The first SIGINT cancels the task; if it then ends cancelled (and
  /// uncancel() reaches 0), run() throws asyncio::KeyboardInterrupt rather than
  /// CancelledError. A second SIGINT stops the loop and run() throws KeyboardInterrupt at once.
  template <class T>
  T run(Coro<T> coro) {
    check_can_run();
    Task<T> task = get_loop().create_task(std::move(coro));
    run_main_task(task);
    return detail::take_result(task);
  }

  /// The loop, created on first use. Throws RuntimeError after close().
  EventLoop& get_loop();

  /// Cancels the remaining tasks, waits for them and closes the loop. Idempotent.
  void close();

 private:
  enum class State { Created, Initialized, Closed };
  void check_can_run();
  /// Runs the loop until `task` is done, with Python's SIGINT handling (src/runners.cpp).
  void run_main_task(const AnyTask& task);

  State state_ = State::Created;
  std::optional<bool> debug_;
  std::unique_ptr<EventLoop> loop_;
};

/// Runs `main` in a new event loop and returns its result (Python: asyncio.run).
template <class T>
T run(Coro<T> main, std::optional<bool> debug = std::nullopt) {
  if (detail::running_loop != nullptr) {
    throw RuntimeError("asyncio::run() cannot be called from a running event loop");
  }
  Runner runner(debug);
  return runner.run(std::move(main));
}

}  // namespace asyncio
