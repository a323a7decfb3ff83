// EventLoop's executor members (Python: BaseEventLoop.run_in_executor's helpers,
// set_default_executor, shutdown_default_executor).

#include "asyncio/threads.hpp"

#include <cstdio>
#include <thread>

namespace asyncio {

Executor& EventLoop::executor_for_call(Executor* executor) {
  if (executor != nullptr) return *executor;
  // Python: _check_default_executor.
  if (executor_shutdown_called_) throw RuntimeError("Executor shutdown has been called");
  if (!default_executor_) {
    default_executor_ = std::make_shared<ThreadPoolExecutor>(std::nullopt, "asyncio");
  }
  return *default_executor_;
}

void EventLoop::set_default_executor(std::shared_ptr<Executor> executor) {
  default_executor_ = std::move(executor);
}

namespace {

/// The helper thread joining the default executor: detached if the coroutine stops waiting
/// for it (timeout, cancellation, or the frame destroyed by the loop closing). It only holds
/// thread-safe state, so it may outlive the loop.
struct JoinerThread {
  std::thread thread;
  JoinerThread() = default;
  JoinerThread(const JoinerThread&) = delete;
  JoinerThread& operator=(const JoinerThread&) = delete;
  ~JoinerThread() {
    if (thread.joinable()) thread.detach();
  }
};

struct TimerGuard {
  TimerHandle handle;
  TimerGuard() = default;
  TimerGuard(const TimerGuard&) = delete;
  TimerGuard& operator=(const TimerGuard&) = delete;
  ~TimerGuard() { handle.cancel(); }
};

}  // namespace

Coro<void> EventLoop::shutdown_default_executor(std::optional<Duration> timeout) {
  executor_shutdown_called_ = true;
  if (!default_executor_) co_return;
  std::shared_ptr<Executor> executor = default_executor_;

  // Python: a thread runs executor.shutdown(wait=True) and reports through a future.
  ConcurrentFuture<void> joined;
  Future<void> done = wrap_future(joined, *this);
  JoinerThread joiner;
  joiner.thread = std::thread([executor, joined] {
    try {
      executor->shutdown(/*wait=*/true);
      if (joined.set_running_or_notify_cancel()) joined.set_result();
    } catch (...) {
      try {
        joined.set_exception(std::current_exception());
      } catch (...) {  // already cancelled: nobody waits any more
      }
    }
  });

  bool timed_out = false;
  TimerGuard timer;  // after timed_out: cancelled before timed_out is destroyed
  if (timeout) {
    timer.handle = call_later(*timeout, [done, &timed_out] {
      if (!done.done()) {
        timed_out = true;
        done.cancel();
      }
    });
  }
  try {
    co_await done;
  } catch (const CancelledError&) {
    if (!timed_out) throw;  // the awaiting task was cancelled: the joiner is detached
  }
  if (timed_out) {
    std::fprintf(stderr,
                 "asyncio: The executor did not finishing joining its threads within %g "
                 "seconds.\n",
                 timeout->count());
    executor->shutdown(/*wait=*/false);
    co_return;  // the joiner thread is detached
  }
  joiner.thread.join();  // it has finished its work: this is immediate
}

namespace detail {

void shutdown_default_executor_blocking(EventLoop& loop) {
  loop.run_until_complete(loop.shutdown_default_executor(Duration(thread_join_timeout)));
}

}  // namespace detail
}  // namespace asyncio
