// asyncio/runners.hpp — run(), run_main() and Runner (Python: asyncio.runners).
//
//   asyncio::Coro<> amain() { ... }
//   int main() { return asyncio::run_main(amain()); }
//
// run_main() is the entry point that ends a program the way `python3 script.py` ends one
// whose last line is `asyncio.run(amain())`; see its documentation below.
//
// run() creates a loop, runs the coroutine as the main task, then — as Python does — cancels
// every task still pending, waits for them to finish, reports exceptions they raised while
// cancelling, and closes the loop. It throws RuntimeError when a loop already runs in this
// thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

#include "asyncio/events.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/unix_events.hpp"  // KeyboardInterrupt, which run() may throw

namespace asyncio {

/// Makes the loop a Runner runs on (Python: loop_factory=). Configure the loop here (debug,
/// exception handler, task factory, default executor, ...): it replaces Python's event loop
/// policies, which this library does not have.
using LoopFactory = std::function<std::unique_ptr<EventLoop>()>;

/// Owns an event loop for several run() calls (Python: asyncio.Runner, a context manager:
/// here the destructor closes it).
class Runner {
 public:
  /// `debug`: run the loop in debug mode (see EventLoop::set_debug). `loop_factory`: makes
  /// the loop on first use (Python: Runner(debug=None, loop_factory=None)); without one, the
  /// Runner makes a new_event_loop() and sets it as the thread's current loop
  /// (set_event_loop) until close(), as Python does. A factory returning null is
  /// RuntimeError("loop_factory returned no event loop"). `debug`, when given, is applied to
  /// the factory's loop too.
  explicit Runner(std::optional<bool> debug = std::nullopt, LoopFactory loop_factory = nullptr);
  /// Runner(std::nullopt, loop_factory) (Python: Runner(loop_factory=f)). A template so
  /// that a captureless lambda does not convert to `debug` (via bool) instead.
  template <class F>
  requires std::is_invocable_r_v<std::unique_ptr<EventLoop>, F&> explicit Runner(F loop_factory)
      : Runner(std::nullopt, LoopFactory(std::move(loop_factory))) {}
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
  /// Python: Runner.get_loop().
  EventLoop& get_loop();

  /// Cancels the remaining tasks, waits for them and closes the loop. Idempotent.
  /// Python: Runner.close().
  void close();

 private:
  enum class State { Created, Initialized, Closed };
  void check_can_run();
  /// Runs the loop until `task` is done, with Python's SIGINT handling (src/runners.cpp).
  void run_main_task(const AnyTask& task);

  State state_ = State::Created;
  std::optional<bool> debug_;
  LoopFactory loop_factory_;
  bool set_event_loop_ = false;  // we made our loop the thread's current loop
  std::unique_ptr<EventLoop> loop_;
};

/// Runs `main` in a new event loop and returns its result (Python: asyncio.run).
/// `loop_factory` as Runner's (Python: asyncio.run(main, debug=None, loop_factory=None),
/// 3.12).
template <class T>
T run(Coro<T> main, std::optional<bool> debug = std::nullopt, LoopFactory loop_factory = nullptr) {
  if (detail::running_loop != nullptr) {
    throw RuntimeError("asyncio::run() cannot be called from a running event loop");
  }
  Runner runner(debug, std::move(loop_factory));
  return runner.run(std::move(main));
}
/// run(main, std::nullopt, loop_factory) (Python: asyncio.run(main, loop_factory=f)).
template <class T, class F>
requires std::is_invocable_r_v<std::unique_ptr<EventLoop>, F&> T run(Coro<T> main, F loop_factory) {
  return run(std::move(main), std::nullopt, LoopFactory(std::move(loop_factory)));
}

namespace detail {
/// run_main()'s non-template part: calls `body(ctx)` and ends the program as Python would.
int run_main(int (*body)(void*), void* ctx) noexcept;
}  // namespace detail

/// Runs `main` with run() and ends the program the way CPython 3.12 ends
/// `asyncio.run(main())` at the top of a script. Use it as the whole of `main()`:
///
///     int main() { return asyncio::run_main(amain()); }
///
/// - `main` returns: the result is the exit status (0 for `Coro<void>` and any result type
///   other than int; a `Coro<int>`'s value is returned as is, like `sys.exit(n)`).
/// - An exception escapes: stdout is flushed, the exception is printed on stderr as Python
///   prints its traceback's last line (format_exception(): `ValueError: bad value`; an
///   ExceptionGroup with its sub-exceptions in Python's nested layout) and 1 is returned.
/// - Ctrl-C (SIGINT; run() turns it into KeyboardInterrupt, see Runner::run): stdout is
///   flushed, `KeyboardInterrupt` is printed on stderr, then, as CPython does, SIGINT is
///   reset to its default action and raised again, so the process dies of SIGINT and a shell
///   sees status 130. (Should the process survive that, 130 is returned.)
///
/// Flushing covers C stdio (`fflush(nullptr)`) and std::cout/cerr/clog, whether or not they
/// are synchronised with stdio. No Python traceback frames are printed: C++ has no portable
/// stack of the throw point. Python: `asyncio.run(main())` as a script's last statement.
template <class T>
int run_main(Coro<T> main, std::optional<bool> debug = std::nullopt) noexcept {
  struct Args {
    Coro<T>* main;
    std::optional<bool> debug;
  } args{&main, debug};
  return detail::run_main(
      [](void* p) -> int {
        Args& a = *static_cast<Args*>(p);
        if constexpr (std::is_same_v<T, int>) {
          return run(std::move(*a.main), a.debug);
        } else {
          run(std::move(*a.main), a.debug);
          return 0;
        }
      },
      &args);
}

}  // namespace asyncio
