// asyncio/semaphore.hpp — Semaphore, BoundedSemaphore and SemaphoreGuard (Python:
// asyncio.Semaphore, asyncio.BoundedSemaphore, `async with sem:`).
//
//   asyncio::Semaphore sem(2);              // at most two holders at a time
//   {
//     auto permit = co_await sem.lock();    // Python: async with sem:
//     ...
//   }                                       // released here, even on exception/cancellation
//
// Semantics are Python 3.12's, step for step:
//   - acquire() succeeds without suspending only if value() > 0 and no waiter (not cancelled)
//     is queued; otherwise the task queues, FIFO.
//   - release() increments the value and hands a permit to the first waiter not yet woken
//     (the value is decremented for it at once).
//   - A waiter cancelled before being woken leaves without a permit. A waiter woken and then
//     cancelled before it runs gives its permit back and wakes the next waiter.
//   - A woken waiter that finds permits left when it runs wakes the next waiter too.
// A semaphore belongs to one event loop and must outlive the tasks waiting on it (see
// lock.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "asyncio/lock.hpp"

namespace asyncio {

class Semaphore;

namespace detail {
template <bool Guard>
class SemaphoreAcquire;
}  // namespace detail

/// Holds one permit of a Semaphore acquired with `co_await sem.lock()` and releases it when
/// destroyed (Python: `async with sem:`). Movable, not copyable. An empty (default-constructed
/// or moved-from) guard holds nothing.
class [[nodiscard]] SemaphoreGuard {
 public:
  SemaphoreGuard() noexcept = default;
  /// Takes over `other`'s permit; `other` becomes empty.
  SemaphoreGuard(SemaphoreGuard&& other) noexcept : sem_(std::exchange(other.sem_, nullptr)) {}
  /// Releases the permit held (if any), then takes over `other`'s.
  SemaphoreGuard& operator=(SemaphoreGuard&& other) noexcept {
    if (this != &other) {
      reset();
      sem_ = std::exchange(other.sem_, nullptr);
    }
    return *this;
  }
  SemaphoreGuard(const SemaphoreGuard&) = delete;
  SemaphoreGuard& operator=(const SemaphoreGuard&) = delete;
  /// Releases the permit if still held (Python: __aexit__). If that fails (a BoundedSemaphore
  /// released too many times behind the guard's back), the ValueError goes to the loop's
  /// exception handler.
  ~SemaphoreGuard() { reset(); }

  /// Releases the permit now. Throws RuntimeError if the guard holds nothing, or ValueError
  /// for a BoundedSemaphore already at its initial value.
  /// Python: Semaphore.release() inside `async with sem:`.
  void unlock();
  /// Whether the guard still holds its permit.
  /// C++ only (as std::unique_lock::owns_lock()).
  bool owns_lock() const noexcept { return sem_ != nullptr; }
  /// owns_lock().
  explicit operator bool() const noexcept { return owns_lock(); }
  /// The semaphore the permit belongs to, or nullptr.
  /// C++ only (no Python counterpart).
  Semaphore* semaphore() const noexcept { return sem_; }

 private:
  template <bool>
  friend class detail::SemaphoreAcquire;
  explicit SemaphoreGuard(Semaphore& sem) noexcept : sem_(&sem) {}
  void reset() noexcept;

  Semaphore* sem_ = nullptr;
};

/// A counter of permits (Python: asyncio.Semaphore): acquire() takes one, waiting while there
/// are none; release() gives one back. Unbounded: release() may raise the value above its
/// initial value (see BoundedSemaphore). Neither copyable nor movable.
class Semaphore {
 public:
  /// A semaphore with `value` permits (Python: Semaphore(value=1)). Throws
  /// ValueError("Semaphore initial value must be >= 0") if `value` is negative.
  explicit Semaphore(std::int64_t value = 1) : Semaphore(value, -1) {}
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  /// `co_await sem.acquire()` returns once this task holds a permit (Python:
  /// `await sem.acquire()`) and gives true, as Python returns True. Cancellable: a cancelled
  /// acquire throws CancelledError and never keeps a permit.
  [[nodiscard]] detail::SemaphoreAcquire<false> acquire() noexcept;
  /// `auto permit = co_await sem.lock()`: acquire() returning a SemaphoreGuard that releases
  /// the permit at the end of its scope (Python: `async with sem:`).
  [[nodiscard]] detail::SemaphoreAcquire<true> lock() noexcept;

