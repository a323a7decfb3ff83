// asyncio/timeouts.hpp — timeout(), timeout_at(), wait_for() (Python: asyncio.timeouts and
// asyncio.wait_for).
//
// Python's `async with asyncio.timeout(0.5): body` becomes a scope function, because C++ has
// no asynchronous destructor that could turn a cancellation into TimeoutError on scope exit:
//
//   co_await asyncio::timeout(0.5s, [&]() -> asyncio::Coro<> { co_await work(); });
//   int r = co_await asyncio::timeout(0.5s, compute());               // a Coro directly
//   co_await asyncio::timeout(1s, [&](asyncio::Timeout& cm) -> asyncio::Coro<> {
//     cm.reschedule(cm.when().value() + 1.0);                          // push the deadline
//     co_await work();
//   });
//
// The value form, for async_with() (contextlib.hpp), keeps the Timeout after the block:
//
//   auto cm = asyncio::timeout(0.5s);                                  // async with ... as cm:
//   co_await asyncio::async_with(cm, [&]() -> asyncio::Coro<> { co_await work(); });
//   if (cm.expired()) ...
//
// On expiry the task is cancelled; when the cancellation comes out of the body, and no other
// cancellation of the task is pending, it is turned into TimeoutError. Only the timeout's own
// cancellation is converted, so nested timeouts and outer cancellations behave as in Python.
#pragma once

#include <optional>
#include <type_traits>

#include "asyncio/detail/ensure_future.hpp"
#include "asyncio/detail/immediate.hpp"
#include "asyncio/detail/wait_done.hpp"

namespace asyncio {

/// The state of one timeout scope (Python: asyncio.Timeout).
class Timeout {
 public:
  /// `when`: absolute deadline on the loop.time() clock; nullopt: no deadline (yet).
  explicit Timeout(std::optional<double> when) noexcept : when_(when) {}
  /// Moves a Timeout that was not entered yet (so that `async_with(asyncio::timeout(1s), ...)`
  /// can own it). An entered Timeout is bound to its address (its deadline callback points to
  /// it): moving one terminates the program.
  Timeout(Timeout&& o) noexcept : when_(o.when_) {
    if (o.state_ != State::Created) std::terminate();
  }
  Timeout(const Timeout&) = delete;
  Timeout& operator=(const Timeout&) = delete;
  ~Timeout() { handle_.cancel(); }

  /// The current deadline, or nullopt.
  /// Python: Timeout.when().
  std::optional<double> when() const noexcept { return when_; }
  /// Moves the deadline (nullopt removes it). Only inside the scope, before it expires;
  /// otherwise throws RuntimeError. A deadline in the past expires on the next iteration.
  /// Python: Timeout.reschedule().
  void reschedule(std::optional<double> when);
  /// Whether the deadline passed and the scope's task was cancelled because of it.
  /// Python: Timeout.expired().
  bool expired() const noexcept { return state_ == State::Expiring || state_ == State::Expired; }

  // The two halves of Python's `async with` (public for custom scopes; timeout() calls them).
  /// Binds the scope to the running task and arms the deadline (Python:
  /// Timeout.__aenter__).
  void enter();
  /// `body_exception`: what the body threw (null if none). Throws TimeoutError when the
  /// body's CancelledError was this timeout's doing.
  /// Python: Timeout.__aexit__.
  void exit(const std::exception_ptr& body_exception);

  // The asynchronous context manager protocol of contextlib.hpp, for async_with().
  /// `co_await cm.aenter()`: enter(), giving this Timeout (Python: __aenter__ returns self).
  auto aenter() {
    return detail::Immediate([this]() -> Timeout& {
      enter();
      return *this;
    });
  }
  /// `co_await cm.aexit(e)`: exit(e); never suppresses `e` (Python: __aexit__).
  auto aexit(std::exception_ptr body_exception) {
    return detail::Immediate([this, e = std::move(body_exception)] { exit(e); });
  }

 private:
  enum class State { Created, Entered, Expiring, Expired, Exited };
  static const char* state_name(State s) noexcept;
  void on_timeout();

  std::optional<double> when_;
  State state_ = State::Created;
  Handle handle_;
  AnyTask task_;
  int cancelling_ = 0;
};

namespace detail {

template <class F>
decltype(auto) invoke_body(F& body, Timeout& cm) {
  if constexpr (std::is_invocable_v<F&, Timeout&>) {
    return body(cm);
  } else {
    return body();
  }
}

template <class B>
struct BodyResult {
  using type =
      typename decltype(invoke_body(std::declval<B&>(), std::declval<Timeout&>()))::value_type;
};
template <class T>
struct BodyResult<Coro<T>> {
  using type = T;
};

template <class B>
Coro<typename BodyResult<B>::type> run_with_timeout(std::optional<double> when, B body) {
  using T = typename BodyResult<B>::type;
  Timeout cm(when);
  cm.enter();
  std::exception_ptr error;
  std::optional<non_void_t<T>> result;
  try {
    if constexpr (std::is_same_v<B, Coro<T>>) {
      if constexpr (std::is_void_v<T>) {
        co_await std::move(body);
      } else {
        result.emplace(co_await std::move(body));
      }
    } else {
      if constexpr (std::is_void_v<T>) {
        co_await invoke_body(body, cm);
      } else {
        result.emplace(co_await invoke_body(body, cm));
      }
    }
  } catch (...) {
    error = std::current_exception();
  }
  cm.exit(error);
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*result);
}

/// A timeout body: a Coro or a callable as is; any other awaitable wrapped in a Coro.
template <class B>
auto scope_body(B body) {
  if constexpr (is_coro_type_v<B> || std::is_invocable_v<B&, Timeout&> || std::is_invocable_v<B&>) {
    return body;
  } else {
    static_assert(Awaitable<B>,
                  "asyncio::timeout(): the body must be a Coro, a callable returning one, or "
                  "an awaitable (Coro, Task, Future, or an awaiter such as lock.acquire())");
    if constexpr (Awaitable<B>) return to_coro(std::move(body));
  }
}

inline std::optional<double> deadline_after(std::optional<Duration> delay) {
  if (!delay) return std::nullopt;
  return get_running_loop().time() + delay->count();
}

}  // namespace detail

