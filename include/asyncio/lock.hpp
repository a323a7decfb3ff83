// asyncio/lock.hpp — Lock and LockGuard (Python: asyncio.Lock, `async with lock:`), and the
// waiter queue shared by every primitive of asyncio/locks.hpp.
//
//   asyncio::Lock lock;
//   {
//     auto guard = co_await lock.lock();   // Python: async with lock:
//     ...                                  // released when `guard` goes out of scope,
//   }                                      // including by exception or cancellation
//
//   co_await lock.acquire();               // Python: await lock.acquire()
//   lock.release();                        // Python: lock.release()
//
// Semantics are Python 3.12's, step for step:
//   - acquire() succeeds without suspending (and without a cancellation check) only if the
//     lock is free and every queued waiter has been cancelled; otherwise the task queues.
//   - Waiters are served FIFO. release() wakes the first waiter; the lock is taken by it when
//     it runs, so between the wake-up and that moment locked() is false, yet acquire() still
//     queues (the woken waiter is not cancelled).
//   - A waiter cancelled before it is woken leaves without the lock. A waiter woken and then
//     cancelled before it runs does not take the lock either: it wakes the next waiter.
//
// Like all primitives here, a Lock belongs to one event loop (bound the first time a task has
// to wait on it; Python's _LoopBoundMixin) and must outlive the tasks waiting on it. If it is
// destroyed anyway, they are detached instead of left dangling: a cancellation still wakes
// them with CancelledError, and a waiter already handed the lock (or a Semaphore permit, or a
// Condition notification) raises RuntimeError instead of proceeding without it. (A waiter of a
// destroyed Event that was already set returns normally: nothing was handed over.)
#pragma once

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <string>
#include <utility>

#include "asyncio/detail/immediate.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

class Lock;
class Condition;

namespace detail {

class WaiterQueue;
class ConditionWaitBase;

/// What CPython keeps in a primitive's `_waiters` deque: one waiter future per waiting task.
/// Here it is a node inside the awaiter (in the waiting coroutine's frame), so waiting
/// allocates nothing. Like the future, it stays queued after it is done or cancelled, until
/// its task runs and removes it (Python's `finally: self._waiters.remove(fut)`).
struct Waiter : ListNode {
  enum class State : std::uint8_t { Pending, Done, Cancelled };

  WaiterQueue* queue = nullptr;  // the queue it is linked into; null when not linked
  EventLoop* loop = nullptr;     // where `wakeup` is scheduled
  ReadyItem wakeup{};            // scheduled once, when the waiter becomes done or cancelled
  State state = State::Pending;
  bool orphaned = false;  // its primitive was destroyed while it was queued

  /// Python: fut.done() (true once a result is set or it is cancelled).
  bool done() const noexcept { return state != State::Pending; }
  /// Python: fut.cancelled().
  bool cancelled() const noexcept { return state == State::Cancelled; }
  /// Python: fut.set_result(...). Precondition: !done().
  inline void set_result();
  /// Python: fut.cancel(). Precondition: !done().
  inline void cancel();
  /// Python: waiters.remove(fut). Does nothing if not queued.
  inline void remove() noexcept;
};

/// A FIFO of Waiters (Python's `collections.deque` of futures). Counts its members and those
/// not cancelled, so the checks CPython makes with all()/any() over the deque are O(1).
class WaiterQueue {
 public:
  WaiterQueue() noexcept { head_.prev = head_.next = &head_; }
  WaiterQueue(const WaiterQueue&) = delete;
  WaiterQueue& operator=(const WaiterQueue&) = delete;
  ~WaiterQueue() { detach_all(); }

  /// Appends `w` as a new pending waiter.
  void push(Waiter* w) noexcept {
    w->state = Waiter::State::Pending;
    w->orphaned = false;
    w->queue = this;
    w->prev = head_.prev;
    w->next = &head_;
    head_.prev->next = w;
    head_.prev = w;
    ++size_;
    ++live_;
  }

  bool empty() const noexcept { return size_ == 0; }
  /// Number of queued waiters, done and cancelled ones included (Python: len(waiters)).
  std::size_t size() const noexcept { return size_; }
  /// Number of queued waiters that are not cancelled.
  std::size_t live() const noexcept { return live_; }
  Waiter* front() const noexcept {
    return head_.next == &head_ ? nullptr : static_cast<Waiter*>(head_.next);
  }

  /// Calls `f(Waiter*)` in FIFO order while it returns true. `f` must not unlink waiters.
  template <class F>
  void for_each(F&& f) {
    for (ListNode* n = head_.next; n != &head_; n = n->next) {
      if (!f(static_cast<Waiter*>(n))) return;
    }
  }

  /// Unlinks every waiter and marks it orphaned (the primitive is being destroyed).
  void detach_all() noexcept {
    while (head_.next != &head_) {
      auto* w = static_cast<Waiter*>(head_.next);
      w->unlink();
      w->queue = nullptr;
      w->orphaned = true;
    }
    size_ = live_ = 0;
  }

