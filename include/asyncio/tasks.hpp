// asyncio/tasks.hpp — Task<T>, create_task, sleep, current_task, all_tasks (Python:
// asyncio.tasks, first half; gather/wait/shield/as_completed have their own headers).
//
// A task runs a coroutine concurrently with others on the loop: create_task() schedules it at
// once and it runs whenever the current task suspends. Tasks are futures, with reference
// semantics; the loop keeps a pending task alive, so dropping every handle of a running task
// does not stop it ("fire and forget" works; its exception is then reported through the loop's
// exception handler as "Task exception was never retrieved").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "asyncio/awaitable.hpp"
#include "asyncio/coroutines.hpp"
#include "asyncio/detail/task_base.hpp"
#include "asyncio/futures.hpp"

namespace asyncio {

/// A type-erased task: everything of Task<T> but result() (Python: any asyncio.Task).
/// Awaiting it waits for the task and rethrows its exception, discarding any value.
class AnyTask : public detail::FutureHandle<detail::TaskBase, void> {
  using Base = detail::FutureHandle<detail::TaskBase, void>;

 public:
  using value_type = void;  ///< Awaiting gives no value.
  AnyTask() noexcept = default;
  /// Internal: wraps the task's state.
  explicit AnyTask(detail::Ref<detail::TaskBase> impl) noexcept : Base(std::move(impl)) {}

  /// Requests cancellation (Python: Task.cancel(msg)). Returns false if the task is done.
  /// The task sees CancelledError(message) at its current or next suspension; it may catch
  /// it, so cancellation is a request, not a guarantee. Each call counts in cancelling().
  bool cancel(const std::string& message = {}) const { return impl_->cancel(message); }
  /// Number of cancellation requests not yet withdrawn by uncancel().
  /// Python: Task.cancelling().
  int cancelling() const noexcept { return impl_->cancelling(); }
  /// Withdraws one cancellation request; returns the remaining count.
  /// Python: Task.uncancel().
  int uncancel() const noexcept { return impl_->uncancel(); }
  /// "Task-N" unless named at creation or with set_name().
  /// Python: Task.get_name().
  std::string get_name() const { return impl_->name(); }
  /// Renames the task (Python: Task.set_name()).
  void set_name(std::string name) const { impl_->set_name(std::move(name)); }

  /// `callback(AnyTask&)` runs on the loop once the task is done (Python:
  /// Task.add_done_callback()).
  template <class F>
  CallbackId add_done_callback(F&& callback) const {
    return this->template add_done_callback_as<AnyTask>(std::forward<F>(callback));
  }
};

/// A handle to a scheduled coroutine producing T (Python: asyncio.Task).
template <class T = void>
class Task : public detail::FutureHandle<detail::TaskImpl<T>, T> {
  using Base = detail::FutureHandle<detail::TaskImpl<T>, T>;

 public:
  using value_type = T;  ///< The coroutine's result type.
  Task() noexcept = default;
  /// Internal: wraps the task's state (EventLoop::create_task() makes tasks).
  explicit Task(detail::Ref<detail::TaskImpl<T>> impl) noexcept : Base(std::move(impl)) {}

  /// See AnyTask::cancel (Python: Task.cancel()).
  bool cancel(const std::string& message = {}) const { return this->impl_->cancel(message); }
  /// Pending cancellation requests (Python: Task.cancelling()).
  int cancelling() const noexcept { return this->impl_->cancelling(); }
  /// Withdraws one cancellation request; returns the remaining count (Python:
  /// Task.uncancel()).
  int uncancel() const noexcept { return this->impl_->uncancel(); }
  /// "Task-N" unless named (Python: Task.get_name()).
  std::string get_name() const { return this->impl_->name(); }
  /// Renames the task (Python: Task.set_name()).
  void set_name(std::string name) const { this->impl_->set_name(std::move(name)); }

  /// `callback(Task<T>&)` runs on the loop once the task is done.
  /// Python: Task.add_done_callback().
  template <class F>
  CallbackId add_done_callback(F&& callback) const {
    return this->template add_done_callback_as<Task>(std::forward<F>(callback));
  }

