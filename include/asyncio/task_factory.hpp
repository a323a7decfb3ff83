// asyncio/task_factory.hpp — task factories and eager tasks (Python 3.12:
// loop.set_task_factory(), asyncio.eager_task_factory, asyncio.create_eager_task_factory()).
//
//   loop.set_task_factory(asyncio::eager_task_factory);
//   auto t = asyncio::create_task(fetch());  // fetch() has already run up to its first
//                                            // suspension here; if it never suspended, t is done
//
// A task factory is a callable the loop's create_task() hands every new task to (and so every
// create_task() of the library: TaskGroup, gather(), wait_for(), ... as in Python). In Python
// it receives the coroutine and returns a Task-like object; a C++ Task<T> cannot be replaced
// by another type, so here create_task() makes the task and the factory receives it, not yet
// started, as a NewTask: it may customise it (name, done callbacks, bookkeeping) and chooses
// how it starts — NewTask::start() (scheduled, the default) or NewTask::start_eager().
// A factory that returns without starting the task gets it started for it; one that throws
// makes create_task() throw, and a task it did not start is destroyed without running.
//
// Eager start, as Python 3.12's Task(eager_start=True): when the loop runs on this thread the
// coroutine runs synchronously inside create_task() until its first suspension, with
// current_task() the new task (the creator's current task is restored afterwards). A task that
// finishes in that step is never scheduled: it is done when create_task() returns, its
// exception is stored in it (not thrown by create_task()), it is not in all_tasks() any more,
// and done callbacks added later run on the next iteration as usual. When the loop is not
// running (loop.create_task() before run_until_complete()), start_eager() is start().
//
// Cost: create_task() without a factory tests one pointer; bench/ has the spawn figures.
#pragma once

#include <concepts>
#include <utility>

#include "asyncio/tasks.hpp"

namespace asyncio {

/// The task EventLoop::create_task() is making, as its task factory sees it: created (the
/// coroutine adopted, the name set) but not yet started. Lives only during the factory call.
/// Python: the arguments a task factory receives, before it calls the Task constructor.
class NewTask {
 public:
  NewTask(const NewTask&) = delete;
  NewTask& operator=(const NewTask&) = delete;

  /// The task (name, add_done_callback, ...). Its number, in the default name "Task-N", is
  /// given when it starts. Python: the Task object the factory constructs.
  AnyTask task() const { return AnyTask(detail::Ref<detail::TaskBase>(task_)); }
  /// The loop whose create_task() was called (Python: the factory's `loop` argument).
  EventLoop& loop() const noexcept { return task_->loop(); }
  /// Whether start() or start_eager() was called. C++ only.
  bool started() const noexcept { return started_; }

  /// Schedules the task's first step for the next loop iteration (Python: Task(coro,
  /// loop=loop)). RuntimeError if already started.
  void start();
  /// Runs the task's first step now (Python: Task(coro, loop=loop, eager_start=True)); see
  /// the header comment. RuntimeError if already started.
  void start_eager();

 private:
  friend class EventLoop;
  explicit NewTask(detail::TaskBase& task) noexcept : task_(&task) {}
  void mark_started();

  detail::TaskBase* task_;
  bool started_ = false;
};

/// The eager task factory (Python: asyncio.eager_task_factory): starts every task with
/// NewTask::start_eager(). `loop.set_task_factory(asyncio::eager_task_factory)`; it is a
/// plain function, so `loop.get_task_factory().target<decltype(&eager_task_factory)>()`
/// tells whether it is the one installed.
void eager_task_factory(EventLoop& loop, NewTask& task);

/// A factory that calls `custom_task_constructor(task)` with each NewTask, then starts the task
/// eagerly unless the constructor started it (Python: asyncio.create_eager_task_factory(
/// custom_task_constructor); C++ has no Task subclasses, so the "constructor" customises the
/// task instead of constructing it).
template <class F>
requires std::invocable<F&, NewTask&> TaskFactory
create_eager_task_factory(F custom_task_constructor) {
  return [construct = std::move(custom_task_constructor)](EventLoop&, NewTask& task) mutable {
    construct(task);
    if (!task.started()) task.start_eager();
  };
}

}  // namespace asyncio
