// The state machine of a task (Python: asyncio.Task.__step / __wakeup / cancel).
//
// A task drives one coroutine chain. It is either
//   - scheduled: a step is on the ready queue (waiter_ may still name what woke it), or
//   - suspended: resume_point_ is the innermost suspended coroutine and waiter_ the thing it
//     awaits, whose completion schedules exactly one step, or
//   - running: the loop's current task, or
//   - done: the coroutine frame is destroyed and the result is stored.
// Cancellation mirrors CPython: cancel() first asks waiter_ to cancel (which wakes the task
// with CancelledError); if that is impossible, must_cancel_ makes the next resumption throw.
#pragma once

#include <coroutine>
#include <string>

#include "asyncio/coroutines.hpp"
#include "asyncio/detail/future_base.hpp"
#include "asyncio/detail/future_handle.hpp"

namespace asyncio::detail {

class TaskBase : public FutureBase, public PendingTask {
 public:
  /// Adopts `root` (destroyed with the task at the latest). Not started (see start()).
  TaskBase(EventLoop& loop, std::coroutine_handle<> root) noexcept
      : FutureBase(loop), root_(root), resume_point_(root) {}
  ~TaskBase() override;

  bool cancel(const std::string& message) override;
  int cancelling() const noexcept { return num_cancels_requested_; }
  int uncancel() noexcept {
    if (num_cancels_requested_ > 0) --num_cancels_requested_;
    return num_cancels_requested_;
  }
  /// uncancel() as Python 3.13 defines it (gh-116720): reaching 0 also drops a cancel() not
  /// delivered yet. TaskGroup withdraws its own request with it; Task::uncancel() keeps 3.12's.
  int uncancel_313() noexcept {
    if (uncancel() == 0) must_cancel_ = false;
    return num_cancels_requested_;
  }

  std::string name() const;
  void set_name(std::string name) { name_ = std::make_unique<std::string>(std::move(name)); }
  std::string describe_self() const override { return "Task '" + name() + "'"; }
  /// describe_self() plus " coro=<f() running at file:line>" (where it is suspended) and
  /// " created at file:line", as Python's task repr in error reports (src/graph.cpp).
  std::string describe_for_report() const override;
  bool is_task() const noexcept override { return true; }

  /// Called by an awaiter's await_suspend: the task now waits on `waiter` and resumes `h`.
  void suspend(std::coroutine_handle<> h, Suspension* waiter) {
    resume_point_ = h;
    waiter_ = waiter;
    if (must_cancel_ && waiter && waiter->cancel_awaited(cancel_message())) must_cancel_ = false;
  }
  /// Called by an awaiter's await_resume after a suspension: a cancel() that could not be
  /// delivered through the awaited thing is delivered now.
  void throw_if_must_cancel() {
    if (must_cancel_) {
      must_cancel_ = false;
      throw CancelledError(cancel_message());
    }
  }
  /// Called by an awaiter's await_resume when the awaited thing itself ended in cancellation:
  /// that CancelledError wins and a later cancel() request is consumed with it (CPython's
  /// __step keeps the CancelledError it was woken with and clears _must_cancel).
  void consume_must_cancel() noexcept { must_cancel_ = false; }
  /// Schedules a step (the task must be suspended with nothing else to wake it).
  void wake() { LoopAccess::schedule(*loop_, {&step_entry, this}); }
  /// Ready-queue entry point: runs one step unless the loop is discarding.
  static void step_entry(void* task, bool discard) {
    if (!discard) static_cast<TaskBase*>(task)->step();
  }
  /// Resumes the coroutine until its next suspension or its end.
  void step() noexcept;

  /// The loop's abandon_task_ (see PendingTask).
  static void abandon_pending(PendingTask* self) noexcept;
  void abandon_pending() noexcept;

  // ---- Call graphs (asyncio/graph.hpp) ----
  /// The task's root coroutine, a Coro frame (null once done).
  std::coroutine_handle<> root() const noexcept { return root_; }
  /// What the task is suspended on (null while scheduled, running or done).
  Suspension* waiter() const noexcept { return waiter_; }
  /// Python's future_add_to_awaited_by(this, parent) for structured parents (TaskGroup,
  /// gather, shield): `parent` is kept alive until this task finishes. The first parent wins.
  void set_awaited_by(TaskBase* parent) noexcept;
  TaskBase* awaited_by() const noexcept { return awaited_by_; }
  /// Where create_task() was called (empty if unknown), and when (the loop's clock).
  const AwaitSite& creation_site() const noexcept { return creation_site_; }
  void set_creation_site(const AwaitSite& site) noexcept { creation_site_ = site; }
  std::int64_t created_ns() const noexcept { return created_ns_; }

  /// Registers with the loop and schedules the first step (Python: Task.__init__). Called
  /// once, by create_task() or by the loop's task factory (asyncio/task_factory.hpp).
  void start();
  /// Python: Task.__init__(eager_start=True). Registers with the loop and runs the first step
  /// now, inside the caller, as the current task; the caller's current task is restored after
  /// it. A task that finishes in that step is never scheduled and leaves all_tasks() at once.
  /// When the loop is not running on this thread, the same as start().
  void start_eager();

 protected:
  /// Moves the root coroutine's outcome into this future (the frame is still alive).
  virtual void complete_from_root() noexcept = 0;
  /// Stores the root's exception: a CancelledError cancels the task, anything else fails it.
  void complete_with_exception(std::exception_ptr e) noexcept;