 private:
  friend struct Waiter;
  ListNode head_;
  std::size_t size_ = 0;
  std::size_t live_ = 0;
};

inline void Waiter::set_result() {
  state = State::Done;
  LoopAccess::schedule(*loop, wakeup);
}

inline void Waiter::cancel() {
  if (queue) --queue->live_;
  state = State::Cancelled;
  LoopAccess::schedule(*loop, wakeup);
}

inline void Waiter::remove() noexcept {
  if (!queue) return;
  --queue->size_;
  if (!cancelled()) --queue->live_;
  unlink();
  queue = nullptr;
}

/// Python's mixins._LoopBoundMixin: a primitive is bound to the loop of the first task that
/// has to wait on it, and refuses to be waited on from another loop.
class LoopBound {
 public:
  /// Binds to `loop` if not bound yet. False if bound to another loop: the caller throws
  /// RuntimeError("<repr> is bound to a different event loop").
  [[nodiscard]] bool bind(EventLoop& loop) noexcept {
    if (loop_ == nullptr) loop_ = &loop;
    return loop_ == &loop;
  }

 private:
  EventLoop* loop_ = nullptr;
};

/// Reports an exception thrown while a guard released its primitive in its destructor (a
/// destructor cannot throw): to the running loop's exception handler, else to stderr.
void report_guard_error(const char* message) noexcept;

/// The common part of the awaiters that wait in a single WaiterQueue (acquire of Lock and
/// Semaphore, Event::wait). Follows the leaf-awaiter protocol of docs/internals.md: the waiter
/// node plays the role of CPython's waiter future.
class QueueAwaiter : public Suspension {
 public:
  /// Movable until awaited (so that wait_for(), gather(), create_task()... can take it):
  /// only the target moves, the waiter node is not linked yet. Pinned once suspended.
  QueueAwaiter(QueueAwaiter&& o) noexcept : Suspension() {
    assert(o.task_ == nullptr && o.node_.queue == nullptr && "awaiter moved after co_await");
    (void)o;
  }
  QueueAwaiter& operator=(QueueAwaiter&&) = delete;

  /// Python: the task's `fut_waiter.cancel(msg)`. Possible only while the waiter is pending;
  /// once it is done (woken), the task's must_cancel delivers the cancellation instead.
  bool cancel_awaited(const std::string& message) override {
    if (node_.done()) return false;
    message_ = message;
    node_.cancel();
    return true;
  }

 protected:
  QueueAwaiter() noexcept = default;
  ~QueueAwaiter() { node_.remove(); }  // the frame is destroyed while waiting (loop closing)

  /// await_suspend's body: queue a new pending waiter, then suspend the task.
  void wait_in(WaiterQueue& queue, TaskBase& task, std::coroutine_handle<> h) {
    task_ = &task;
    node_.loop = &task.loop();
    node_.wakeup = {&TaskBase::step_entry, &task};
    queue.push(&node_);
    task.suspend(h, this);
  }

  /// Whether the task suspended (false: the fast path completed in await_ready).
  bool suspended() const noexcept { return task_ != nullptr; }

  /// await_resume's first part: removes the waiter from its queue (Python's `finally`), then
  /// throws what `await fut` raises: CancelledError if the waiter was cancelled or the task
  /// has a pending cancellation. If the primitive was destroyed meanwhile and `orphan` names
  /// it (a primitive whose wake-up hands over a resource that died with it), throws
  /// RuntimeError("<orphan> was destroyed while a task was waiting on it").
  void remove_and_check(const char* orphan) {
    node_.remove();
    if (node_.cancelled()) {
      // A cancel() made after the waiter was cancelled only set must_cancel: CPython's step
      // clears it and keeps the waiter's CancelledError (and so its message).
      task_->consume_must_cancel();
      throw CancelledError(std::move(message_));
    }
    task_->throw_if_must_cancel();
    if (node_.orphaned && orphan != nullptr) {
      throw RuntimeError(std::string(orphan) + " was destroyed while a task was waiting on it");
    }
  }

  Waiter node_;
  TaskBase* task_ = nullptr;
  std::string message_;
};

/// Awaiter of Lock::acquire() (Guard = false) and Lock::lock() (Guard = true).
template <bool Guard>
class LockAcquire;

}  // namespace detail

/// Holds a Lock acquired with `co_await lock.lock()` and releases it when destroyed: the
/// equivalent of Python's `async with lock:` block, which cannot leak the lock on an exception
/// or a cancellation. Movable, not copyable. An empty (default-constructed or moved-from)
/// guard holds nothing.
class [[nodiscard]] LockGuard {
 public:
  LockGuard() noexcept = default;
  /// Takes over `other`'s lock; `other` becomes empty.
  LockGuard(LockGuard&& other) noexcept : lock_(std::exchange(other.lock_, nullptr)) {}
  /// Releases the lock held (if any), then takes over `other`'s.
  LockGuard& operator=(LockGuard&& other) noexcept {
    if (this != &other) {
      reset();
      lock_ = std::exchange(other.lock_, nullptr);
    }
    return *this;
  }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;
  /// Releases the lock if still held (Python: __aexit__). If that fails (someone released
  /// the lock behind the guard's back), the RuntimeError goes to the loop's exception handler.
  ~LockGuard() { reset(); }

