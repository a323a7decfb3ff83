// asyncio/taskgroups.hpp — TaskGroup, structured concurrency (Python: asyncio.TaskGroup).
//
// Python's `async with asyncio.TaskGroup() as tg:` becomes a scope function:
//
//   co_await asyncio::task_group([&](asyncio::TaskGroup& tg) -> asyncio::Coro<> {
//     auto a = tg.create_task(fetch(1));
//     auto b = tg.create_task(fetch(2));
//     co_return;
//   });   // here both are done
//
// C++ has no asynchronous destructor, so a plain RAII object could not wait for the children
// when the body throws; the scope function always waits, so no child outlives the group.
//
// Semantics of Python 3.12, with 3.13's fix for an outside cancellation meeting the group's
// own (gh-116720) and 3.15's TaskGroup::cancel():
//   - The scope ends when the body and every child task are done.
//   - The first child to fail cancels the other children and the body; all failures come out
//     together as one ExceptionGroup("unhandled errors in a TaskGroup", [...]).
//   - A child's cancellation is not an error. An exception from the body joins the group.
//   - If the task running the group is cancelled, the children are cancelled, waited for, and
//     CancelledError propagates (unless children failed: then the ExceptionGroup does).
//   - create_task() on a group that is finished or shutting down throws RuntimeError.
#pragma once

#include <string>
#include <vector>

#include "asyncio/detail/immediate.hpp"
#include "asyncio/detail/intrusive_list.hpp"
#include "asyncio/tasks.hpp"

namespace asyncio {

/// A scope owning child tasks (Python: asyncio.TaskGroup). Used through task_group(), which
/// plays the role of `async with asyncio.TaskGroup() as tg:`; see the rules above.
class TaskGroup {
 public:
  TaskGroup() = default;
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;
  ~TaskGroup();

  /// Starts `coro` as a child task of the group (Python: TaskGroup.create_task).
  /// `site`: where it was created (C++ only, leave it defaulted; see asyncio::create_task).
  template <class T>
  Task<T> create_task(Coro<T> coro, std::string name = {},
                      detail::AwaitSite site = ASYNCIO_DETAIL_CALLER_SITE) {
    // Python 3.13 closes a refused coroutine (3.12 also warns it was never awaited).
    detail::CoroAccess::mute_never_awaited(coro);
    check_can_create();
    Task<T> task = loop_->create_task(std::move(coro), std::move(name));
    task.impl()->set_creation_site(site);
    adopt(detail::Ref<detail::TaskBase>(task.impl()));
    return task;
  }
  /// Starts any other awaitable (sleep(d), queue.get(), ...) as a child task, wrapped in a
  /// Coro as asyncio::create_task() does (Python: TaskGroup.create_task(coro)).
  template <class A>
  requires(!detail::is_coro_type_v<std::remove_cvref_t<A>>) auto create_task(
      A&& aw, std::string name = {}) {
    static_assert(Awaitable<A>, ASYNCIO_NOT_AWAITABLE_MESSAGE("TaskGroup::create_task()"));
    static_assert(!detail::is_future_handle_v<std::remove_cvref_t<A>>,
                  "TaskGroup::create_task(): a coroutine was expected, got a Task or Future");
    if constexpr (Awaitable<A> && !detail::is_future_handle_v<std::remove_cvref_t<A>>) {
      return create_task(detail::to_coro(std::forward<A>(aw)), std::move(name));
    }
  }

  /// Cancels the group: every child that is not done and the body (at its current await)
  /// are cancelled, and the scope then ends WITHOUT CancelledError (task_group() returns
  /// normally; a body that returns a value yields a value-initialized T, or rethrows the
  /// CancelledError when T has no default constructor). Called before the group is entered,
  /// the group is cancelled as it enters; idempotent, and a no-op once the group finished.
  /// Python 3.15: TaskGroup.cancel().
  void cancel();

  // The two halves of Python's `async with` (task_group() calls them).
  /// Binds the group to the running task (Python: TaskGroup.__aenter__). RuntimeError if
  /// entered twice or outside a task.
  void enter();
  /// Waits for the children; throws the ExceptionGroup of their errors, or the body's
  /// exception (Python: TaskGroup.__aexit__). `body_exception`: what the body threw, or null.
  Coro<> exit(std::exception_ptr body_exception);

  // The asynchronous context manager protocol of contextlib.hpp, for
  // `TaskGroup tg; co_await async_with(tg, body)`.
  /// `co_await tg.aenter()`: enter(), giving this group (Python: __aenter__ returns self).
  auto aenter() {
    return detail::Immediate([this]() -> TaskGroup& {
      enter();
      return *this;
    });
  }
  /// `co_await tg.aexit(e)`: exit(e) (Python: __aexit__). Gives true, suppressing `e`, when
  /// exit() returns normally with an exception: the CancelledError of the group's own
  /// cancel() (Python 3.15); whatever else must propagate, exit() throws.
  Coro<bool> aexit(std::exception_ptr body_exception) {
    co_await exit(body_exception);
    co_return body_exception != nullptr;
  }

 private:
  struct Child;
  void check_can_create() const;
  void adopt(detail::Ref<detail::TaskBase> task);
  void abort();
  void on_task_done(detail::TaskBase& task);
  static void on_child_fire(void* node, bool discard);

  EventLoop* loop_ = nullptr;
  detail::TaskBase* parent_ = nullptr;
  detail::IntrusiveList<detail::ListNode> children_;  // Child::member nodes, pending children
  std::size_t pending_ = 0;
  std::vector<std::exception_ptr> errors_;
  Future<void> on_completed_;
  bool entered_ = false;
  bool exiting_ = false;
  bool aborting_ = false;
  bool parent_cancel_requested_ = false;
  bool cancel_on_enter_ = false;
};

/// Runs `body(tg)` in a new TaskGroup and waits for all its children; returns the body's
/// result. See the header comment for the failure and cancellation rules.
/// Python: `async with asyncio.TaskGroup() as tg:`.
template <class F>
auto task_group(F body) -> Coro<typename std::invoke_result_t<F&, TaskGroup&>::value_type> {
  using T = typename std::invoke_result_t<F&, TaskGroup&>::value_type;
  TaskGroup tg;
  tg.enter();
  std::exception_ptr error;
  std::optional<std::conditional_t<std::is_void_v<T>, char, T>> result;
  try {
    if constexpr (std::is_void_v<T>) {
      co_await body(tg);
    } else {
      result.emplace(co_await body(tg));
    }
  } catch (...) {
    error = std::current_exception();
  }
  co_await tg.exit(error);
  // exit() throws whatever must propagate; it returns normally with an `error` only when
  // that error is the CancelledError of the group's own cancel() (Python: __aexit__ returns
  // True and the exception is suppressed).
  if constexpr (!std::is_void_v<T>) {
    if (!result) {
      if constexpr (std::is_default_constructible_v<T>) {
        co_return T{};
      } else {
        std::rethrow_exception(error);
      }
    }
    co_return std::move(*result);
  }
}

}  // namespace asyncio
