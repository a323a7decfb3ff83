// TaskGroup: the state machine of Python 3.12's asyncio.taskgroups.TaskGroup.

#include "asyncio/taskgroups.hpp"

namespace asyncio {

/// One child: linked into the group's list while pending, and into the child task's
/// done-callbacks. Heap-allocated; owned by the group while linked in the task's callbacks,
/// and by the ready queue once scheduled (then `group` may be null: the group is gone).
struct TaskGroup::Child {
  struct Member : detail::ListNode {
    Child* child;
  };
  struct Callback : detail::CallbackNode {
    Child* child;
  };
  Member member;
  Callback callback;
  detail::Ref<detail::TaskBase> task;
  TaskGroup* group;
};

TaskGroup::~TaskGroup() {
  // Only reached with children pending when the frame is destroyed without finishing (the
  // loop closing): detach them so no callback points here.
  while (detail::ListNode* n = children_.pop_front()) {
    Child* c = static_cast<Child::Member*>(n)->child;
    if (c->callback.linked()) {
      c->callback.unlink();
      delete c;
    } else {
      c->group = nullptr;  // queued: deletes itself when run or discarded
    }
  }
}

void TaskGroup::enter() {
  if (entered_) throw RuntimeError("TaskGroup has already been entered");
  loop_ = &get_running_loop();
  parent_ = detail::LoopAccess::current_task(*loop_);
  if (!parent_) throw RuntimeError("TaskGroup cannot determine the parent task");
  entered_ = true;
  if (cancel_on_enter_) cancel();  // Python 3.15: cancel() before entering
}

void TaskGroup::check_can_create() const {
  if (!entered_) throw RuntimeError("TaskGroup has not been entered");
  if (exiting_ && pending_ == 0) throw RuntimeError("TaskGroup is finished");
  if (aborting_) throw RuntimeError("TaskGroup is shutting down");
}

void TaskGroup::adopt(detail::Ref<detail::TaskBase> task) {
  if (task->done()) {
    // Finished eagerly inside create_task() (an eager task factory): handled now and never
    // linked, as Python 3.12's TaskGroup.create_task does, so a failure aborts the group
    // before create_task() returns.
    on_task_done(*task);
    return;
  }
  auto* c = new Child{};
  c->member.child = c;
  c->callback.child = c;
  c->callback.fire = &on_child_fire;
  c->task = task;
  c->group = this;
  children_.push_back(&c->member);
  ++pending_;
  task->set_awaited_by(parent_);  // call graphs: the task that entered the group awaits it
  task->add_callback(&c->callback);
}

void TaskGroup::on_child_fire(void* node, bool discard) {
  Child* c = static_cast<Child::Callback*>(static_cast<detail::CallbackNode*>(node))->child;
  TaskGroup* group = c->group;
  if (group) {
    c->member.unlink();
    --group->pending_;
    if (!discard) group->on_task_done(*c->task);
  }
  delete c;
}

void TaskGroup::abort() {
  aborting_ = true;
  children_.for_each([](detail::ListNode* n) {
    Child* c = static_cast<Child::Member*>(n)->child;
    if (!c->task->done()) c->task->cancel({});
  });
}

void TaskGroup::on_task_done(detail::TaskBase& task) {
  if (on_completed_.valid() && pending_ == 0 && !on_completed_.done()) on_completed_.set_result();
  if (task.cancelled()) return;
  std::exception_ptr e = task.exception();
  if (!e) return;
  errors_.push_back(e);
  if (parent_->done()) {
    loop_->call_exception_handler({"Task " + task.describe_self() +
                                       " has errored out but its parent task " +
                                       parent_->describe_self() + " is already completed",
                                   e, task.describe_self()});
    return;
  }
  if (!aborting_ && !parent_cancel_requested_) {
    // Interrupt the body too: it gets CancelledError at its current await. exit() withdraws
    // this request with uncancel(), so the parent does not end up cancelled.
    abort();
    parent_cancel_requested_ = true;
    parent_->cancel({});
  }
}

void TaskGroup::cancel() {
  // Python 3.15: TaskGroup.cancel().
  if (!entered_) {
    cancel_on_enter_ = true;
    return;
  }
  if (exiting_ && pending_ == 0) return;  // finished: nothing to do (idempotent)
  if (aborting_) return;
  abort();
  if (parent_ != nullptr && !parent_cancel_requested_) {
    // Interrupt the body like a failing child does; exit() withdraws the request, so the
    // scope ends without CancelledError.
    parent_cancel_requested_ = true;
    parent_->cancel({});
  }
}

Coro<> TaskGroup::exit(std::exception_ptr body_exception) {
  exiting_ = true;
  const bool body_cancelled = detail::is_cancelled_error(body_exception);
  std::exception_ptr propagate_cancellation = body_cancelled ? body_exception : nullptr;
  if (body_exception && !aborting_) abort();

  while (pending_ > 0) {
    if (!on_completed_.valid()) on_completed_ = loop_->create_future<void>();
    try {
      co_await on_completed_;
    } catch (const CancelledError&) {
      if (!aborting_) {
        // The task running the group is being cancelled while children still run.
        propagate_cancellation = std::current_exception();
        abort();
      }
    }
    on_completed_ = Future<void>();
  }

  // Python 3.13 (gh-116720): our own cancel request is withdrawn only once the children are
  // done (3.12 did it before waiting), so a cancellation arriving meanwhile is counted.
  if (parent_cancel_requested_) {
    if (parent_->uncancel_313() == 0) propagate_cancellation = nullptr;
  }
  if (propagate_cancellation && errors_.empty()) std::rethrow_exception(propagate_cancellation);
  if (body_exception && !body_cancelled) errors_.push_back(body_exception);
  if (!errors_.empty()) {
    // Python 3.13 (gh-116720): the ExceptionGroup replaces a CancelledError that came from
    // outside (an enclosing group or a cancel()); re-cancel the parent so that request is
    // still delivered at its next await, and keep cancelling() as it was.
    if (parent_->cancelling() > 0) {
      parent_->uncancel();
      parent_->cancel({});
    }
    std::vector<std::exception_ptr> errors;
    errors.swap(errors_);
    throw ExceptionGroup("unhandled errors in a TaskGroup", std::move(errors));
  }
}

}  // namespace asyncio
