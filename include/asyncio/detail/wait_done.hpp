// Waiting for a future to be done without touching it: cancelling the waiting task does not
// cancel the future (unlike `co_await future`). The building block of wait(), wait_for() and
// shield-like waits (Python: awaiting a private waiter future released by a done-callback).
#pragma once

#include "asyncio/detail/task_base.hpp"

namespace asyncio::detail {

class WaitDone final : public CallbackNode, public Suspension {
 public:
  explicit WaitDone(FutureBase* future) : future_(future) { fire = &on_done; }
  WaitDone(const WaitDone&) = delete;
  WaitDone& operator=(const WaitDone&) = delete;
  ~WaitDone() { unlink(); }

  /// Registers the done-callback now, before the caller acts on the (pending) future: Python's
  /// _cancel_and_wait adds its callback before fut.cancel(), so a future that cancel()
  /// completes at once still wakes the task through the callback, two hops later, and the
  /// callback runs after those registered earlier. The co_await then always suspends.
  void watch() { register_with(current_task_for("wait for a future")); }

  bool await_ready() const noexcept { return !task_ && future_->done(); }
  void await_suspend(std::coroutine_handle<> h) {
    if (!task_) register_with(current_task_for("wait for a future"));
    task_->suspend(h, this);
  }
  bool cancel_awaited(const std::string& message) override {
    if (!linked()) return false;  // already woken
    unlink();
    cancelled_ = true;
    message_ = message;
    task_->wake();
    return true;
  }
  /// Call graphs: the watched future (wait(), wait_for() expiry).
  FutureBase* awaited_future() const noexcept override { return future_.get(); }
  std::string describe_wait() const override { return "wait " + future_->describe_self(); }

  void await_resume() {
    if (!task_) return;
    if (cancelled_) {
      task_->consume_must_cancel();
      throw CancelledError(std::move(message_));
    }
    task_->throw_if_must_cancel();
  }

 private:
  void register_with(TaskBase& task) {
    if (&future_->loop() != &task.loop()) {
      throw RuntimeError(foreign_future_message(task, *future_));  // see FutureAwaiter
    }
    task_ = &task;
    future_->add_callback(this);
  }
  // Python's hop count: the future's done-callback releases a private waiter future, whose
  // completion schedules the task's wake-up (two ready-queue hops after the future is done,
  // not one). Stepping the task here ran it a hop early: a wait_for() that expired at once
  // raised its TimeoutError before work finishing in the same iteration was seen (difftest
  // seed 3261). Once fired the node is unlinked, so a cancel() arriving during the second
  // hop finds it unlinked and becomes must_cancel, as Python's cancel() of a done waiter.
  static void on_done(void* self, bool discard) {
    if (!discard) static_cast<WaitDone*>(static_cast<CallbackNode*>(self))->task_->wake();
  }

  Ref<FutureBase> future_;
  TaskBase* task_ = nullptr;
  bool cancelled_ = false;
  std::string message_;
};

}  // namespace asyncio::detail
