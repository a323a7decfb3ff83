// TaskBase: stepping, completion, cancellation and teardown of tasks.

#include "asyncio/tasks.hpp"

#include "asyncio/graph.hpp"

namespace asyncio::detail {

TaskBase::~TaskBase() {
  report_if_unretrieved();  // here, while describe_self() still names the task
  if (root_) root_.destroy();
  drop_awaited_by();
}

std::string TaskBase::name() const {
  return name_ ? *name_ : "Task-" + std::to_string(number_);
}

std::string foreign_future_message(const TaskBase& task, const FutureBase& future) {
  return "Task <" + task.describe_self() + "> got Future <" + future.describe_self() +
         "> attached to a different loop";
}

void TaskBase::start() {
  LoopAccess::check_not_closed(*loop_);
  number_ = static_cast<std::uint32_t>(LoopAccess::next_task_number(*loop_));
  // The age in task dumps costs a clock read per task (a tenth of a spawn): only in builds
  // with call graphs on (debug builds by default) or on a loop in debug mode.
  if (kCallGraph || loop_->get_debug()) created_ns_ = LoopAccess::now_ns(*loop_);
  add_ref();  // the loop's reference, dropped when the task finishes
  LoopAccess::add_pending_task(*loop_, this, &TaskBase::abandon_pending);
  wake();
}

void TaskBase::start_eager() {
  // Python: eager only when the loop is running (here: on this thread, where the caller is).
  if (running_loop != loop_) {
    start();
    return;
  }
  number_ = static_cast<std::uint32_t>(LoopAccess::next_task_number(*loop_));
  add_ref();  // the loop's reference, dropped when the task finishes
  // Registered for the first step, as Python's _register_eager_task: all_tasks() inside the
  // step sees the task; if the step finishes it, finish() unlinks it again.
  LoopAccess::add_pending_task(*loop_, this, &TaskBase::abandon_pending);
  step();  // swaps the current task in and back out, as Python's _swap_current_task
}

bool TaskBase::cancel(const std::string& message) {
  log_traceback_ = false;
  if (done()) return false;
  if (num_cancels_requested_ < UINT16_MAX) ++num_cancels_requested_;
  if (waiter_ && waiter_->cancel_awaited(message)) return true;
  must_cancel_ = true;
  set_cancel_message(message);
  return true;
}

void TaskBase::step() noexcept {
  EventLoop& loop = *loop_;
  TaskBase* previous = LoopAccess::current_task(loop);
  waiter_ = nullptr;
  if (!started_) {
    started_ = true;
    if (must_cancel_) {
      // Cancelled before it ever ran: the body never starts (CPython throws into the
      // unstarted coroutine, which ends it at once).
      must_cancel_ = false;
      mark_cancelled(cancel_message());
      finish();
      return;
    }
  }
  if (loop.get_debug()) [[unlikely]]
    note_debug_step();
  LoopAccess::set_current_task(loop, this);
  resume_point_.resume();
  LoopAccess::set_current_task(loop, previous);
  if (root_.done()) {
    complete_from_root();
    finish();
  }
}

void TaskBase::complete_with_exception(std::exception_ptr e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const CancelledError& cancelled) {
    must_cancel_ = false;
    mark_cancelled(cancelled.message());
  } catch (...) {
    set_exception(std::move(e));
  }
}

void TaskBase::finish() noexcept {
  // Destroy the frame now, as Python drops a finished coroutine's locals.
  if (root_) {
    root_.destroy();
    root_ = {};
  }
  resume_point_ = {};
  waiter_ = nullptr;
  drop_awaited_by();
  unlink();   // from the loop's pending tasks
  release();  // the loop's reference; may delete this
}

void TaskBase::abandon_pending(PendingTask* self) noexcept {
  static_cast<TaskBase*>(self)->abandon_pending();
}

void TaskBase::abandon_pending() noexcept {
  loop_->call_exception_handler(
      {"Task was destroyed but it is pending!", nullptr, describe_for_report()});
  // It will never complete, so its callbacks will never run: let them free what they own now
  // (this also breaks reference cycles through callbacks, which Python's GC would collect).
  while (CallbackNode* node = callbacks_.pop_front()) node->fire(node, true);
  if (root_) {
    root_.destroy();
    root_ = {};
  }
  resume_point_ = {};
  waiter_ = nullptr;
  drop_awaited_by();
  release();
}

namespace {
/// Debug mode: the last task stepped on this thread (a reference), for the slow-callback
/// warning of EventLoop::run_ready_item.
thread_local TaskBase* debug_stepped_task = nullptr;
}  // namespace

void TaskBase::note_debug_step() noexcept {
  add_ref();
  if (TaskBase* old = std::exchange(debug_stepped_task, this)) old->release();
}

Ref<TaskBase> take_debug_stepped_task() noexcept {
  Ref<TaskBase> task;
  if (TaskBase* t = std::exchange(debug_stepped_task, nullptr)) {
    task = Ref<TaskBase>(t);
    t->release();  // Ref took its own reference
  }
  return task;
}

void TaskBase::set_awaited_by(TaskBase* parent) noexcept {
  if (awaited_by_ || !parent || parent == this || done()) return;
  parent->add_ref();
  awaited_by_ = parent;
}

void TaskBase::drop_awaited_by() noexcept {
  if (TaskBase* parent = std::exchange(awaited_by_, nullptr)) parent->release();
}

}  // namespace asyncio::detail

namespace asyncio {

AnyTask current_task() {
  EventLoop* loop = detail::running_loop;
  // Python: current_task() calls get_running_loop(), which raises outside a loop.
  if (loop == nullptr) throw RuntimeError("no running event loop");
  detail::TaskBase* task = detail::LoopAccess::current_task(*loop);
  return task ? AnyTask(detail::Ref<detail::TaskBase>(task)) : AnyTask();
}

std::vector<AnyTask> all_tasks(EventLoop& loop) {
  std::vector<AnyTask> tasks;
  detail::LoopAccess::pending_tasks(loop).for_each([&](detail::PendingTask* t) {
    tasks.emplace_back(detail::Ref<detail::TaskBase>(static_cast<detail::TaskBase*>(t)));
  });
  return tasks;
}

std::vector<AnyTask> all_tasks() {
  return all_tasks(get_running_loop());
}

namespace detail {

namespace {
/// Stops the loop when the future completes. Owned by run_until_done while linked or after
/// it fired; owns itself while queued after run_until_done returned (`orphaned`).
struct StopLoopNode final : CallbackNode {
  EventLoop* loop;
  bool fired = false;
  bool orphaned = false;

  explicit StopLoopNode(EventLoop* l) : loop(l) { fire = &run; }
  static void run(void* p, bool discard) {
    auto* self = static_cast<StopLoopNode*>(static_cast<CallbackNode*>(p));
    if (self->orphaned) {
      delete self;
      return;
    }
    self->fired = true;
    if (!discard) self->loop->stop();
  }
};
}  // namespace

void run_until_done(EventLoop& loop, FutureBase& f) {
  Ref<FutureBase> keep(&f);
  auto* node = new StopLoopNode(&loop);
  f.add_callback(node);
  struct Cleanup {
    StopLoopNode* node;
    ~Cleanup() {
      if (node->fired || node->linked()) {
        node->unlink();
        delete node;
      } else {
        node->orphaned = true;  // still queued: it deletes itself when run or discarded
      }
    }
  } cleanup{node};
  loop.run_forever();
  if (!f.done()) throw RuntimeError("Event loop stopped before Future completed.");
}

}  // namespace detail
}  // namespace asyncio
