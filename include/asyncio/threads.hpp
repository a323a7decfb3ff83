// asyncio/threads.hpp — working with threads (Python: asyncio.threads.to_thread,
// loop.run_in_executor, asyncio.wrap_future, asyncio.run_coroutine_threadsafe).
//
//   // In a coroutine: run a blocking function on the default thread pool.
//   std::string body = co_await asyncio::to_thread(read_file, path);
//
//   // From another thread: run a coroutine on a loop and wait for it.
//   asyncio::ConcurrentFuture<int> f = asyncio::run_coroutine_threadsafe(compute(), loop);
//   int v = f.result();
//
// Thread-safety design: loop-side objects (futures, tasks) are only ever touched on their
// loop's thread. Other threads reach the loop through call_soon_threadsafe(), guarded by the
// loop's lifeline (detail::LoopLifeline) so that a loop destroyed meanwhile is never touched;
// what they post holds only thread-safe state (ConcurrentFuture, shared_ptr).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

#include "asyncio/concurrent_future.hpp"
#include "asyncio/coroutines.hpp"
#include "asyncio/events.hpp"
#include "asyncio/executor.hpp"
#include "asyncio/futures.hpp"
#include "asyncio/tasks.hpp"

namespace asyncio {

namespace detail {

/// Access to EventLoop internals for this header.
struct ThreadAccess {
  static const std::shared_ptr<LoopLifeline>& lifeline(const EventLoop& loop) noexcept {
    return loop.lifeline_.get();
  }
};

/// Calls `lifeline.loop->call_soon_threadsafe(fn)` from any thread, unless the loop is
/// destroyed or closed (then `fn` is dropped, as Python drops a result for a closed loop).
/// Returns whether `fn` was scheduled.
template <class F>
bool post_to_loop(LoopLifeline& lifeline, F&& fn) {
  std::lock_guard lock(lifeline.mutex);
  if (lifeline.loop == nullptr) return false;
  try {
    lifeline.loop->call_soon_threadsafe(std::forward<F>(fn));
    return true;
  } catch (const RuntimeError&) {
    return false;  // "Event loop is closed"
  }
}

/// wrap_future's link between a ConcurrentFuture (source) and a loop future (dest).
template <class T>
struct WrapLink {
  std::weak_ptr<ConcurrentState<T>> source;  // to cancel it when dest is cancelled
  FutureImpl<T>* dest = nullptr;  // loop thread only; null once dest was destroyed or done
  bool move_value = false;        // the source has no other reader: move the value out

  /// On the loop thread, once the source is done (Python: _copy_future_state).
  void deliver(const ConcurrentFuture<T>& src) {
    if (dest == nullptr || dest->done()) return;  // dest cancelled (or gone): drop
    if (src.cancelled()) {
      dest->cancel({});
      return;
    }
    if (std::exception_ptr e = move_value ? src.state()->take_exception() : src.exception()) {
      dest->set_exception(std::move(e));
      return;
    }
    if constexpr (std::is_void_v<T>) {
      dest->mark_finished();
    } else if constexpr (std::is_copy_constructible_v<T>) {
      if (move_value) {
        dest->value.emplace(std::move(src.result()));
      } else {
        dest->value.emplace(src.result());
      }
      dest->mark_finished();
    } else {
      dest->value.emplace(std::move(src.result()));
      dest->mark_finished();
    }
  }
};

/// Done-callback on the loop future: a cancelled dest cancels the source (Python:
/// _call_check_cancel). Owned by dest while linked (nonzero id), so a dest destroyed while
/// pending fires it with discard=true; either way the link forgets dest.
template <class T>
struct WrapDestNode final : CallbackNode {
  explicit WrapDestNode(std::shared_ptr<WrapLink<T>> l) : link(std::move(l)) { fire = &run; }
  std::shared_ptr<WrapLink<T>> link;