/// Runs `body` (a Coro, or a callable returning one, optionally taking Timeout&) with a
/// deadline `delay` from now; nullopt means none. Throws TimeoutError if it expires.
/// Python: `async with asyncio.timeout(delay):`.
/// `body` may also be any other awaitable (`timeout(1s, lock.acquire())`,
/// `timeout(1s, task)`): it is awaited in the scope, as Python's
/// `async with timeout(d): await aw`.
template <class B>
auto timeout(std::optional<Duration> delay, B body) {
  return detail::run_with_timeout(detail::deadline_after(delay),
                                  detail::scope_body(std::move(body)));
}

/// As timeout(), with an absolute deadline on the loop.time() clock.
/// Python: `async with asyncio.timeout_at(when):`.
template <class B>
auto timeout_at(std::optional<double> when, B body) {
  return detail::run_with_timeout(when, detail::scope_body(std::move(body)));
}

/// A Timeout whose deadline is `delay` from now (nullopt: none), not yet entered: the value
/// form, for async_with() (contextlib.hpp). Unlike the scope form, the Timeout outlives the
/// block, so expired() and when() can be read after it:
///
///   auto cm = asyncio::timeout(1s);
///   co_await asyncio::async_with(cm, [&]() -> asyncio::Coro<> { co_await work(); });
///   if (cm.expired()) ...   // only if TimeoutError was caught, or the body swallowed it
///
/// Needs a running loop (RuntimeError("no running event loop") otherwise).
/// Python: `async with asyncio.timeout(delay) as cm:`.
[[nodiscard]] Timeout timeout(std::optional<Duration> delay);

/// A Timeout with the absolute deadline `when` on the loop.time() clock, for async_with().
/// Python: `async with asyncio.timeout_at(when) as cm:`.
[[nodiscard]] Timeout timeout_at(std::optional<double> when);

namespace detail {
/// `owned`: `fut` is a task wait_for() created, whose value may be moved out; a future or
/// task the caller passed keeps its result (Python returns fut.result()).
template <class H>
Coro<value_of_t<H>> wait_for_expired(H fut, bool owned) {
  using T = value_of_t<H>;
  if (fut.done()) {
    // Python: `if fut.done(): return fut.result()`, before any TimeoutError conversion: an
    // already cancelled future re-raises its own CancelledError, a failed one its exception.
    if constexpr (std::is_void_v<T>) {
      fut.result();
      co_return;
    } else {
      co_return take_value(fut, owned);
    }
  }
  // Python: _cancel_and_wait (done-callback first, then cancel, then wait).
  WaitDone waiter(fut.impl());
  waiter.watch();
  fut.cancel();
  co_await waiter;
  try {
    if constexpr (std::is_void_v<T>) {
      fut.result();
    } else {
      co_return take_value(fut, owned);
    }
  } catch (const CancelledError&) {
    throw TimeoutError();
  }
}

/// wait_for() of a Coro, Task, AnyTask or Future.
template <class A>
Coro<value_of_t<A>> wait_for_impl(A aw, std::optional<Duration> timeout) {
  using T = detail::value_of_t<A>;
  if constexpr (!std::is_same_v<A, Coro<T>>) {
    if (&aw.get_loop() != &get_running_loop()) {
      // A future of another loop: the await raises Python's RuntimeError at once; neither
      // the timeout nor the cancellation below may touch it (its loop may run elsewhere).
      co_return co_await aw;
    }
  }
  if (timeout && timeout->count() <= 0) {
    co_return co_await detail::wait_for_expired(detail::ensure_future(std::move(aw)),
                                                detail::FutureOf<A>::creates_task);
  }
  if constexpr (std::is_same_v<A, Coro<T>>) {
    co_return co_await detail::run_with_timeout(detail::deadline_after(timeout), std::move(aw));
  } else {
    auto body = [&aw]() -> Coro<T> { co_return co_await aw; };
    co_return co_await detail::run_with_timeout(detail::deadline_after(timeout), body);
  }
}

}  // namespace detail

/// Awaits `aw` for at most `timeout` (Python: asyncio.wait_for). On expiry the inner work is
/// cancelled and waited for, then TimeoutError is thrown. nullopt waits forever; a timeout
/// <= 0 cancels at once unless `aw` is already done. `aw` is any Awaitable: a Coro, Task or
/// Future, or an awaiter such as lock.acquire(), queue.get(), sock_recv(): such an awaiter
/// runs in the awaiting task, as Python awaits a non-future awaitable inside wait_for, so on
/// expiry it is cancelled like any wait (a lock acquisition then does not take the lock).
template <class A>
auto wait_for(A aw, std::optional<Duration> timeout) {
  static_assert(Awaitable<A>, ASYNCIO_NOT_AWAITABLE_MESSAGE("asyncio::wait_for()"));
  if constexpr (detail::is_coro_type_v<A> || detail::is_future_handle_v<A>) {
    return detail::wait_for_impl(std::move(aw), timeout);
  } else if constexpr (Awaitable<A>) {
    return detail::wait_for_impl(detail::to_coro(std::move(aw)), timeout);
  }
}

}  // namespace asyncio
