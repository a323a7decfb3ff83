// asyncio/condition.hpp — Condition (Python: asyncio.Condition).
//
//   asyncio::Condition cond;
//   // consumer:                                  // producer:
//   auto guard = co_await cond.lock();            auto guard = co_await cond.lock();
//   co_await cond.wait_for([&] { return !q.empty(); });    q.push_back(x);
//   auto x = q.front(); q.pop_front();            cond.notify();
//
// Semantics are Python 3.12's, step for step:
//   - wait() releases the lock, waits to be notified, then re-acquires the lock (queueing
//     FIFO behind other acquirers) before it returns.
//   - wait() re-acquires the lock even when it is cancelled, at any point: the task keeps
//     waiting for the lock, and the CancelledError is raised only once the lock is held
//     again. So the code after a cancelled wait() (a LockGuard's destructor) always owns the
//     lock. Further cancellations during the re-acquisition are absorbed into that one error;
//     if there were any, it carries no message (CPython raises a bare CancelledError then).
//   - A notification received by a waiter that is then cancelled before it runs is consumed,
//     not passed on (as in 3.12; 3.13 passes it on).
//   - notify(n) wakes up to n waiters that are not already woken or cancelled, in FIFO order.
//
// Implementation: wait() and wait_for() are hand-written awaiters (no coroutine frame, no
// allocation): a single waiter node moves from the condition's queue to the lock's queue, and
// the intermediate wake-ups run the state machine of CPython's Condition.wait() at exactly the
// loop iterations where CPython's task steps would run it.
#pragma once

#include <cassert>
#include <functional>
#include <optional>
#include <string>
#include <type_traits>

#include "asyncio/lock.hpp"

namespace asyncio {

class Condition;

namespace detail {

/// The state machine of Condition.wait()/wait_for() (see condition.hpp's header comment).
class ConditionWaitBase : public Suspension {
 public:
  /// Movable until awaited (so that wait_for(), gather()... can take it); pinned once
  /// await_ready ran.
  ConditionWaitBase(ConditionWaitBase&& o) noexcept : Suspension(), cond_(o.cond_), lock_(o.lock_) {
    assert(o.phase_ == Phase::Idle && o.task_ == nullptr && !o.error_ &&
           "awaiter moved after co_await");
  }
  ConditionWaitBase& operator=(ConditionWaitBase&&) = delete;

  bool cancel_awaited(const std::string& message) override;
  /// Call graphs: what the task waits on.
  std::string describe_wait() const override { return "Condition.wait"; }

 protected:
  explicit ConditionWaitBase(Condition& cond) noexcept;
  ~ConditionWaitBase() { node_.remove(); }

  /// For await_ready: false if the lock is held (the wait must suspend); otherwise stores
  /// Python's RuntimeError for await_resume and returns true.
  bool fail_unless_locked();
  /// await_suspend's body: releases the lock and waits to be notified.
  void start(std::coroutine_handle<> h);
  /// await_resume's body: throws the error or CancelledError the wait ended with, if any.
  void finish_resume();
  /// wait_for(): evaluates the predicate (remembering its value); true if it holds.
  /// wait(): always true.
  virtual bool predicate_holds() = 0;

 private:
  enum class Phase : std::uint8_t { Idle, Notify, Acquire, Running, Finished };

  static void on_wakeup(void* self, bool discard);
  void resume_step();
  void begin_wait();
  void reacquire();
  void reacquired();
  bool check_predicate() noexcept;
  void finish();

  Condition* cond_;
  Lock* lock_;
  TaskBase* task_ = nullptr;
  std::coroutine_handle<> handle_;
  Waiter node_;
  Phase phase_ = Phase::Idle;
  bool cancelled_ = false;    // a CancelledError is to be raised once the lock is held
  bool bare_ = false;         // ... without message: the re-acquisition was cancelled
  std::string message_;       // its message otherwise (the wait for notify was cancelled)
  std::string node_message_;  // message of the cancel() that cancelled node_
  std::exception_ptr error_;  // another exception to raise (RuntimeError, predicate's)
};

/// Awaiter of Condition::wait().
class [[nodiscard]] ConditionWait final : public ConditionWaitBase {
 public:
  explicit ConditionWait(Condition& cond) noexcept : ConditionWaitBase(cond) {}
  bool await_ready() { return fail_unless_locked(); }  // namespace detail
  void await_suspend(std::coroutine_handle<> h) { start(h); }
  /// true, as Python's Condition.wait() returns True.
  bool await_resume() {
    finish_resume();
    return true;
  }