  /// Gives a permit back and wakes the first waiter not yet woken (Python: Semaphore.release).
  /// BoundedSemaphore: throws ValueError("BoundedSemaphore released too many times") if the
  /// value is already at its initial value.
  void release();

  /// Whether acquire() would suspend (Python: Semaphore.locked()): no permit left, or tasks
  /// (not cancelled) queued ahead.
  bool locked() const noexcept { return value_ == 0 || waiters_.live() != 0; }

  /// The number of free permits (Python's Semaphore._value). Permits handed to woken tasks
  /// that have not run yet are already deducted.
  std::int64_t value() const noexcept { return value_; }

  /// acquire(), for `co_await async_with(sem, body)` (contextlib.hpp). Python: __aenter__.
  [[nodiscard]] detail::SemaphoreAcquire<false> aenter() noexcept;
  /// release() as an awaitable that completes at once; never suppresses. Python: __aexit__.
  [[nodiscard]] auto aexit(std::exception_ptr) {
    return detail::Immediate([this] { release(); });
  }

  /// A description like Python's repr(): "<asyncio::Semaphore [unlocked, value:1]>" or
  /// "<asyncio::BoundedSemaphore [locked, waiters:2]>".
  std::string repr() const;

 protected:
  /// `bound` < 0: unbounded; else release() refuses to exceed it.
  Semaphore(std::int64_t value, std::int64_t bound);

 private:
  friend class detail::SemaphoreAcquire<false>;
  friend class detail::SemaphoreAcquire<true>;

  bool try_acquire_fast() noexcept {
    if (locked()) return false;
    --value_;
    return true;
  }
  /// Python's _wake_up_next: gives a permit to the first waiter that is not done.
  void wake_up_next();
  void bind(EventLoop& loop);
  const char* name() const noexcept {
    return bound_ < 0 ? "asyncio::Semaphore" : "asyncio::BoundedSemaphore";
  }

  detail::WaiterQueue waiters_;
  detail::LoopBound loop_;
  std::int64_t value_;
  std::int64_t bound_;
};

/// A Semaphore whose release() refuses to raise the value above its initial value (Python:
/// asyncio.BoundedSemaphore), catching releases without a matching acquire.
class BoundedSemaphore : public Semaphore {
 public:
  /// Throws ValueError if `value` is negative.
  explicit BoundedSemaphore(std::int64_t value = 1) : Semaphore(value, value) {}
};

namespace detail {

template <bool Guard>
class [[nodiscard]] SemaphoreAcquire final : public QueueAwaiter {
 public:
  explicit SemaphoreAcquire(Semaphore& sem) noexcept : sem_(&sem) {}

  bool await_ready() noexcept { return sem_->try_acquire_fast(); }

  void await_suspend(std::coroutine_handle<> h) {
    TaskBase& task = current_task_for("acquire a Semaphore");
    sem_->bind(task.loop());
    wait_in(sem_->waiters_, task, h);
  }

  /// acquire(): true, as Python's acquire() returns True; lock(): the guard.
  auto await_resume() {
    if (suspended()) resume();
    if constexpr (Guard) {
      return SemaphoreGuard(*sem_);
    } else {
      return true;
    }
  }

  /// Call graphs: what the task waits on.
  std::string describe_wait() const override { return "Semaphore.acquire"; }

 private:
  /// Python: the rest of Semaphore.acquire() after `await fut`.
  void resume() {
    try {
      remove_and_check("asyncio::Semaphore");  // (sem_ may be gone: no name())
    } catch (const CancelledError&) {
      if (!node_.orphaned && !node_.cancelled()) {
        // Woken (a permit was deducted for us) but cancelled before running: pass it on.
        ++sem_->value_;
        sem_->wake_up_next();
      }
      throw;
    }
    if (sem_->value_ > 0) sem_->wake_up_next();
  }

  Semaphore* sem_;
};

}  // namespace detail

inline detail::SemaphoreAcquire<false> Semaphore::aenter() noexcept {
  return acquire();
}

inline detail::SemaphoreAcquire<false> Semaphore::acquire() noexcept {
  return detail::SemaphoreAcquire<false>(*this);
}
inline detail::SemaphoreAcquire<true> Semaphore::lock() noexcept {
  return detail::SemaphoreAcquire<true>(*this);
}

}  // namespace asyncio
