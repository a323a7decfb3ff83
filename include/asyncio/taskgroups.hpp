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
// Semantics of Python 3.12:
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
    check_can_create();
    Task<T> task = loop_->create_task(std::move(coro), std::move(name));
    task.impl()->set_creation_site(site);
    adopt(detail::Ref<detail::TaskBase>(task.impl()));
    return task;
  }

  // The two halves of Python's `async with` (task_group() calls them).
  /// Binds the group to the running task (Python: TaskGroup.__aenter__). RuntimeError if
  /// entered twice or outside a task.
  void enter();
  /// Waits for the children; throws the ExceptionGroup of their errors, or the body's
  /// exception (Python: TaskGroup.__aexit__). `body_exception`: what the body threw, or null.
  Coro<> exit(std::exception_ptr body_exception);

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
  if (error) std::rethrow_exception(error);
  if constexpr (!std::is_void_v<T>) co_return std::move(*result);
}

}  // namespace asyncio