  static void run(void* p, bool /*discard*/) {
    auto* self = static_cast<WrapDestNode*>(static_cast<CallbackNode*>(p));
    if (self->held != nullptr && self->held->cancelled()) {
      if (auto source = self->link->source.lock()) ConcurrentFuture<T>(std::move(source)).cancel();
    }
    self->link->dest = nullptr;
    if (self->held != nullptr) self->held->release();
    delete self;
  }
};

template <class T>
Future<T> wrap_future(const ConcurrentFuture<T>& source, EventLoop& loop, bool move_value) {
  Future<T> dest = loop.create_future<T>();
  auto link = std::make_shared<WrapLink<T>>();
  link->source = source.state();
  link->dest = dest.impl();
  link->move_value = move_value;
  auto* node = new WrapDestNode<T>(link);
  node->id = dest.impl()->next_callback_id();
  dest.impl()->add_callback(node);
  // Python: source.add_done_callback(_call_set_state) — runs in whichever thread completes
  // the source, so it only posts to the loop.
  source.add_done_callback(
      [link, lifeline = ThreadAccess::lifeline(loop)](const ConcurrentFuture<T>& done) {
        post_to_loop(*lifeline, [link, done] { link->deliver(done); });
      });
  return dest;
}

/// run_coroutine_threadsafe's link to the task, shared with other threads.
struct TaskLink {
  explicit TaskLink(std::shared_ptr<LoopLifeline> l) : lifeline(std::move(l)) {}
  std::shared_ptr<LoopLifeline> lifeline;
  TaskBase* task = nullptr;  // loop thread only; non-null while the task is alive and pending
  /// Set when no task will ever be linked (it was never created, or it was destroyed):
  /// cancelling the future then has nothing to post to the loop.
  std::atomic<bool> abandoned{false};
};

/// Done-callback on the task: copies its outcome into the ConcurrentFuture (Python:
/// _set_concurrent_future_state). Owned by the task while linked; fired with discard=true
/// either when the loop closes with the callback queued (the task is done: its outcome is
/// still delivered) or when the task is destroyed unfinished (its loop closed: the
/// ConcurrentFuture is cancelled rather than left pending forever).
template <class T>
struct TaskToConcurrentNode final : CallbackNode {
  TaskToConcurrentNode(ConcurrentFuture<T> d, std::shared_ptr<TaskLink> l)
      : dest(std::move(d)), link(std::move(l)) {
    fire = &run;
  }
  ConcurrentFuture<T> dest;
  std::shared_ptr<TaskLink> link;

  static void run(void* p, bool /*discard*/) {
    auto* self = static_cast<TaskToConcurrentNode*>(static_cast<CallbackNode*>(p));
    self->link->task = nullptr;
    if (auto* task = static_cast<TaskImpl<T>*>(static_cast<TaskBase*>(self->held))) {
      self->copy_from(*task);
      task->release();
    } else {
      self->link->abandoned.store(true);
      self->dest.cancel();
    }
    delete self;
  }

  void copy_from(TaskImpl<T>& task) noexcept {
    if (task.cancelled()) dest.cancel();
    if (!dest.set_running_or_notify_cancel()) return;
    try {
      if (std::exception_ptr e = task.exception()) {
        dest.set_exception(std::move(e));
      } else if constexpr (std::is_void_v<T>) {
        dest.set_result();
      } else if constexpr (std::is_copy_constructible_v<T>) {
        // Whoever else holds the task may still read its result: copy unless we are alone.
        if (task.ref_count() == 1) {
          dest.set_result(std::move(*task.value));
        } else {
          dest.set_result(*task.value);
        }
      } else {
        dest.set_result(std::move(*task.value));
      }
    } catch (...) {
      // Copying the value failed: report that instead.
      try {
        dest.set_exception(std::current_exception());
      } catch (...) {
      }
    }
  }
};

/// The callback run_coroutine_threadsafe posts: creates the task on the loop. If it is
/// destroyed without having run (the loop closed first), it cancels the future.
template <class T>
class StartTaskCallback {
 public:
  StartTaskCallback(Coro<T> coro, EventLoop* loop, ConcurrentFuture<T> dest,
                    std::shared_ptr<TaskLink> link)
      : coro_(std::move(coro)), loop_(loop), dest_(std::move(dest)), link_(std::move(link)) {}
  StartTaskCallback(StartTaskCallback&& o) noexcept
      : coro_(std::move(o.coro_)),
        loop_(o.loop_),
        dest_(o.dest_),
        link_(o.link_),
        armed_(std::exchange(o.armed_, false)) {}
  StartTaskCallback& operator=(StartTaskCallback&&) = delete;
  ~StartTaskCallback() {
    if (armed_) {
      // May run inside call_soon_threadsafe (loop closed) with the loop's queue locked:
      // cancelling must not post anything back.
      link_->abandoned.store(true);
      dest_.cancel();
    }
  }