  /// Releases the lock now, before the end of the scope. Throws RuntimeError if the guard
  /// holds nothing, or if the lock is not locked (Lock::release's error).
  /// Python: Lock.release() inside `async with lock:`.
  void unlock();
  /// Whether the guard still holds the lock (it was not released early or moved from).
  /// C++ only (as std::unique_lock::owns_lock()).
  bool owns_lock() const noexcept { return lock_ != nullptr; }
  /// owns_lock().
  explicit operator bool() const noexcept { return owns_lock(); }
  /// The lock held, or nullptr (as std::unique_lock::mutex()).
  /// C++ only (as std::unique_lock::mutex()).
  Lock* mutex() const noexcept { return lock_; }

 private:
  template <bool>
  friend class detail::LockAcquire;
  explicit LockGuard(Lock& lock) noexcept : lock_(&lock) {}
  void reset() noexcept;

  Lock* lock_ = nullptr;
};

/// A mutual-exclusion lock for tasks (Python: asyncio.Lock). Not owned by a task: any task may
/// release it. Not reentrant: a task acquiring a lock it holds waits forever. Neither copyable
/// nor movable (waiting tasks point into it).
class Lock {
 public:
  /// Creates an unlocked lock.
  Lock() noexcept = default;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  /// `co_await lock.acquire()` returns once this task holds the lock (Python:
  /// `await lock.acquire()`) and gives true, as Python returns True. Without suspending if the lock
  /// is free and nobody (not cancelled) is queued; else FIFO. Cancellable: a cancelled acquire
  /// throws CancelledError and never takes the lock. Pair it with release(), or prefer lock().
  [[nodiscard]] detail::LockAcquire<false> acquire() noexcept;

  /// `auto guard = co_await lock.lock()`: acquire() returning a LockGuard that releases the
  /// lock at the end of its scope (Python: `async with lock:`).
  [[nodiscard]] detail::LockAcquire<true> lock() noexcept;

  /// Releases the lock and wakes the first waiter (Python: Lock.release). Throws
  /// RuntimeError("Lock is not acquired.") if the lock is not locked.
  void release();

  /// Whether the lock is held (Python: Lock.locked()).
  bool locked() const noexcept { return locked_; }

  /// acquire(), for `co_await async_with(lock, body)` (contextlib.hpp). Python: __aenter__.
  [[nodiscard]] detail::LockAcquire<false> aenter() noexcept;
  /// release() as an awaitable that completes at once; never suppresses. Python: __aexit__.
  [[nodiscard]] auto aexit(std::exception_ptr) {
    return detail::Immediate([this] { release(); });
  }

  /// A description like Python's repr(): "<asyncio::Lock [locked, waiters:2]>". The count
  /// includes waiters cancelled or woken but not yet resumed, as len(lock._waiters) does.
  std::string repr() const;

 private:
  friend class detail::LockAcquire<false>;
  friend class detail::LockAcquire<true>;
  friend class detail::ConditionWaitBase;

  /// Python's fast path: free, and every queued waiter cancelled. Takes the lock if so.
  bool try_acquire_fast() noexcept {
    if (locked_ || waiters_.live() != 0) return false;
    locked_ = true;
    return true;
  }
  /// Python's _wake_up_first: wakes the first queued waiter unless it is already done.
  void wake_up_first();
  /// Binds the lock to the loop of a task about to wait on it (Python: _get_loop()).
  void bind(EventLoop& loop);

  detail::WaiterQueue waiters_;
  detail::LoopBound loop_;
  bool locked_ = false;
};

namespace detail {

template <bool Guard>
class [[nodiscard]] LockAcquire final : public QueueAwaiter {
 public:
  explicit LockAcquire(Lock& lock) noexcept : lock_(&lock) {}

  bool await_ready() noexcept { return lock_->try_acquire_fast(); }

  void await_suspend(std::coroutine_handle<> h) {
    TaskBase& task = current_task_for("acquire a Lock");
    lock_->bind(task.loop());
    wait_in(lock_->waiters_, task, h);
  }

  /// acquire(): true, as Python's acquire() returns True; lock(): the guard.
  auto await_resume() {
    if (suspended()) resume();
    if constexpr (Guard) {
      return LockGuard(*lock_);
    } else {
      return true;
    }
  }

  /// Call graphs: what the task waits on.
  std::string describe_wait() const override { return "Lock.acquire"; }

 private:
  /// Python: the rest of Lock.acquire() after `await fut`.
  void resume() {
    try {
      remove_and_check("asyncio::Lock");
    } catch (const CancelledError&) {
      if (!node_.orphaned && !lock_->locked_) lock_->wake_up_first();
      throw;
    }
    lock_->locked_ = true;
  }

  Lock* lock_;
};

}  // namespace detail

inline detail::LockAcquire<false> Lock::aenter() noexcept {
  return acquire();
}

inline detail::LockAcquire<false> Lock::acquire() noexcept {
  return detail::LockAcquire<false>(*this);
}
inline detail::LockAcquire<true> Lock::lock() noexcept {
  return detail::LockAcquire<true>(*this);
}

}  // namespace asyncio