  /// The same task, type-erased.
  operator AnyTask() const noexcept {
    return AnyTask(detail::Ref<detail::TaskBase>(this->impl_.get()));
  }
};

template <class T>
Task<T> EventLoop::create_task(Coro<T> coro) {
  if (!coro.valid()) throw RuntimeError("create_task() needs a coroutine that has not run");
  auto* impl = detail::TaskImpl<T>::adopt(*this, coro.release());
  Task<T> task{detail::Ref<detail::TaskImpl<T>>(impl)};  // frees the frame if starting throws
  if (task_factory_) [[unlikely]] {
    start_with_factory(*impl, std::string());  // src/task_factory.cpp
  } else {
    impl->start();
  }
  return task;
}

template <class T>
Task<T> EventLoop::create_task(Coro<T> coro, std::string name) {
  if (!coro.valid()) throw RuntimeError("create_task() needs a coroutine that has not run");
  auto* impl = detail::TaskImpl<T>::adopt(*this, coro.release());
  Task<T> task{detail::Ref<detail::TaskImpl<T>>(impl)};  // frees the frame if starting throws
  if (task_factory_) [[unlikely]] {
    // The name is given after the factory returns, as Python 3.12 does (task_factory.hpp).
    start_with_factory(*impl, std::move(name));  // src/task_factory.cpp
  } else {
    if (!name.empty()) impl->set_name(std::move(name));
    impl->start();
  }
  return task;
}

/// Schedules `coro` as a task on the running loop (Python: asyncio.create_task).
/// `site` (C++ only, leave it defaulted): where the task was created, for call graphs and
/// debug reports (Python keeps a creation traceback in debug mode).
template <class T>
Task<T> create_task(Coro<T> coro, std::string name,
                    detail::AwaitSite site = ASYNCIO_DETAIL_CALLER_SITE) {
  Task<T> task = get_running_loop().create_task(std::move(coro), std::move(name));
  task.impl()->set_creation_site(site);
  return task;
}
/// As above, named "Task-N"; no std::string is made (spawning is that cheap).
/// Python: asyncio.create_task(coro).
template <class T>
Task<T> create_task(Coro<T> coro, detail::AwaitSite site = ASYNCIO_DETAIL_CALLER_SITE) {
  Task<T> task = get_running_loop().create_task(std::move(coro));
  task.impl()->set_creation_site(site);
  return task;
}

namespace detail {
/// Whether A is a future handle (Task, AnyTask, Future): combinators watch it as is.
template <class A>
inline constexpr bool is_future_handle_v = false;
template <class T>
inline constexpr bool is_future_handle_v<Task<T>> = true;
template <class T>
inline constexpr bool is_future_handle_v<Future<T>> = true;
template <>
inline constexpr bool is_future_handle_v<AnyTask> = true;
}  // namespace detail

/// Schedules any other awaitable as a task: `create_task(asyncio::sleep(1s))`,
/// `create_task(queue.get())`. It is wrapped in a Coro that awaits it (in Python these are all
/// coroutines). A Task or Future is refused at compile time, as Python's create_task raises
/// TypeError for them: await it, or use ensure_future().
template <class A>
requires(!detail::is_coro_type_v<std::remove_cvref_t<A>>) auto create_task(A&& aw,
                                                                           std::string name = {}) {
  static_assert(Awaitable<A>, ASYNCIO_NOT_AWAITABLE_MESSAGE("asyncio::create_task()"));
  static_assert(!detail::is_future_handle_v<std::remove_cvref_t<A>>,
                "asyncio::create_task(): a coroutine was expected, got a Task or Future "
                "(Python: TypeError); await it, or use asyncio::ensure_future()");
  if constexpr (Awaitable<A> && !detail::is_future_handle_v<std::remove_cvref_t<A>>) {
    return create_task(detail::to_coro(std::forward<A>(aw)), std::move(name));
  }
}

/// The task running now (Python: asyncio.current_task()); empty when the loop runs something
/// that is not a task (a callback). Throws RuntimeError("no running event loop") outside a
/// running loop, as Python.
AnyTask current_task();
/// The loop's tasks that are not done yet (Python: asyncio.all_tasks()).
std::vector<AnyTask> all_tasks();
/// The tasks of `loop` that are not done yet (Python: asyncio.all_tasks(loop)).
std::vector<AnyTask> all_tasks(EventLoop& loop);

namespace detail {

/// Awaiter of sleep(): a timer entry in the coroutine frame, so sleeping allocates nothing.
/// Kept small (56 bytes for sleep(d)): a million sleepers hold a million of these. The delay
/// waits in when_ns until await_suspend turns it into the deadline, and the rare
/// cancellation message lives out of line.
template <class T>
class [[nodiscard]] SleepAwaiter final : public Suspension, private TimerEntry {
 public:
  SleepAwaiter(Duration delay, ValueSlot<T>&& result) : result_(std::move(result)) {
    when_ns = to_ns(delay);
  }
  /// Movable until awaited (so it can be handed to wait_for() and the like).
  SleepAwaiter(SleepAwaiter&& o) noexcept(std::is_nothrow_move_constructible_v<ValueSlot<T>>)
      : result_(std::move(o.result_)) {
    when_ns = o.when_ns;
  }
  SleepAwaiter& operator=(const SleepAwaiter&) = delete;
  ~SleepAwaiter() {
    if (task_) LoopAccess::remove_timer(task_->loop(), this);
  }

