// Runner: loop lifecycle and the shutdown sequence of asyncio.run().

#include "asyncio/runners.hpp"

#include <signal.h>

#include <cstdint>
#include <memory>
#include <utility>

#include "asyncio/gather.hpp"
#include "asyncio/threads.hpp"
#include "asyncio/unix_events.hpp"

namespace asyncio {

Runner::Runner(std::optional<bool> debug, LoopFactory loop_factory)
    : debug_(debug), loop_factory_(std::move(loop_factory)) {}

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
    if (loop_factory_) {
      loop_ = loop_factory_();
      if (!loop_) throw RuntimeError("loop_factory returned no event loop");
    } else {
      loop_ = new_event_loop();
      set_event_loop(loop_.get());
      set_event_loop_ = true;
    }
    if (debug_) loop_->set_debug(*debug_);
    state_ = State::Initialized;
  }
  return *loop_;
}

void Runner::run_main_task(const AnyTask& task) {
  EventLoop& loop = *loop_;
  // Python: Runner._interrupt_count and _on_sigint. Shared with the SIGINT callback, which
  // may still be queued after this call returns: `active` turns it into a no-op then.
  struct Interrupts {
    int count = 0;
    bool hard = false;  // a second SIGINT: stop now
    bool active = true;
  };
  auto interrupts = std::make_shared<Interrupts>();
  std::uint64_t token = 0;
  if (detail::is_main_thread() && detail::has_default_disposition(SIGINT)) {
    try {
      loop.add_signal_handler(SIGINT, [interrupts, task, &loop] {
        if (!interrupts->active) return;
        if (++interrupts->count == 1 && !task.done()) {
          task.cancel();
          return;
        }
        interrupts->hard = true;
        loop.stop();
      });
      token = detail::signal_handler_token(loop, SIGINT);
    } catch (const RuntimeError&) {
      // Another loop (in another thread) handles SIGINT: leave Ctrl-C to it.
    }
  }
  struct Restore {
    EventLoop& loop;
    Interrupts& interrupts;
    std::uint64_t token;
    ~Restore() {
      interrupts.active = false;
      // Only if still ours: the program may have installed its own SIGINT handler.
      if (token != 0) detail::remove_signal_handler_if(loop, SIGINT, token);
    }
  } restore{loop, *interrupts, token};

  try {
    detail::run_until_done(loop, *task.impl());
  } catch (const RuntimeError&) {
    if (interrupts->hard) throw KeyboardInterrupt();  // "Event loop stopped before ..."
    throw;
  }
  if (interrupts->hard) throw KeyboardInterrupt();
  if (interrupts->count > 0 && task.cancelled() && task.uncancel() == 0) {
    throw KeyboardInterrupt();
  }
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
  // From inside the loop (a task calling close()): Python raises here too; checking first
  // keeps the tasks uncancelled and avoids loop_->close() throwing from Finally (terminate).
  if (loop_->is_running()) throw RuntimeError("Cannot close a running event loop");
  struct Finally {
    Runner* r;
    ~Finally() {
      if (std::exchange(r->set_event_loop_, false)) set_event_loop(nullptr);
      r->loop_->close();
      r->loop_.reset();
      r->state_ = State::Closed;
    }
  } finally{this};
  cancel_all_tasks(*loop_);
  loop_->run_until_complete(loop_->shutdown_asyncgens());
  // Python: run_until_complete(loop.shutdown_default_executor(THREAD_JOIN_TIMEOUT)).
  detail::shutdown_default_executor_blocking(*loop_);
}

}  // namespace asyncio