  void operator()() {
    armed_ = false;
    // Python creates the task and lets the already-cancelled future cancel it before it
    // starts; not creating it is equivalent.
    if (dest_.cancelled()) return;
    try {
      Task<T> task = loop_->create_task(std::move(coro_));
      link_->task = task.impl();
      auto* node = new TaskToConcurrentNode<T>(dest_, link_);
      node->id = task.impl()->next_callback_id();
      task.impl()->add_callback(node);
    } catch (...) {
      if (dest_.set_running_or_notify_cancel()) dest_.set_exception(std::current_exception());
      throw;
    }
  }

 private:
  Coro<T> coro_;
  EventLoop* loop_;
  ConcurrentFuture<T> dest_;
  std::shared_ptr<TaskLink> link_;
  bool armed_ = true;
};

/// Python's asyncio.constants.THREAD_JOIN_TIMEOUT: how long asyncio::run() waits for the
/// default executor at exit.
inline constexpr std::chrono::seconds thread_join_timeout{300};

/// Runs `loop` until shutdown_default_executor(thread_join_timeout) is done. For Runner::close
/// (Python: runners.Runner.close). The loop must not be running.
void shutdown_default_executor_blocking(EventLoop& loop);

}  // namespace detail

/// A loop future that completes like `future` (Python: asyncio.wrap_future). Cancelling the
/// loop future cancels `future` (which stops it only if it has not started running). The
/// value is copied out of `future`, or moved if T is not copyable. Call on the loop's thread.
template <class T>
Future<T> wrap_future(const ConcurrentFuture<T>& future, EventLoop& loop) {
  return detail::wrap_future(future, loop, /*move_value=*/false);
}
/// wrap_future on the running loop.
/// Python: asyncio.wrap_future().
template <class T>
Future<T> wrap_future(const ConcurrentFuture<T>& future) {
  return detail::wrap_future(future, get_running_loop(), /*move_value=*/false);
}

template <class F, class... Args>
Future<detail::executor_result_t<F, Args...>> EventLoop::run_in_executor(Executor* executor, F&& fn,
                                                                         Args&&... args) {
  check_not_closed();
  Executor& target = executor_for_call(executor);
  // Nobody else sees the ConcurrentFuture: the value can be moved out.
  return detail::wrap_future(target.submit(std::forward<F>(fn), std::forward<Args>(args)...), *this,
                             /*move_value=*/true);
}

/// Runs `fn(args...)` in the running loop's default executor and returns its result (Python:
/// asyncio.to_thread). Lazy like Python's coroutine: nothing is submitted until awaited.
/// `fn` and `args` are taken by value (use std::ref to pass references). Cancelling the
/// awaiting task does not stop a call that already started; its result is then dropped.
template <class F, class... Args>
Coro<detail::executor_result_t<F, Args...>> to_thread(F fn, Args... args) {
  using R = detail::executor_result_t<F, Args...>;
  Future<R> f = get_running_loop().run_in_executor(nullptr, std::move(fn), std::move(args)...);
  if constexpr (std::is_void_v<R>) {
    co_await std::move(f);
  } else {
    co_return co_await std::move(f);
  }
}

/// Submits `coro` to `loop` from any thread (Python: asyncio.run_coroutine_threadsafe): the
/// loop wraps it in a task on its next iteration. Returns a ConcurrentFuture for the task's
/// outcome; its cancel() cancels the task (on the loop's thread). If the loop closes before
/// the task finishes, the future is cancelled. Throws RuntimeError if the loop is closed.
/// The caller must ensure the loop is not destroyed during the call.
template <class T>
ConcurrentFuture<T> run_coroutine_threadsafe(Coro<T> coro, EventLoop& loop) {
  if (!coro.valid()) throw RuntimeError("run_coroutine_threadsafe() needs a coroutine");
  ConcurrentFuture<T> future;
  auto link = std::make_shared<detail::TaskLink>(detail::ThreadAccess::lifeline(loop));
  // Python's _call_check_cancel: cancelling the future cancels the task on its loop.
  future.add_done_callback([link](const ConcurrentFuture<T>& f) {
    if (!f.cancelled() || link->abandoned.load()) return;
    detail::post_to_loop(*link->lifeline, [link] {
      if (link->task != nullptr) link->task->cancel({});
    });
  });
  loop.call_soon_threadsafe(detail::StartTaskCallback<T>(std::move(coro), &loop, future, link));
  return future;
}

}  // namespace asyncio