  bool await_ready() const noexcept { return false; }  // even sleep(0s) yields once

  void await_suspend(std::coroutine_handle<> h) {
    TaskBase& task = current_task_for("sleep");
    task_ = &task;
    const std::int64_t delay_ns = when_ns;
    if (delay_ns <= 0) {
      state_ = State::Yielded;
      task.wake();
    } else {
      EventLoop& loop = task.loop();
      run = &on_timer;
      LoopAccess::add_timer(loop, this, deadline_ns(LoopAccess::now_ns(loop), delay_ns));
      state_ = State::Sleeping;
    }
    task.suspend(h, this);
  }

  bool cancel_awaited(const std::string& message) override {
    switch (state_) {
      case State::Sleeping:
        // Python: the sleep future is cancelled, which schedules the task's wake-up now. If
        // the timer already fired, its queued on_timer item sees Cancelled and does nothing.
        if (scheduled()) LoopAccess::remove_timer(task_->loop(), this);
        task_->wake();
        break;
      case State::Expired:  // the wake-up is queued already; it will see the cancellation
        break;
      case State::Yielded:  // a bare yield is not a future: CPython cannot cancel it either
      case State::Cancelled:
        return false;
    }
    state_ = State::Cancelled;
    if (!message.empty()) message_ = std::make_unique<std::string>(message);
    return true;
  }

  /// Call graphs: what the task waits on.
  std::string describe_wait() const override { return "sleep"; }

  T await_resume() {
    if (state_ == State::Cancelled) {
      task_->consume_must_cancel();  // the first cancellation's message wins, as in CPython
      throw CancelledError(message_ ? std::move(*message_) : std::string());
    }
    task_->throw_if_must_cancel();
    if constexpr (!std::is_void_v<T>) return std::move(*result_.value);
  }

 private:
  enum class State : std::uint8_t { Sleeping, Expired, Yielded, Cancelled };

  // Python: the timer callback sets the sleep future's result, which schedules the task's
  // wake-up (one ready-queue hop). Stepping the task right here would run it ahead of tasks
  // woken by timer callbacks due earlier in the same iteration.
  static void on_timer(void* entry, bool discard) {
    if (discard) return;
    auto* s = static_cast<SleepAwaiter*>(static_cast<TimerEntry*>(entry));
    if (s->state_ != State::Sleeping) return;  // cancelled meanwhile: already woken
    s->state_ = State::Expired;
    s->task_->wake();
  }

  TaskBase* task_ = nullptr;
  std::unique_ptr<std::string> message_;
  State state_ = State::Sleeping;
  [[no_unique_address]] ValueSlot<T> result_;
};

}  // namespace detail

/// Suspends the current task for `delay` (Python: asyncio.sleep). `sleep(0s)` yields to the
/// loop for exactly one iteration. Cancellable: a cancelled sleep throws CancelledError.
inline detail::SleepAwaiter<void> sleep(Duration delay) {
  return detail::SleepAwaiter<void>(delay, {});
}
/// As sleep(delay), then returns `result`.
/// Python: asyncio.sleep(delay, result).
template <class T>
detail::SleepAwaiter<std::decay_t<T>> sleep(Duration delay, T&& result) {
  detail::ValueSlot<std::decay_t<T>> slot;
  slot.value.emplace(std::forward<T>(result));
  return detail::SleepAwaiter<std::decay_t<T>>(delay, std::move(slot));
}

// ---- EventLoop::run_until_complete -----------------------------------------------------------

namespace detail {
/// Runs `loop` until the future `f` is done (Python: run_until_complete's done callback).
void run_until_done(EventLoop& loop, FutureBase& f);
}  // namespace detail

namespace detail {
/// The result of a done future for a caller that holds `handle` by value: moved out when no
/// other handle can read it any more, copied otherwise.
template <class H>
typename H::value_type take_result(H& handle) {
  using T = typename H::value_type;
  if constexpr (std::is_void_v<T>) {
    handle.result();
  } else if constexpr (is_really_copyable_v<T>) {
    if (handle.impl()->ref_count() > 1) return T(handle.result());
    return T(std::move(handle.result()));
  } else {
    return T(std::move(handle.result()));
  }
}
}  // namespace detail

template <class T>
T EventLoop::run_until_complete(Future<T> future) {
  detail::run_until_done(*this, *future.impl());
  return detail::take_result(future);
}

template <class T>
T EventLoop::run_until_complete(Task<T> task) {
  detail::run_until_done(*this, *task.impl());
  return detail::take_result(task);
}

template <class T>
T EventLoop::run_until_complete(Coro<T> coro) {
  // As Python, check before wrapping the coroutine: a failed call must not leave a task behind.
  check_not_closed();
  check_running();
  return run_until_complete(create_task(std::move(coro)));
}

}  // namespace asyncio
