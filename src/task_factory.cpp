// Task factories (Python: loop.set_task_factory / get_task_factory) and the eager factory.
// TaskBase::start_eager(), the eager first step itself, lives with the task state machine in
// src/tasks.cpp.

#include "asyncio/task_factory.hpp"

namespace asyncio {

void EventLoop::set_task_factory(TaskFactory factory) {
  if (factory) {
    task_factory_ = std::make_shared<const TaskFactory>(std::move(factory));
  } else {
    task_factory_.reset();
  }
}

TaskFactory EventLoop::get_task_factory() const {
  return task_factory_ ? *task_factory_ : TaskFactory();
}

void EventLoop::start_with_factory(detail::TaskBase& task, std::string name) {
  // Python's create_task() checks the loop before calling the factory.
  check_not_closed();
  // Kept alive for the call: the factory may call set_task_factory() itself.
  std::shared_ptr<const TaskFactory> factory = task_factory_;
  NewTask spawn(task);
  (*factory)(*this, spawn);
  if (!spawn.started()) task.start();
  // Python 3.12 (and 3.13): create_task() calls the factory without the name and names the
  // task it returns, so the factory and an eager first step see the default "Task-N".
  if (!name.empty()) task.set_name(std::move(name));
}

void NewTask::mark_started() {
  if (started_) throw RuntimeError("the task is already started");
  started_ = true;
}

void NewTask::start() {
  mark_started();
  task_->start();
}

void NewTask::start_eager() {
  mark_started();
  task_->start_eager();
}

void eager_task_factory(EventLoop&, NewTask& task) {
  task.start_eager();
}

}  // namespace asyncio