  std::coroutine_handle<> root_;
  std::coroutine_handle<> resume_point_;
  Suspension* waiter_ = nullptr;
  std::unique_ptr<std::string> name_;  // null: "Task-<number_>"
  // number_, num_cancels_requested_, must_cancel_ and started_ are in FutureBase's padding.
  // Call graphs: 24 bytes (a task's state grows from 112 to 136 bytes, see docs/debugging.md).
  TaskBase* awaited_by_ = nullptr;  // a strong reference, dropped when the task finishes
  AwaitSite creation_site_{};
  std::int64_t created_ns_ = 0;

 private:
  void finish() noexcept;
  void drop_awaited_by() noexcept;
  void note_debug_step() noexcept;
};

/// Debug mode (slow-callback warning): the task the current ready item stepped, with a
/// reference; null if it stepped none. Taking it clears it (src/tasks.cpp).
Ref<TaskBase> take_debug_stepped_task() noexcept;

/// Python's "Task {task!r} got Future {future!r} attached to a different loop", with the
/// library's descriptions in the brackets. Reads only what is immutable or set before the
/// future is shared (the foreign loop may be running in another thread).
std::string foreign_future_message(const TaskBase& task, const FutureBase& future);

static_assert(sizeof(TaskBase) == kTaskStateBytes, "update kTaskStateBytes (task_frame.hpp)");

template <class T>
class TaskImpl final : public TaskBase, public ValueSlot<T> {
  using Prefix = TaskPrefix<T>;

 public:
  /// The task state of `root`, not started (create_task() starts it, or the loop's task
  /// factory does). When T is small, it is constructed in the prefix of the frame's block:
  /// no allocation (detail/task_frame.hpp); otherwise allocated from the block cache.
  static TaskImpl* adopt(EventLoop& loop, typename Coro<T>::Handle root) {
    if constexpr (Prefix::embedded) {
      static_assert(sizeof(TaskImpl) + sizeof(FrameHeader) <= Prefix::bytes &&
                    alignof(TaskImpl) <= 16);
      void* frame = root.address();
      frame_header(frame)->task_owned = 1;
      return ::new (static_cast<void*>(static_cast<char*>(frame) - Prefix::bytes))
          TaskImpl(loop, root);
    } else {
      return new TaskImpl(loop, root);
    }
  }

  /// The last reference went (RefCounted::release): ~TaskBase has destroyed the frame if it
  /// was still alive, so the whole block goes.
  static void operator delete(void* p, std::size_t size) noexcept {
    if constexpr (Prefix::embedded) {
      const FrameHeader* h = frame_header(static_cast<char*>(p) + Prefix::bytes);
      pool_deallocate(p, Prefix::bytes + h->frame_bytes);
    } else {
      pool_deallocate(p, size);
    }
  }

 private:
  TaskImpl(EventLoop& loop, typename Coro<T>::Handle root) noexcept : TaskBase(loop, root) {}

  void complete_from_root() noexcept override {
    auto& promise = Coro<T>::Handle::from_address(root_.address()).promise();
    if (promise.exception) {
      complete_with_exception(promise.exception);
    } else if (must_cancel_) {
      // Cancelled right before the coroutine returned: the result is dropped (as CPython).
      must_cancel_ = false;
      mark_cancelled(cancel_message());
    } else {
      if constexpr (!std::is_void_v<T>) {
        try {
          this->value.emplace(std::move(*promise.value));
        } catch (...) {
          set_exception(std::current_exception());
          return;
        }
      }
      mark_finished();
    }
  }
};

}  // namespace asyncio::detail

namespace asyncio::detail {

template <class Impl>
void FutureAwaiter<Impl>::await_suspend(std::coroutine_handle<> h) {
  TaskBase& task = current_task_for("await a future or task");
  if (static_cast<FutureBase*>(future_.get()) == static_cast<FutureBase*>(&task)) {
    throw RuntimeError(task.describe_self() + " cannot await on itself");
  }
  task_ = &task;
  if (&future_->loop() != &task.loop()) [[unlikely]] {
    // Python's Task.__step: call_soon(__step, RuntimeError(...)). Nothing of the foreign
    // future is touched (its loop may run in another thread); the task wakes next iteration.
    foreign_ = true;
    task.wake();
  } else {
    future_->add_callback(this);
  }
  task.suspend(h, this);
}

template <class Impl>
Impl& FutureAwaiter<Impl>::resumed() {
  if (task_) {
    if (foreign_) [[unlikely]] {
      task_->throw_if_must_cancel();  // Python: __step replaces the error by the cancellation
      throw RuntimeError(foreign_future_message(*task_, *future_));
    }
    if (future_->cancelled()) {
      task_->consume_must_cancel();  // the future's own CancelledError is raised next
    } else {
      // Python's Task.__wakeup calls future.result() before __step delivers a pending
      // cancellation: the exception counts as retrieved even if the task never sees it.
      future_->mark_retrieved();
      task_->throw_if_must_cancel();
    }
  }
  return *future_;
}

template <class Impl>
void FutureAwaiter<Impl>::on_done(void* self, bool discard) {
  if (!discard) static_cast<FutureAwaiter*>(static_cast<CallbackNode*>(self))->task_->step();
}

}  // namespace asyncio::detail
