// Runner: loop lifecycle and the shutdown sequence of asyncio.run().

#include "asyncio/runners.hpp"

#include "asyncio/gather.hpp"

namespace asyncio {

Runner::Runner(std::optional<bool> debug) : debug_(debug) {}

Runner::~Runner() {
  try {
    close();
  } catch (...) {
    // close() only throws for a running loop, which a destructor cannot fix.
  }
}

EventLoop& Runner::get_loop() {
  if (state_ == State::Closed) throw RuntimeError("Runner is closed");
  if (state_ == State::Created) {
    loop_ = std::make_unique<EventLoop>();
    if (debug_) loop_->set_debug(*debug_);
    state_ = State::Initialized;
  }
  return *loop_;
}

void Runner::check_can_run() {
  if (detail::running_loop != nullptr) {
    throw RuntimeError("Runner.run() cannot be called from a running event loop");
  }
}

namespace {

Coro<> wait_all(std::vector<AnyTask> tasks) {
  co_await gather(return_exceptions, std::move(tasks));
}

/// Python: asyncio.runners._cancel_all_tasks.
void cancel_all_tasks(EventLoop& loop) {
  std::vector<AnyTask> to_cancel = all_tasks(loop);
  if (to_cancel.empty()) return;
  for (const AnyTask& t : to_cancel) t.cancel();
  loop.run_until_complete(wait_all(to_cancel));
  for (const AnyTask& t : to_cancel) {
    if (t.cancelled()) continue;
    if (std::exception_ptr e = t.exception()) {
      loop.call_exception_handler(
          {"unhandled exception during asyncio.run() shutdown", e, t.get_name()});
    }
  }
}

}  // namespace

void Runner::close() {
  if (state_ != State::Initialized) return;
  struct Finally {
    Runner* r;
    ~Finally() {
      r->loop_->close();
      r->loop_.reset();
      r->state_ = State::Closed;
    }
  } finally{this};
  cancel_all_tasks(*loop_);
}

}  // namespace asyncio
