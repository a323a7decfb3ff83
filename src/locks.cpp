// The synchronization primitives (Python: asyncio.locks): Lock, Event, Condition, Semaphore,
// BoundedSemaphore, Barrier. Each function names the CPython code it ports.

#include "asyncio/locks.hpp"

#include "asyncio/detail/loop_registry.hpp"

namespace asyncio {

namespace detail {

void report_guard_error(const char* message) noexcept {
  report_to_running_loop({message, std::current_exception(), {}});
}

namespace {
[[noreturn]] void throw_other_loop(const std::string& repr) {
  throw RuntimeError(repr + " is bound to a different event loop");
}

std::string with_waiters(std::string extra, const WaiterQueue& waiters) {
  if (!waiters.empty()) extra += ", waiters:" + std::to_string(waiters.size());
  return extra;
}
}  // namespace

}  // namespace detail

// ---- Lock ------------------------------------------------------------------------------------

void LockGuard::unlock() {
  if (lock_ == nullptr) throw RuntimeError("LockGuard::unlock(): the guard does not hold a lock");
  std::exchange(lock_, nullptr)->release();
}

void LockGuard::reset() noexcept {
  if (lock_ == nullptr) return;
  try {
    std::exchange(lock_, nullptr)->release();
  } catch (...) {
    detail::report_guard_error("Exception while a LockGuard released its lock");
  }
}

// Python: Lock.release.
void Lock::release() {
  if (!locked_) throw RuntimeError("Lock is not acquired.");
  locked_ = false;
  wake_up_first();
}

// Python: Lock._wake_up_first. A done first waiter will run later and either take the lock or,
// if cancelled, wake the next one itself.
void Lock::wake_up_first() {
  detail::Waiter* first = waiters_.front();
  if (first != nullptr && !first->done()) first->set_result();
}

void Lock::bind(EventLoop& loop) {
  if (!loop_.bind(loop)) detail::throw_other_loop(repr());
}

std::string Lock::repr() const {
  return "<asyncio::Lock [" + detail::with_waiters(locked_ ? "locked" : "unlocked", waiters_) +
         "]>";
}

// ---- Event -----------------------------------------------------------------------------------

void detail::EventWait::await_suspend(std::coroutine_handle<> h) {
  TaskBase& task = current_task_for("wait for an Event");
  if (!event_->loop_.bind(task.loop())) throw_other_loop(event_->repr());
  wait_in(event_->waiters_, task, h);
}

// Python: Event.set.
void Event::set() {
  if (value_) return;
  value_ = true;
  waiters_.for_each([](detail::Waiter* w) {
    if (!w->done()) w->set_result();
    return true;
  });
}

std::string Event::repr() const {
  return "<asyncio::Event [" + detail::with_waiters(value_ ? "set" : "unset", waiters_) + "]>";
}

// ---- Condition -------------------------------------------------------------------------------
//
// CPython's Condition.wait():
//
//     if not self.locked(): raise RuntimeError('cannot wait on un-acquired lock')
//     self.release()
//     try:
//         fut = self._get_loop().create_future(); self._waiters.append(fut)
//         try:
//             await fut                                    # phase Notify
//             return True
//         finally:
//             self._waiters.remove(fut)
//     finally:
//         cancelled = False
//         while True:
//             try:
//                 await self.acquire()                     # phase Acquire
//                 break
//             except exceptions.CancelledError:
//                 cancelled = True
//         if cancelled: raise exceptions.CancelledError
//
// and wait_for(): `result = predicate(); while not result: await self.wait(); result =
// predicate()`. Each `await fut` above is a task step in CPython. Here the task stays suspended
// on this awaiter through all of them: node_ is the waiter future of the current phase, and
// its wake-up runs resume_step() from the ready queue at the very point where CPython's task
// step would run, doing what that step does. The coroutine is resumed (task->step()) only when
// the whole wait is over.

namespace detail {

ConditionWaitBase::ConditionWaitBase(Condition& cond) noexcept : cond_(&cond), lock_(cond.lock_) {}

bool ConditionWaitBase::fail_unless_locked() {
  if (lock_->locked()) return false;
  error_ = std::make_exception_ptr(RuntimeError("cannot wait on un-acquired lock"));
  return true;
}

void ConditionWaitBase::start(std::coroutine_handle<> h) {
  TaskBase& task = current_task_for("wait on a Condition");
  if (!cond_->loop_.bind(task.loop())) throw_other_loop(cond_->repr());
  lock_->bind(task.loop());
  task_ = &task;
  handle_ = h;
  node_.loop = &task.loop();
  node_.wakeup = {&on_wakeup, this};
  begin_wait();
  task.suspend(h, this);
}

// Python: `self.release()`, then the waiter future is queued.
void ConditionWaitBase::begin_wait() {
  lock_->release();
  cond_->waiters_.push(&node_);
  phase_ = Phase::Notify;
}

bool ConditionWaitBase::cancel_awaited(const std::string& message) {
  // Only a pending waiter future can be cancelled; otherwise (woken, or the state machine is
  // running) the task records must_cancel, which resume_step() or the next phase consumes.
  if ((phase_ != Phase::Notify && phase_ != Phase::Acquire) || node_.done()) return false;
  node_message_ = message;
  node_.cancel();
  return true;
}

void ConditionWaitBase::on_wakeup(void* self, bool discard) {
  if (!discard) static_cast<ConditionWaitBase*>(self)->resume_step();
}

// The task step after `await fut` of the current phase.
void ConditionWaitBase::resume_step() {
  const Phase at = phase_;
  phase_ = Phase::Running;
  // What `await fut` raises: the future's CancelledError, else a fresh one if the task has a
  // pending cancel (CPython's __step: `if self._must_cancel: if not isinstance(exc,
  // CancelledError): exc = self._make_cancelled_error()`; must_cancel is cleared either way).
  bool raised = node_.cancelled();
  std::string message = raised ? std::move(node_message_) : std::string();
  try {
    task_->throw_if_must_cancel();
  } catch (const CancelledError& e) {
    if (!raised) message = e.message();
    raised = true;
  }
  const bool orphaned = node_.orphaned;
  node_.remove();  // `finally: self._waiters.remove(fut)`
  if (raised) {
    if (at == Phase::Acquire) {
      bare_ = true;  // `except CancelledError: cancelled = True` ... `raise CancelledError`
    } else {
      message_ = std::move(message);  // the CancelledError of `await fut` propagates
    }
    cancelled_ = true;
  }
  if (orphaned) {  // the primitive is gone: nothing to re-acquire
    if (!cancelled_) {
      error_ = std::make_exception_ptr(RuntimeError(
          at == Phase::Notify ? "asyncio::Condition was destroyed while a task was waiting on it"
                              : "asyncio::Lock was destroyed while a task was waiting on it"));
    }
    finish();
    return;
  }
  if (at == Phase::Acquire) {
    if (!raised) {  // Lock.acquire(): `self._locked = True`
      lock_->locked_ = true;
      reacquired();
      return;
    }
    // Lock.acquire(): `except CancelledError: if not self._locked: self._wake_up_first()`
    if (!lock_->locked_) lock_->wake_up_first();
  }
  reacquire();
}

// One round of `while True: try: await self.acquire() ...`: Lock.acquire()'s fast path, else
// a new waiter future at the end of the lock's queue.
void ConditionWaitBase::reacquire() {
  if (lock_->try_acquire_fast()) {
    reacquired();
    return;
  }
  lock_->waiters_.push(&node_);
  phase_ = Phase::Acquire;
  task_->suspend(handle_, this);  // delivers a cancel() made meanwhile, as CPython's __step
}

// The lock is held again: wait() is over, unless wait_for()'s predicate is still false.
void ConditionWaitBase::reacquired() {
  if (cancelled_ || check_predicate()) {
    finish();
    return;
  }
  // wait_for() calls wait() again, which checks the lock first.
  if (!lock_->locked()) {
    error_ = std::make_exception_ptr(RuntimeError("cannot wait on un-acquired lock"));
    finish();
    return;
  }
  begin_wait();
  task_->suspend(handle_, this);
}

// Evaluates wait_for()'s predicate as part of the task (current_task() is the task).
bool ConditionWaitBase::check_predicate() noexcept {
  EventLoop& loop = task_->loop();
  TaskBase* previous = LoopAccess::current_task(loop);
  LoopAccess::set_current_task(loop, task_);
  bool holds = true;
  try {
    holds = predicate_holds();
  } catch (...) {
    error_ = std::current_exception();
  }
  LoopAccess::set_current_task(loop, previous);
  return holds;
}

void ConditionWaitBase::finish() {
  phase_ = Phase::Finished;
  task_->step();  // resumes the coroutine in await_resume(); `this` may be gone afterwards
}

void ConditionWaitBase::finish_resume() {
  if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  if (bare_) throw CancelledError();
  if (cancelled_) throw CancelledError(std::move(message_));
}

}  // namespace detail

// Python: Condition.notify.
void Condition::notify(std::size_t n) {
  if (!locked()) throw RuntimeError("cannot notify on un-acquired lock");
  std::size_t woken = 0;
  waiters_.for_each([&](detail::Waiter* w) {
    if (woken >= n) return false;
    if (!w->done()) {
      ++woken;
      w->set_result();
    }
    return true;
  });
}

// Python: Condition.notify_all.
void Condition::notify_all() {
  notify(waiters_.size());
}

std::string Condition::repr() const {
  return "<asyncio::Condition [" +
         detail::with_waiters(locked() ? "locked" : "unlocked", waiters_) + "]>";
}

// ---- Semaphore -------------------------------------------------------------------------------

void SemaphoreGuard::unlock() {
  if (sem_ == nullptr) {
    throw RuntimeError("SemaphoreGuard::unlock(): the guard does not hold a permit");
  }
  std::exchange(sem_, nullptr)->release();
}

void SemaphoreGuard::reset() noexcept {
  if (sem_ == nullptr) return;
  try {
    std::exchange(sem_, nullptr)->release();
  } catch (...) {
    detail::report_guard_error("Exception while a SemaphoreGuard released its permit");
  }
}

Semaphore::Semaphore(std::int64_t value, std::int64_t bound) : value_(value), bound_(bound) {
  if (value < 0) throw ValueError("Semaphore initial value must be >= 0");
}

// Python: Semaphore.release and BoundedSemaphore.release.
void Semaphore::release() {
  if (bound_ >= 0 && value_ >= bound_) {
    throw ValueError("BoundedSemaphore released too many times");
  }
  ++value_;
  wake_up_next();
}

// Python: Semaphore._wake_up_next.
void Semaphore::wake_up_next() {
  waiters_.for_each([this](detail::Waiter* w) {
    if (w->done()) return true;
    --value_;
    w->set_result();
    return false;
  });
}

void Semaphore::bind(EventLoop& loop) {
  if (!loop_.bind(loop)) detail::throw_other_loop(repr());
}

std::string Semaphore::repr() const {
  std::string extra = locked() ? "locked" : "unlocked, value:" + std::to_string(value_);
  return std::string("<") + name() + " [" + detail::with_waiters(std::move(extra), waiters_) + "]>";
}

// ---- Barrier ---------------------------------------------------------------------------------

Barrier::Barrier(int parties) : parties_(parties) {
  if (parties < 1) throw ValueError("parties must be > 0");
}

// Python: Barrier.wait, with _block, _release and _wait inlined (they never suspend on their
// own, so this changes nothing).
Coro<int> Barrier::wait() {
  LockGuard guard = co_await cond_.lock();  // async with self._cond:
  // _block(): wait while the barrier drains or resets, then fail if it is broken.
  co_await cond_.wait_for(
      [this] { return state_ != State::Draining && state_ != State::Resetting; });
  if (state_ == State::Broken) throw BrokenBarrierError("Barrier aborted");
  const int index = count_++;
  try {
    if (index + 1 == parties_) {
      // _release(): the last arrival releases everyone.
      state_ = State::Draining;
      cond_.notify_all();
    } else {
      // _wait(): wait for the end of filling.
      co_await cond_.wait_for([this] { return state_ != State::Filling; });
      if (state_ == State::Broken || state_ == State::Resetting) {
        throw BrokenBarrierError("Abort or reset of barrier");
      }
    }
  } catch (...) {
    --count_;
    exit();
    throw;
  }
  --count_;
  exit();
  co_return index;
}

// Python: Barrier._exit. The last task out ends draining or resetting.
void Barrier::exit() {
  if (count_ == 0) {
    if (state_ == State::Resetting || state_ == State::Draining) state_ = State::Filling;
    cond_.notify_all();
  }
}

// Python: Barrier.reset.
Coro<void> Barrier::reset() {
  LockGuard guard = co_await cond_.lock();
  if (count_ > 0) {
    if (state_ != State::Resetting) state_ = State::Resetting;
  } else {
    state_ = State::Filling;
  }
  cond_.notify_all();
}

// Python: Barrier.abort.
Coro<void> Barrier::abort() {
  LockGuard guard = co_await cond_.lock();
  state_ = State::Broken;
  cond_.notify_all();
}

std::string Barrier::repr() const {
  static constexpr const char* kNames[] = {"filling", "draining", "resetting", "broken"};
  std::string extra = kNames[static_cast<int>(state_)];
  if (!broken()) {
    extra += ", waiters:" + std::to_string(n_waiting()) + "/" + std::to_string(parties_);
  }
  return "<asyncio::Barrier [" + extra + "]>";
}

}  // namespace asyncio
