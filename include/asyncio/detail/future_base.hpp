// The state shared by futures and tasks: pending/cancelled/finished, the exception, the
// done-callbacks, and "exception never retrieved" tracking.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "asyncio/detail/intrusive_list.hpp"
#include "asyncio/detail/loop_access.hpp"
#include "asyncio/detail/pool_allocator.hpp"
#include "asyncio/detail/ref.hpp"
#include "asyncio/events.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

/// Identifies a callback registered with add_done_callback(), for remove_done_callback().
using CallbackId = std::uint64_t;

namespace detail {

enum class FutureStatus : std::uint8_t { Pending, Cancelled, Finished };

/// A done-callback. Linked into its future until the future completes; then scheduled on the
/// ready queue as {fire, this}. Nodes embedded in awaiters or in gather/TaskGroup state cost no
/// allocation. A node that will never run (its loop closes while it is queued, or its future
/// is destroyed while it is linked) gets `fire(node, true)` once, to free what it owns; it
/// must not touch memory it does not own then.
class FutureBase;
struct CallbackNode : ListNode {
  void (*fire)(void* node, bool discard) = nullptr;
  CallbackId id = 0;           // nonzero for user callbacks, which the future owns until scheduled
  FutureBase* held = nullptr;  // user callbacks: a reference to the future, taken when scheduled
};

/// Something a task is suspended on. The task calls cancel_awaited() when it is cancelled.
class Suspension {
 public:
  /// Asks the awaited thing to cancel. Returns true if the task will be woken with a
  /// CancelledError because of it (Python: `task._fut_waiter.cancel(msg)`).
  virtual bool cancel_awaited(const std::string& message) = 0;

  // ---- Call graphs (asyncio/graph.hpp); never on a hot path ----
  /// The future or task the suspended task waits for, if it is one (an awaited_by edge).
  virtual FutureBase* awaited_future() const noexcept { return nullptr; }
  /// What the task waits on, for people: "Lock.acquire", "Queue.get", "sock_recv fd=7".
  virtual std::string describe_wait() const { return {}; }

 protected:
  ~Suspension() = default;
};

class FutureBase : public RefCounted, public PoolAllocated {
 public:
  explicit FutureBase(EventLoop& loop) noexcept : loop_(&loop) {}
  ~FutureBase() override;

  EventLoop& loop() const noexcept { return *loop_; }
  bool done() const noexcept { return status_ != FutureStatus::Pending; }
  bool cancelled() const noexcept { return status_ == FutureStatus::Cancelled; }
  FutureStatus status() const noexcept { return status_; }

  /// Python's Future.cancel(): false if already done; else cancels and schedules callbacks.
  /// Tasks and gathering futures override it.
  virtual bool cancel(const std::string& message);

  /// Python's Future.exception(): the exception (null if none); throws CancelledError if
  /// cancelled and InvalidStateError if pending. Marks the exception as retrieved.
  std::exception_ptr exception();
  /// The exception, without marking it retrieved (for printing: Python's repr reads it too).
  const std::exception_ptr& peek_exception() const noexcept { return exception_; }
  /// Marks the exception (if any) as retrieved, as Python's result() does, without throwing.
  void mark_retrieved() noexcept { log_traceback_ = false; }
  /// Throws what result() would throw (cancelled, pending, or the exception); else returns.
  void check_result();

  void set_exception(std::exception_ptr e);
  /// Marks as finished with a value already stored by the derived class.
  void mark_finished();
  void mark_cancelled(std::string message);

  const std::string& cancel_message() const noexcept {
    return cancel_message_ ? *cancel_message_ : empty_string();
  }
  void set_cancel_message(const std::string& message) {
    if (!message.empty() || cancel_message_)
      cancel_message_ = std::make_unique<std::string>(message);
  }
  CancelledError make_cancelled_error() const { return CancelledError(cancel_message()); }

  /// Links `node`; if already done, schedules it at once (as Python does).
  void add_callback(CallbackNode* node);
  std::size_t remove_callback(CallbackId id) noexcept;
  CallbackId next_callback_id() noexcept { return ++last_callback_id_; }

  /// A description for error reports ("Task-3", "Future").
  virtual std::string describe_self() const { return "Future"; }
  /// The description in exception-handler reports ("exception was never retrieved"); tasks
  /// add where they wait and where they were created.
  virtual std::string describe_for_report() const { return describe_self(); }
  /// Whether this is a task (for error messages).
  virtual bool is_task() const noexcept { return false; }

 protected:
  /// Reports an exception nobody retrieved (Python logs it when the future is collected).
  void report_if_unretrieved() noexcept;

  void schedule_callbacks();

  static const std::string& empty_string() noexcept;

  // Hot fields first; the cancel message is rare, so it lives out of line (8 bytes, not 32).
  // First, last_callback_id_ fills RefCounted's tail padding (offset 12).
  std::uint32_t last_callback_id_ = 0;
  EventLoop* loop_;
  IntrusiveList<CallbackNode> callbacks_;
  std::exception_ptr exception_;
  std::unique_ptr<std::string> cancel_message_;
  FutureStatus status_ = FutureStatus::Pending;
  bool log_traceback_ : 1 = false;

  // ---- Task fields (TaskBase, task_base.hpp), here in what would be this class's tail
  // padding: a task state is 8 bytes smaller, and every small Coro frame carries room for one
  // (detail/task_frame.hpp). Unused by plain futures.
  bool must_cancel_ : 1 = false;  // cancel() could not be delivered yet: throw at next resume
  bool started_ : 1 = false;      // the first step ran (or was skipped: cancelled before it)
  // Narrow so that a task's state stays small: Task-<number> wraps after 2^32 tasks, and the
  // count of pending cancel() requests saturates at 65535.
  std::uint16_t num_cancels_requested_ = 0;
  std::uint32_t number_ = 0;
};

/// Where a future's value lives. Empty for void.
template <class T>
struct ValueSlot {
  std::optional<T> value;
};
template <>
struct ValueSlot<void> {};

/// A user callback `f(handle)`, owned by the future until scheduled, then by the ready queue.
template <class Handle, class Impl, class F>
struct UserCallback final : CallbackNode {
  explicit UserCallback(F&& fn) : f(std::move(fn)) { fire = &run; }
  F f;

  static void run(void* p, bool discard) {
    auto* self = static_cast<UserCallback*>(static_cast<CallbackNode*>(p));
    if (!discard && self->held) {
      Handle handle{Ref<Impl>(static_cast<Impl*>(self->held))};
      try {
        self->f(handle);
      } catch (...) {
        self->held->loop().call_exception_handler(
            {"Exception in callback", std::current_exception(), self->held->describe_self()});
      }
    }
    if (self->held) self->held->release();
    delete self;
  }
};

/// The current task of the running loop, or a RuntimeError naming what needed it.
TaskBase& current_task_for(const char* what);

/// Call graphs (Python: futures.future_add_to_awaited_by(child, current_task())): records that
/// the current task, if any, waits for `child` when `child` is a task of the running loop.
/// Used by gather() and shield(); src/graph.cpp.
void add_awaited_by_current_task(FutureBase& child) noexcept;

}  // namespace detail
}  // namespace asyncio
