// asyncio/executor.hpp — executors: Executor and ThreadPoolExecutor (Python:
// concurrent.futures.Executor / ThreadPoolExecutor).
//
// An executor runs plain (blocking) functions away from the event loop. submit() returns a
// ConcurrentFuture; from a coroutine, use loop.run_in_executor() or asyncio::to_thread()
// (asyncio/threads.hpp), which give an awaitable asyncio::Future instead.
//
//   asyncio::ThreadPoolExecutor pool(4);
//   asyncio::ConcurrentFuture<int> f = pool.submit([](int x) { return x * 2; }, 21);
//   int v = f.result();  // 42
//   pool.shutdown();     // or let the destructor do it
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "asyncio/concurrent_future.hpp"

namespace asyncio {

/// One call handed to an Executor. The executor calls exactly one of run() (on one of its
/// threads) or cancel() (when it is shut down with cancel_futures before the call started),
/// then destroys the item.
class WorkItem {
 public:
  virtual ~WorkItem() = default;
  /// Performs the call and publishes its outcome; must not throw.
  /// C++ only: the work item of concurrent.futures' _WorkItem.run().
  virtual void run() noexcept = 0;
  /// The call will never run: publish that (cancel its future).
  /// C++ only (Python drops a cancelled _WorkItem's future).
  virtual void cancel() noexcept = 0;
};

namespace detail {

/// The WorkItem of Executor::submit(): calls `fn(args...)` (all moved in) and completes the
/// future with the outcome, unless the future was cancelled first.
template <class R, class F, class... Args>
class SubmittedCall final : public WorkItem {
 public:
  SubmittedCall(ConcurrentFuture<R> future, F fn, std::tuple<Args...> args)
      : future_(std::move(future)), fn_(std::move(fn)), args_(std::move(args)) {}

  void run() noexcept override {
    // Python's _WorkItem.run: a future cancelled while queued is skipped.
    if (!future_.set_running_or_notify_cancel()) return;
    std::exception_ptr error;
    try {
      if constexpr (std::is_void_v<R>) {
        call();
        future_.set_result();
      } else {
        future_.set_result(call());
      }
      return;
    } catch (...) {
      error = std::current_exception();
    }
    // Published only once the catch block has ended: this thread then holds no reference to
    // the exception, which the consumer's thread frees.
    future_.set_exception(std::move(error));
  }

  void cancel() noexcept override { future_.cancel(); }

 private:
  decltype(auto) call() {
    return std::apply(
        [this](Args&... args) -> decltype(auto) {
          return std::invoke(std::move(fn_), std::move(args)...);
        },
        args_);
  }

  ConcurrentFuture<R> future_;
  F fn_;
  std::tuple<Args...> args_;
};

}  // namespace detail

/// Something that runs WorkItems (Python: concurrent.futures.Executor). Thread-safe.
class Executor {
 public:
  Executor() = default;
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  virtual ~Executor() = default;

  /// Queues `item` to be run. Throws RuntimeError("cannot schedule new futures after
  /// shutdown") once shut down (then `item` is destroyed without running or cancelling).
  /// Python: concurrent.futures.Executor.submit(), without the Future.
  virtual void execute(std::unique_ptr<WorkItem> item) = 0;

  /// Signals that no more work will be submitted. Calls already queued still run, unless
  /// `cancel_futures`: then those not started are cancelled. With `wait`, blocks until every
  /// accepted call has finished and the threads are gone. Idempotent; thread-safe.
  /// Python: concurrent.futures.Executor.shutdown(wait, cancel_futures=).
  virtual void shutdown(bool wait = true, bool cancel_futures = false) = 0;

  /// Schedules `fn(args...)` (moved or copied into the call; wrap references in std::ref)
  /// and returns a future for its result (Python: Executor.submit). Throws RuntimeError
  /// after shutdown.
  template <class F, class... Args>
  ConcurrentFuture<detail::executor_result_t<F, Args...>> submit(F&& fn, Args&&... args) {
    using R = detail::executor_result_t<F, Args...>;
    ConcurrentFuture<R> future;
    execute(std::make_unique<detail::SubmittedCall<R, std::decay_t<F>, std::decay_t<Args>...>>(
        future, std::forward<F>(fn),
        std::tuple<std::decay_t<Args>...>(std::forward<Args>(args)...)));
    return future;
  }
};

/// A pool of at most max_workers() threads running submitted calls in FIFO order (Python:
/// concurrent.futures.ThreadPoolExecutor). Threads start lazily: a new one only when a call
/// is submitted and no thread is idle. The destructor calls shutdown(wait=true).
class ThreadPoolExecutor final : public Executor {
 public:
  /// `max_workers`: the thread limit; by default min(32, hardware_concurrency() + 4), as
  /// Python. Throws ValueError if it is 0. `thread_name_prefix` names the threads
  /// "<prefix>_<n>" where the platform allows (at most 15 characters are kept on Linux).
  explicit ThreadPoolExecutor(std::optional<std::size_t> max_workers = std::nullopt,
                              std::string thread_name_prefix = {});
  /// shutdown(wait=true): waits for every accepted call.
  ~ThreadPoolExecutor() override;

  /// Python: ThreadPoolExecutor.submit(), without the Future.
  void execute(std::unique_ptr<WorkItem> item) override;
  /// See Executor::shutdown. Called from one of this pool's own threads with `wait`, it
  /// waits for the other threads only.
  /// Python: ThreadPoolExecutor.shutdown(wait, cancel_futures=).
  void shutdown(bool wait = true, bool cancel_futures = false) override;

  /// The thread limit.
  /// Python: ThreadPoolExecutor._max_workers.
  std::size_t max_workers() const noexcept { return max_workers_; }
  /// How many threads were ever started (lazy start: 0 before the first submit; never more
  /// than max_workers()).
  /// Python: len(ThreadPoolExecutor._threads).
  std::size_t thread_count() const;
  /// min(32, std::thread::hardware_concurrency() + 4), Python's default.
  static std::size_t default_max_workers() noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;  // shared with the worker threads
  std::size_t max_workers_;
};

}  // namespace asyncio