 private:
  bool predicate_holds() override { return true; }
};  // namespace asyncio

/// Awaiter of Condition::wait_for(pred): returns the predicate's last value.
template <class Pred>
class [[nodiscard]] ConditionWaitFor final : public ConditionWaitBase {
 public:
  using result_type = std::decay_t<std::invoke_result_t<Pred&>>;
  static_assert(std::is_constructible_v<bool, result_type>,
                "Condition::wait_for(pred): pred() must return something testable as a bool");

  ConditionWaitFor(Condition& cond, Pred pred) : ConditionWaitBase(cond), pred_(std::move(pred)) {}

  /// Python evaluates the predicate first: if it holds, no wait (and no lock check) happens.
  bool await_ready() {
    if (predicate_holds()) return true;
    return fail_unless_locked();
  }
  void await_suspend(std::coroutine_handle<> h) { start(h); }
  result_type await_resume() {
    finish_resume();
    return std::move(*result_);
  }

 private:
  bool predicate_holds() override {
    result_.reset();
    result_.emplace(std::invoke(pred_));
    return static_cast<bool>(*result_);
  }

  Pred pred_;
  std::optional<result_type> result_;
};

}  // namespace detail

/// A condition variable for tasks (Python: asyncio.Condition): tasks wait() until another
/// task notifies them, always holding the associated Lock around wait(), notify() and the
/// state they check. Neither copyable nor movable.
class Condition {
 public:
  /// A condition with its own new Lock (Python: Condition()).
  Condition() noexcept : lock_(&own_lock_) {}
  /// A condition sharing `lock`, which must outlive it (Python: Condition(lock)). Acquiring
  /// either the condition or the lock acquires the same lock.
  explicit Condition(Lock& lock) noexcept : lock_(&lock) {}
  Condition(const Condition&) = delete;
  Condition& operator=(const Condition&) = delete;

  /// Acquires the underlying lock (Python: Condition.acquire, i.e. Lock.acquire).
  [[nodiscard]] detail::LockAcquire<false> acquire() noexcept { return lock_->acquire(); }
  /// `auto guard = co_await cond.lock()`: acquires the underlying lock and returns a guard
  /// releasing it at the end of the scope (Python: `async with cond:`).
  [[nodiscard]] detail::LockAcquire<true> lock() noexcept { return lock_->lock(); }
  /// Releases the underlying lock (Python: Condition.release). Throws RuntimeError("Lock is
  /// not acquired.") if it is not locked.
  void release() { lock_->release(); }
  /// Whether the underlying lock is held (Python: Condition.locked()).
  bool locked() const noexcept { return lock_->locked(); }

  /// acquire(), for `co_await async_with(cond, body)` (contextlib.hpp). Python: __aenter__.
  [[nodiscard]] detail::LockAcquire<false> aenter() noexcept { return lock_->acquire(); }
  /// release() as an awaitable that completes at once; never suppresses. Python: __aexit__.
  [[nodiscard]] auto aexit(std::exception_ptr) {
    return detail::Immediate([this] { release(); });
  }

  /// `co_await cond.wait()`: releases the lock, waits until notified, re-acquires the lock
  /// (Python: `await cond.wait()`) and gives true, as Python returns True. The calling task must
  /// hold the lock: otherwise throws RuntimeError("cannot wait on un-acquired lock"). Returns, or
  /// throws, always holding the lock again, even when cancelled (then with CancelledError).
  [[nodiscard]] detail::ConditionWait wait() noexcept { return detail::ConditionWait(*this); }

  /// `co_await cond.wait_for(pred)`: waits until `pred()` is truthy (Python:
  /// Condition.wait_for) and returns its last value. `pred` is called first, then after every
  /// wake-up with the lock held; it must not suspend. If it is true at once no wait happens
  /// (then the lock need not be held); otherwise as wait(), repeatedly.
  template <class Pred>
  requires std::is_invocable_v<Pred&>
  [[nodiscard]] detail::ConditionWaitFor<std::decay_t<Pred>> wait_for(Pred&& pred) {
    return detail::ConditionWaitFor<std::decay_t<Pred>>(*this, std::forward<Pred>(pred));
  }

  /// Wakes up to `n` waiting tasks (Python: Condition.notify(n=1)); a no-op without waiters.
  /// The woken tasks return from wait() only once they re-acquire the lock, which the caller
  /// still holds. Throws RuntimeError("cannot notify on un-acquired lock") if it is not held.
  void notify(std::size_t n = 1);
  /// Wakes every waiting task (Python: Condition.notify_all()). Same precondition.
  void notify_all();

  /// A description like Python's repr(): "<asyncio::Condition [locked, waiters:1]>".
  std::string repr() const;

 private:
  friend class detail::ConditionWaitBase;

  Lock own_lock_;  // used unless a lock was given
  Lock* lock_;
  detail::WaiterQueue waiters_;
  detail::LoopBound loop_;
};

}  // namespace asyncio
