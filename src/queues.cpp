// Queues: the type-independent part (waiters, join accounting, shutdown).

#include "asyncio/queues.hpp"

#include "asyncio/detail/task_base.hpp"

namespace asyncio::detail {

// ---- QueueWaiter ------------------------------------------------------------------------------

void QueueWaiter::wait(std::coroutine_handle<> h) {
  const char* what = kind_ == Kind::Get   ? "get from a queue"
                     : kind_ == Kind::Put ? "put into a queue"
                                          : "join a queue";
  TaskBase& task = current_task_for(what);
  queue_->bind_loop(task.loop());
  task_ = &task;
  state_ = State::Waiting;
  queue_->waiters(kind_).push_back(this);
  task.suspend(h, this);
}

void QueueWaiter::schedule() noexcept {
  LoopAccess::schedule(task_->loop(), {&on_wake, this});
}

void QueueWaiter::wake() noexcept {
  state_ = State::Woken;
  schedule();
}

bool QueueWaiter::cancel_awaited(const std::string& message) {
  switch (state_) {
    case State::Waiting:
      // Python: the getter/putter future is cancelled; it leaves the line at once.
      unlink();
      state_ = State::Cancelled;
      message_ = message;
      schedule();
      return true;
    case State::Woken:
      // Python: the future already has its result, cancel() fails and the task gets
      // _must_cancel; resumed() then passes the wake-up on.
      cancel_requested_ = true;
      return false;
    case State::Idle:
    case State::Cancelled:
      break;
  }
  return false;
}

void QueueWaiter::on_wake(void* self, bool discard) {
  if (discard) return;  // the loop is closing: the frame may be gone
  auto* w = static_cast<QueueWaiter*>(self);
  if (w->state_ == State::Woken && !w->cancel_requested_ && !w->queue_->may_proceed(w->kind_)) {
    // Python's `while self.empty()` (`full()`) loop: someone took the item (the slot) since
    // we were woken; wait again, at the back of the line. The task never ran, so it is still
    // suspended on us.
    w->state_ = State::Waiting;
    w->queue_->waiters(w->kind_).push_back(w);
    return;
  }
  w->task_->step();
}

void QueueWaiter::resumed() {
  switch (state_) {
    case State::Idle:  // completed without suspending
    case State::Waiting:
      return;
    case State::Cancelled:
      task_->consume_must_cancel();  // the first cancellation's message wins (CPython)
      throw CancelledError(std::move(message_));
    case State::Woken:
      try {
        task_->throw_if_must_cancel();
      } catch (...) {
        // Python's get()/put(): "We were woken up by put_nowait() (get_nowait()), but can't
        // take the call. Wake up the next in line."
        if (kind_ == Kind::Get && !queue_->empty()) QueueCore::wakeup_next(queue_->getters_);
        if (kind_ == Kind::Put && !queue_->full()) QueueCore::wakeup_next(queue_->putters_);
        throw;
      }
      return;
  }
}

// ---- QueueCore --------------------------------------------------------------------------------

QueueCore::~QueueCore() {
  while (getters_.pop_front() != nullptr) {
  }
  while (putters_.pop_front() != nullptr) {
  }
  while (joiners_.pop_front() != nullptr) {
  }
}

IntrusiveList<QueueWaiter>& QueueCore::waiters(QueueWaiter::Kind kind) noexcept {
  switch (kind) {
    case QueueWaiter::Kind::Get:
      return getters_;
    case QueueWaiter::Kind::Put:
      return putters_;
    case QueueWaiter::Kind::Join:
      break;
  }
  return joiners_;
}

bool QueueCore::may_proceed(QueueWaiter::Kind kind) const noexcept {
  switch (kind) {
    case QueueWaiter::Kind::Get:
      return !empty() || shutdown_;
    case QueueWaiter::Kind::Put:
      return !full() || shutdown_;
    case QueueWaiter::Kind::Join:
      break;
  }
  return true;  // Python's Event.wait(): once set, the waiter returns even if cleared again
}

void QueueCore::wakeup_next(IntrusiveList<QueueWaiter>& list) noexcept {
  if (QueueWaiter* w = list.pop_front()) w->wake();
}

void QueueCore::wake_all(IntrusiveList<QueueWaiter>& list) noexcept {
  while (QueueWaiter* w = list.pop_front()) w->wake();
}

void QueueCore::bind_loop(EventLoop& loop) {
  if (loop_ == nullptr) {
    loop_ = &loop;
  } else if (loop_ != &loop) {
    throw RuntimeError("this queue is bound to a different event loop");
  }
}

void QueueCore::check_can_put() const {
  if (shutdown_) throw QueueShutDown();
  if (full()) throw QueueFull();
}

void QueueCore::check_can_get() const {
  if (empty()) {
    if (shutdown_) throw QueueShutDown();
    throw QueueEmpty();
  }
}

void QueueCore::after_put() noexcept {
  ++size_;
  ++unfinished_;
  wakeup_next(getters_);
}

void QueueCore::after_get() noexcept {
  --size_;
  wakeup_next(putters_);
}

void QueueCore::task_done() {
  if (unfinished_ == 0) throw ValueError("task_done() called too many times");
  if (--unfinished_ == 0) wake_all(joiners_);
}

void QueueCore::after_shutdown(std::size_t drained) noexcept {
  shutdown_ = true;
  if (drained > 0) {
    size_ -= drained;
    unfinished_ -= std::min(unfinished_, drained);
    if (unfinished_ == 0) wake_all(joiners_);
  }
  // "All getters need to re-check queue-empty to raise ShutDown"; putters likewise.
  wake_all(getters_);
  wake_all(putters_);
}

}  // namespace asyncio::detail
