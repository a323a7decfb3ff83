// asyncio/concurrent_future.hpp — ConcurrentFuture<T>, a thread-safe future (Python:
// concurrent.futures.Future).
//
// Unlike asyncio::Future, which belongs to one event loop and one thread, a ConcurrentFuture
// may be completed, waited on and cancelled from any thread: it is what
// Executor::submit() and run_coroutine_threadsafe() return. Waiting blocks the calling thread,
// so never call result() on an event loop's thread for a future that loop must complete; from
// a coroutine, `co_await asyncio::wrap_future(f)` (asyncio/threads.hpp) instead.
//
//   asyncio::ConcurrentFuture<int> f = asyncio::run_coroutine_threadsafe(compute(), loop);
//   int v = f.result(5s);  // blocks this (non-loop) thread for at most 5 seconds
//
// States (as Python): pending -> running (optional, set by whoever runs the work) ->
// finished, or pending -> cancelled. A running future cannot be cancelled.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "asyncio/events.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

template <class T = void>
class ConcurrentFuture;

namespace detail {

/// The state shared by ConcurrentFuture handles, minus the value. All members are
/// thread-safe; callbacks run outside the lock.
class ConcurrentStateBase : public std::enable_shared_from_this<ConcurrentStateBase> {
 public:
  using Callback = std::function<void(const std::shared_ptr<ConcurrentStateBase>&)>;

  ConcurrentStateBase() = default;
  ConcurrentStateBase(const ConcurrentStateBase&) = delete;
  ConcurrentStateBase& operator=(const ConcurrentStateBase&) = delete;
  virtual ~ConcurrentStateBase() = default;

  bool cancel();
  bool cancelled() const;
  bool running() const;
  bool done() const;
  bool set_running_or_notify_cancel();
  void set_exception(std::exception_ptr e);
  /// Blocks until done or until `timeout` passed; returns done().
  bool wait(std::optional<Duration> timeout) const;
  /// Waits, then throws CancelledError, TimeoutError or the stored exception; returns if a
  /// value (or void) is there.
  void wait_for_result(std::optional<Duration> timeout) const;
  std::exception_ptr exception(std::optional<Duration> timeout) const;
  /// For a finished future with a single reader: moves the exception out (the state then
  /// looks like a void success). Used so that an exception object handed to a loop is never
  /// freed by the thread that produced it (ThreadSanitizer cannot see exception_ptr's
  /// reference counting in libstdc++ and reports a false race otherwise).
  std::exception_ptr take_exception();
  /// Calls `cb` when done, at once (in this thread) if it already is.
  void add_callback(Callback cb);

 protected:
  /// Locks, and throws InvalidStateError unless pending or running.
  std::unique_lock<std::mutex> lock_for_completion();
  /// Marks finished (the caller stored the outcome under `lock`), wakes waiters, unlocks,
  /// then runs the callbacks.
  void finish(std::unique_lock<std::mutex>& lock);

 private:
  enum class State : std::uint8_t { Pending, Running, Cancelled, CancelledAndNotified, Finished };
  bool done_locked() const noexcept { return state_ >= State::Cancelled; }
  /// Waits (with `lock` held) until done or the timeout; returns done.
  bool wait_locked(std::unique_lock<std::mutex>& lock, std::optional<Duration> timeout) const;
  void run_callbacks(std::vector<Callback> callbacks);

  mutable std::mutex mutex_;
  mutable std::condition_variable done_cv_;
  State state_ = State::Pending;
  std::exception_ptr exception_;
  std::vector<Callback> callbacks_;
};

template <class T>
class ConcurrentState final : public ConcurrentStateBase {
 public:
  using Stored = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

  template <class... U>
  void set_value(U&&... value) {
    std::unique_lock lock = lock_for_completion();
    value_.emplace(std::forward<U>(value)...);
    finish(lock);
  }
  /// Only after wait_for_result() returned: the value never changes once set.
  Stored& value() noexcept { return *value_; }

 private:
  std::optional<Stored> value_;
};

}  // namespace detail

/// A thread-safe, reference-counted handle to a result computed elsewhere (Python:
/// concurrent.futures.Future). Copies refer to the same future. Every member may be called
/// from any thread.
template <class T>
class ConcurrentFuture {
  using State = detail::ConcurrentState<T>;

 public:
  using value_type = T;  ///< The result type.

