// FutureBase: state transitions, callbacks and unretrieved-exception reporting.

#include "asyncio/futures.hpp"

#include "asyncio/detail/loop_registry.hpp"
#include "asyncio/detail/task_base.hpp"

namespace asyncio::detail {

FutureBase::~FutureBase() {
  report_if_unretrieved();
  // Callbacks that will never run: each is told once, so it can free what it owns.
  while (CallbackNode* node = callbacks_.pop_front()) node->fire(node, true);
}

void FutureBase::report_if_unretrieved() noexcept {
  if (!log_traceback_) return;
  log_traceback_ = false;
  ExceptionContext context{
      is_task() ? "Task exception was never retrieved" : "Future exception was never retrieved",
      exception_, describe_for_report()};
  if (loop_is_alive(loop_)) {
    loop_->call_exception_handler(context);
  } else {
    report_without_loop(context);
  }
}

const std::string& FutureBase::empty_string() noexcept {
  static const std::string empty;
  return empty;
}

bool FutureBase::cancel(const std::string& message) {
  log_traceback_ = false;
  if (done()) return false;
  mark_cancelled(message);
  return true;
}

std::exception_ptr FutureBase::exception() {
  switch (status_) {
    case FutureStatus::Pending:
      throw InvalidStateError("Exception is not set.");
    case FutureStatus::Cancelled:
      throw make_cancelled_error();
    case FutureStatus::Finished:
      break;
  }
  log_traceback_ = false;
  return exception_;
}

void FutureBase::check_result() {
  switch (status_) {
    case FutureStatus::Pending:
      throw InvalidStateError("Result is not set.");
    case FutureStatus::Cancelled:
      throw make_cancelled_error();
    case FutureStatus::Finished:
      break;
  }
  log_traceback_ = false;
  if (exception_) std::rethrow_exception(exception_);
}

namespace {
// CPython 3.12's text for set_result()/set_exception() on a done (or cancelled) future; the
// C Future says only this, whatever the state.
[[noreturn]] void throw_already_done() {
  throw InvalidStateError("invalid state");
}
}  // namespace

void FutureBase::set_exception(std::exception_ptr e) {
  if (done()) throw_already_done();
  if (!e) throw ValueError("set_exception() needs an exception, got a null exception_ptr");
  exception_ = std::move(e);
  status_ = FutureStatus::Finished;
  log_traceback_ = true;
  schedule_callbacks();
}

void FutureBase::mark_finished() {
  if (done()) throw_already_done();
  status_ = FutureStatus::Finished;
  schedule_callbacks();
}

void FutureBase::mark_cancelled(std::string message) {
  set_cancel_message(message);
  status_ = FutureStatus::Cancelled;
  schedule_callbacks();
}

void FutureBase::add_callback(CallbackNode* node) {
  if (done()) {
    // Python: a callback added to a done future is scheduled at once.
    if (node->id != 0) {
      add_ref();
      node->held = this;
    }
    LoopAccess::schedule(*loop_, {node->fire, node});
    return;
  }
  callbacks_.push_back(node);
}

std::size_t FutureBase::remove_callback(CallbackId id) noexcept {
  std::size_t removed = 0;
  callbacks_.for_each([&](CallbackNode* node) {
    if (node->id == id) {
      node->unlink();
      node->fire(node, true);
      ++removed;
    }
  });
  return removed;
}

void FutureBase::schedule_callbacks() {
  while (CallbackNode* node = callbacks_.pop_front()) {
    if (node->id != 0) {
      add_ref();
      node->held = this;
    }
    LoopAccess::schedule(*loop_, {node->fire, node});
  }
}

TaskBase& current_task_for(const char* what) {
  EventLoop* loop = running_loop;
  TaskBase* task = loop ? LoopAccess::current_task(*loop) : nullptr;
  if (!task) {
    throw RuntimeError(std::string("cannot ") + what +
                       " outside of a task: run it with asyncio::run() or create_task()");
  }
  return *task;
}

}  // namespace asyncio::detail
