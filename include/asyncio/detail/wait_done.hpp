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

  bool await_ready() const noexcept { return future_->done(); }
  void await_suspend(std::coroutine_handle<> h) {
    TaskBase& task = current_task_for("wait for a future");
    if (&future_->loop() != &task.loop()) {
      throw RuntimeError(foreign_future_message(task, *future_));  // see FutureAwaiter
    }
    task_ = &task;
    future_->add_callback(this);
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
  void await_resume() {
    if (!task_) return;
    if (cancelled_) {
      task_->consume_must_cancel();
      throw CancelledError(std::move(message_));
    }
    task_->throw_if_must_cancel();
  }

 private:
  static void on_done(void* self, bool discard) {
    if (!discard) static_cast<WaitDone*>(static_cast<CallbackNode*>(self))->task_->step();
  }

  Ref<FutureBase> future_;
  TaskBase* task_ = nullptr;
  bool cancelled_ = false;
  std::string message_;
};

}  // namespace asyncio::detail