  /// A new pending future (Python: `concurrent.futures.Future()`).
  ConcurrentFuture() : state_(std::make_shared<State>()) {}
  /// Internal: another handle to `state`.
  explicit ConcurrentFuture(std::shared_ptr<State> state) noexcept : state_(std::move(state)) {}

  /// Cancels the future unless it is running or done; returns whether it is cancelled now.
  /// Wakes the waiters and runs the done-callbacks in this thread. For a future from
  /// run_coroutine_threadsafe(), also cancels the task, on its loop.
  /// Python: concurrent.futures.Future.cancel().
  bool cancel() const { return state_->cancel(); }
  /// Whether cancel() succeeded.
  /// Python: concurrent.futures.Future.cancelled().
  bool cancelled() const { return state_->cancelled(); }
  /// Whether the work is executing now (set_running_or_notify_cancel() was called).
  /// Python: concurrent.futures.Future.running().
  bool running() const { return state_->running(); }
  /// Whether finished or cancelled.
  /// Python: concurrent.futures.Future.done().
  bool done() const { return state_->done(); }

  /// Blocks until done, at most `timeout` (forever if none); returns done(). Not in Python's
  /// Future (there: concurrent.futures.wait([f], timeout)), handy in C++.
  bool wait(std::optional<Duration> timeout = std::nullopt) const { return state_->wait(timeout); }

  /// Blocks until done (at most `timeout`), then returns the value — a reference that stays
  /// valid while a handle exists; move from it if you are its only reader — or throws the
  /// exception, CancelledError if cancelled, TimeoutError if the timeout expired first.
  /// Python: concurrent.futures.Future.result(timeout).
  std::add_lvalue_reference_t<T> result(std::optional<Duration> timeout = std::nullopt) const {
    state_->wait_for_result(timeout);
    if constexpr (!std::is_void_v<T>) return state_->value();
  }

  /// Blocks as result() does; returns the exception (null if it finished with a value).
  /// Throws CancelledError if cancelled, TimeoutError on timeout.
  /// Python: concurrent.futures.Future.exception(timeout).
  std::exception_ptr exception(std::optional<Duration> timeout = std::nullopt) const {
    return state_->exception(timeout);
  }

  /// Calls `callback(ConcurrentFuture<T>)` once done — in the thread that completes or
  /// cancels the future, or at once in this thread if it is done already. Exceptions thrown
  /// by the callback are printed to stderr and otherwise ignored (Python logs them).
  template <class F>
  void add_done_callback(F&& callback) const {
    state_->add_callback([fn = std::decay_t<F>(std::forward<F>(callback))](
                             const std::shared_ptr<detail::ConcurrentStateBase>& s) mutable {
      fn(ConcurrentFuture(std::static_pointer_cast<State>(s)));
    });
  }

  // ---- For whoever produces the result (executors, tests) ----------------------------------

  /// Pending -> running and returns true; if cancelled, returns false (the work must then be
  /// skipped). Throws RuntimeError in any other state (Python:
  /// Future.set_running_or_notify_cancel).
  bool set_running_or_notify_cancel() const { return state_->set_running_or_notify_cancel(); }

  /// Stores the value and completes the future. Throws InvalidStateError if it is done.
  /// Python: concurrent.futures.Future.set_result().
  template <class U = T>
  requires(!std::is_void_v<T> && std::is_constructible_v<T, U&&>) void set_result(U&& value) const {
    state_->set_value(std::forward<U>(value));
  }
  /// Completes a ConcurrentFuture<void> (Python: Future.set_result(None)). Throws
  /// InvalidStateError if it is done.
  void set_result() const requires std::is_void_v<T> { state_->set_value(); }
  /// Completes the future with an exception. Throws InvalidStateError if it is done.
  /// Python: concurrent.futures.Future.set_exception().
  void set_exception(std::exception_ptr e) const { state_->set_exception(std::move(e)); }
  /// Completes the future with the exception object `e` (Python: Future.set_exception(e)).
  template <class E>
  requires(!std::is_same_v<std::decay_t<E>, std::exception_ptr>) void set_exception(E&& e) const {
    set_exception(std::make_exception_ptr(std::forward<E>(e)));
  }

  /// Whether both handles refer to the same future.
  friend bool operator==(const ConcurrentFuture& a, const ConcurrentFuture& b) noexcept {
    return a.state_ == b.state_;
  }

  /// The shared state (for the library's own chaining code).
  /// C++ only (no Python counterpart).
  const std::shared_ptr<State>& state() const noexcept { return state_; }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace asyncio
