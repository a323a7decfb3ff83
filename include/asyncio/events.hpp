// asyncio/events.hpp — the event loop (Python: asyncio.events + asyncio.base_events).
//
// One EventLoop runs on one thread. Each iteration (`_run_once` in CPython) it:
//   1. polls the reactor for I/O (without blocking when callbacks are ready),
//   2. moves expired timers onto the ready queue, in (deadline, scheduling order),
//   3. runs exactly the callbacks that were ready when the iteration began, FIFO.
// Callbacks scheduled while an iteration runs wait for the next one, so `sleep(0s)` yields
// exactly one iteration and no callback can starve I/O.
//
// Lifetime rule: futures and tasks created by a loop must not be completed after that loop is
// destroyed. A finished task whose handle outlives its loop is fine.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "asyncio/detail/intrusive_list.hpp"
#include "asyncio/detail/ready_queue.hpp"
#include "asyncio/detail/timer_heap.hpp"
#include "asyncio/exceptions.hpp"

namespace asyncio {

/// Durations throughout the API: seconds as a double, like Python's floats. Any
/// std::chrono duration converts implicitly (`1s`, `500ms`, `0.25s`).
using Duration = std::chrono::duration<double>;

class EventLoop;
template <class T>
class Coro;
template <class T>
class Future;
template <class T>
class Task;
class Executor;  // asyncio/executor.hpp
class NewTask;   // asyncio/task_factory.hpp

/// A loop's task factory (Python: the callable given to loop.set_task_factory()): called by
/// create_task() with the task it made, not yet started; it may customise the task and
/// chooses how it starts (NewTask::start() or start_eager()). See asyncio/task_factory.hpp.
using TaskFactory = std::function<void(EventLoop& loop, NewTask& task)>;

/// What `EventLoop::call_exception_handler` receives (Python's `context` dict).
struct ExceptionContext {
  std::string message;           ///< what happened, e.g. "Task exception was never retrieved"
  std::exception_ptr exception;  ///< the exception, when there is one
  std::string task;              ///< name of the task or future involved, when there is one
};

/// A loop's exception handler: `handler(loop, context)` (Python: the callable given to
/// loop.set_exception_handler()).
using ExceptionHandler = std::function<void(EventLoop&, const ExceptionContext&)>;

namespace detail {

struct LoopAccess;
class TaskBase;
class Reactor;
class CompletionRing;
class IoWatchers;

/// Shared state behind Handle/TimerHandle. Atomically counted: call_soon_threadsafe hands
/// handles to other threads.
class HandleState {
 public:
  explicit HandleState(EventLoop* loop) noexcept : loop(loop) {}
  HandleState(const HandleState&) = delete;
  HandleState& operator=(const HandleState&) = delete;
  virtual ~HandleState() = default;

  /// Runs the callback; exceptions go to the loop's exception handler.
  virtual void invoke() = 0;

  void add_ref() noexcept { refs_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  EventLoop* loop;
  std::atomic<bool> cancelled{false};
  /// Used by timer handles only. TimerEntry's expiry callback receives the entry.
  struct Timer : TimerEntry {
    HandleState* owner = nullptr;
    double when = 0;  // the deadline as given (TimerHandle::when(); may be NaN or infinite)
  } timer;

 private:
  std::atomic<std::uint32_t> refs_{1};
};

template <class F>
class CallbackHandle final : public HandleState {
 public:
  CallbackHandle(EventLoop* loop, F&& f) : HandleState(loop), f_(std::move(f)) {}
  void invoke() override { f_(); }

 private:
  F f_;
};

template <class F, class... Args>
auto bind_callback(F&& f, Args&&... args) {
  if constexpr (sizeof...(Args) == 0) {
    return std::decay_t<F>(std::forward<F>(f));
  } else {
    return [f = std::decay_t<F>(std::forward<F>(f)),
            args = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)]() mutable {
      std::apply(f, args);
    };
  }
}

/// Internal fast path for transports and socket operations: an object the loop notifies
/// directly from its poll phase when its fd is ready (no allocation, no ready-queue hop).
/// Public add_reader()/add_writer() and an IoHandler cannot share one fd.
class IoHandler {
 public:
  /// Called with the readiness of the fd; may (un)register any fd, including its own.
  /// Must not throw. Readiness may be spurious: non-blocking I/O must tolerate EAGAIN.
  virtual void on_io(bool readable, bool writable) noexcept = 0;

 protected:
  ~IoHandler() = default;
};

/// A task as the loop sees it: not yet done, linked in its loop. EventLoop::close() hands each one
/// still linked to the loop's `abandon_task_` (set by the tasks layer), which destroys the
/// coroutine without running it further and reports "Task was destroyed but it is pending!".
/// Neither a virtual nor a per-task pointer: the task's state fits in 120 bytes only without them
/// (see TaskBase).
class PendingTask : public ListNode {
 protected:
  ~PendingTask() = default;
};

/// Something that holds loop resources outside tasks (transports, servers) and must be torn
/// down when the loop closes: EventLoop::close() calls on_loop_close() once for each hook
/// still linked, after abandoning pending tasks. A hook unlinks itself when it no longer
/// needs this (ListNode::unlink()).
class LoopCloseHook : public ListNode {
 public:
  virtual void on_loop_close() noexcept = 0;

 protected:
  ~LoopCloseHook() = default;
};

/// The loop running on this thread, or nullptr.
inline thread_local EventLoop* running_loop = nullptr;
/// The thread's current loop (set_event_loop()), or nullptr.
inline thread_local EventLoop* current_loop = nullptr;
/// Clears current_loop if it is `loop` (the loop is being destroyed).
inline void forget_current_loop(const EventLoop* loop) noexcept {
  if (current_loop == loop) current_loop = nullptr;
}

/// How other threads (executor workers, run_coroutine_threadsafe) reach a loop that may be
/// destroyed meanwhile: lock `mutex`, and while holding it call `loop->call_soon_threadsafe`
/// only if `loop` is not null. The loop nulls it (under the mutex) when it is destroyed.
struct LoopLifeline {
  explicit LoopLifeline(EventLoop* l) noexcept : loop(l) {}
  std::mutex mutex;
  EventLoop* loop;
};

/// Owns a loop's lifeline. It is the loop's last member, so it is cut first on destruction,
/// while the rest of the loop (its thread-safe queue, its reactor) still exists.
class LifelineHolder {
 public:
  explicit LifelineHolder(EventLoop* loop) : lifeline_(std::make_shared<LoopLifeline>(loop)) {}
  LifelineHolder(const LifelineHolder&) = delete;
  LifelineHolder& operator=(const LifelineHolder&) = delete;
  ~LifelineHolder() {
    std::lock_guard lock(lifeline_->mutex);
    lifeline_->loop = nullptr;
  }
  const std::shared_ptr<LoopLifeline>& get() const noexcept { return lifeline_; }

 private:
  std::shared_ptr<LoopLifeline> lifeline_;
};

/// What run_in_executor(executor, fn, args...) produces: fn called once with its arguments
/// moved in, the result decayed to a value type.
template <class F, class... Args>
using executor_result_t =
    std::remove_cvref_t<std::invoke_result_t<std::decay_t<F>&&, std::decay_t<Args>&&...>>;

struct ThreadAccess;  // asyncio/threads.hpp

/// Whether R is a Coro<T> (add_signal_handler rejects coroutine functions).
template <class R>
inline constexpr bool is_coro_v = false;
template <class T>
inline constexpr bool is_coro_v<Coro<T>> = true;

}  // namespace detail

/// A callback scheduled with call_soon()/call_soon_threadsafe(); cancel() prevents it from
/// running if it has not run yet. Copies refer to the same scheduled callback.
class Handle {
 public:
  Handle() noexcept = default;
  /// Another reference to the same scheduled callback.
  Handle(const Handle& o) noexcept : state_(o.state_) {
    if (state_) state_->add_ref();
  }
  /// Takes over `o`'s reference; `o` becomes empty.
  Handle(Handle&& o) noexcept : state_(std::exchange(o.state_, nullptr)) {}
  /// Refers to `o`'s callback instead.
  Handle& operator=(Handle o) noexcept {
    std::swap(state_, o.state_);
    return *this;
  }
  ~Handle() {
    if (state_) state_->release();
  }

  /// Prevents the callback from running. Cancelling twice, or after it ran, does nothing.
  /// A cancelled timer leaves the loop's timer heap at once.
  /// Python: Handle.cancel() / TimerHandle.cancel().
  void cancel();
  /// Whether cancel() was called (Python: Handle.cancelled()).
  bool cancelled() const noexcept {
    return state_ && state_->cancelled.load(std::memory_order_relaxed);
  }
  /// Whether this refers to a callback (false when default-constructed).
  explicit operator bool() const noexcept { return state_ != nullptr; }

 protected:
  friend class EventLoop;
  /// Internal: takes over the loop's reference to `adopted`.
  explicit Handle(detail::HandleState* adopted) noexcept : state_(adopted) {}
  /// Internal: the shared state of the scheduled callback (null when empty).
  detail::HandleState* state_ = nullptr;
};

/// A callback scheduled with call_later()/call_at().
class TimerHandle : public Handle {
 public:
  TimerHandle() noexcept = default;
  /// The absolute deadline, on the loop.time() clock.
  /// Python: TimerHandle.when().
  double when() const noexcept;

 private:
  friend class EventLoop;
  using Handle::Handle;
};

/// The kernel interface an EventLoop waits on (C++ only: Python's loops are chosen by class,
/// e.g. SelectorEventLoop; uvloop replaces the whole loop).
enum class Backend {
  /// The `ASYNCIO_BACKEND` environment variable decides (`io_uring` or `epoll`); epoll when it
  /// is unset or empty.
  automatic,
  /// Readiness through epoll(7): every operation is a system call of its own.
  epoll,
  /// io_uring(7): socket transports, servers and sock_* operations are carried out by the
  /// kernel from a shared ring (multishot accept and receive into provided buffers, batched
  /// sends), and every operation of a loop iteration is submitted in one system call; pipes,
  /// subprocesses and signals use the ring's readiness polls. Where the kernel refuses
  /// io_uring (too old, seccomp policy, `kernel.io_uring_disabled`), the loop falls back to
  /// epoll and writes one line to stderr saying why. Observable asyncio semantics are the
  /// same on both backends.
  io_uring,
};

/// The event loop. Create one directly, or let asyncio::run()/Runner create it.
class EventLoop {
 public:
  /// A loop on `backend` (see Backend). Throws ValueError for an `ASYNCIO_BACKEND` value
  /// other than `io_uring`, `epoll` or empty. Python: asyncio.new_event_loop() (the backend is
  /// C++ only).
  explicit EventLoop(Backend backend = Backend::automatic);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // ---- Scheduling callbacks ----------------------------------------------------------------

  /// Schedules `callback(args...)` to run on the next iteration. Callbacks run in the order
  /// they were scheduled. Exceptions thrown by the callback go to the exception handler.
  /// Python: loop.call_soon().
  template <class F, class... Args>
  Handle call_soon(F&& callback, Args&&... args) {
    check_not_closed();
    if (debug_) check_thread();  // before allocating: a throw must not leak the handle
    auto* h = new_handle(std::forward<F>(callback), std::forward<Args>(args)...);
    h->add_ref();  // the ready queue's reference
    schedule_handle(h);
    return Handle(h);
  }

  /// call_soon() that may be called from any thread; wakes the loop if it is waiting.
  /// Python: loop.call_soon_threadsafe().
  template <class F, class... Args>
  Handle call_soon_threadsafe(F&& callback, Args&&... args) {
    auto* h = new_handle(std::forward<F>(callback), std::forward<Args>(args)...);
    h->add_ref();
    schedule_handle_threadsafe(h);
    return Handle(h);
  }

  /// Schedules `callback(args...)` after `delay` (negative delays count as zero). Timers with
  /// the same deadline run in the order they were scheduled. Any double is accepted: a NaN or
  /// -infinite delay runs the callback at once (as CPython does), an infinite or huge one
  /// never (deadlines are capped at about 146 years).
  /// Python: loop.call_later().
  template <class F, class... Args>
  TimerHandle call_later(Duration delay, F&& callback, Args&&... args) {
    return call_at(time() + delay.count(), std::forward<F>(callback), std::forward<Args>(args)...);
  }

  /// Schedules `callback(args...)` at the absolute time `when` of the loop.time() clock.
  /// NaN and -infinity are due at once, +infinity never; TimerHandle::when() returns `when`.
  /// Python: loop.call_at().
  template <class F, class... Args>
  TimerHandle call_at(double when, F&& callback, Args&&... args) {
    check_not_closed();
    if (debug_) check_thread();
    auto* h = new_handle(std::forward<F>(callback), std::forward<Args>(args)...);
    h->add_ref();  // the timer heap's reference
    schedule_timer_handle(h, when);
    return TimerHandle(h);
  }

  /// Monotonic time in seconds (Python: loop.time()).
  double time() const noexcept;

  // ---- Running and stopping ----------------------------------------------------------------

  /// Runs until stop() is called (Python: loop.run_forever()).
  ///
  /// Ctrl-C, as Python's default SIGINT handler: when called from the process's main thread
  /// while SIGINT has its default disposition (not under asyncio::run(), which handles it
  /// itself), a SIGINT handler is installed for the duration of the call; a SIGINT stops the
  /// loop after the current iteration and run_forever() (so also run_until_complete()) throws
  /// asyncio::KeyboardInterrupt. The disposition is restored on return.
  void run_forever();
  /// Runs until `future` is done and returns its result (or rethrows its exception). A
  /// coroutine is wrapped in a task first. Defined in tasks.hpp. Python:
  /// loop.run_until_complete().
  template <class T>
  T run_until_complete(Coro<T> coro);
  /// Runs until `task` is done; returns its result or rethrows its exception (Python:
  /// loop.run_until_complete()).
  template <class T>
  T run_until_complete(Task<T> task);
  /// Runs until `future` is done; returns its result or rethrows its exception (Python:
  /// loop.run_until_complete()).
  template <class T>
  T run_until_complete(Future<T> future);

  /// Stops run_forever() after the current iteration (Python: loop.stop()).
  void stop() noexcept { stopping_ = true; }
  /// Whether run_forever() is running (Python: loop.is_running()).
  bool is_running() const noexcept { return running_; }
  /// Whether close() was called (Python: loop.is_closed()).
  bool is_closed() const noexcept { return closed_; }
  /// Closes the loop: drops pending callbacks and destroys tasks that never finished. Throws
  /// RuntimeError while the loop runs. Idempotent.
  /// Python: loop.close().
  void close();

  // ---- Tasks and futures (defined in futures.hpp and tasks.hpp) ----------------------------

  /// Wraps `coro` in a task scheduled to start on the next iteration.
  /// Python: loop.create_task().
  template <class T>
  Task<T> create_task(Coro<T> coro, std::string name);
  /// As above, named "Task-N" (Python: loop.create_task(coro)).
  template <class T>
  Task<T> create_task(Coro<T> coro);
  /// A new pending future bound to this loop.
  /// Python: loop.create_future().
  template <class T = void>
  Future<T> create_future();

  /// Makes create_task() hand each new task to `factory` (empty: the default, which schedules
  /// the task's first step). E.g. `loop.set_task_factory(asyncio::eager_task_factory)`.
  /// Defined in src/task_factory.cpp. Python: loop.set_task_factory().
  void set_task_factory(TaskFactory factory);
  /// The factory set by set_task_factory(); empty for the default (Python:
  /// loop.get_task_factory(), None for the default).
  TaskFactory get_task_factory() const;

  // ---- Executors (run_in_executor is defined in asyncio/threads.hpp, the rest in
  // ---- src/threads.cpp) --------------------------------------------------------------------

  /// Runs `fn(args...)` on `executor` — nullptr means the loop's default executor, a
  /// ThreadPoolExecutor created on first use — and returns a loop future for its result or
  /// exception (Python: loop.run_in_executor). `fn` and `args` are moved (or copied) into the
  /// work item. Cancelling the future cancels the call only if it has not started; a call
  /// already running finishes and its result is dropped. The executor must outlive the call.
  /// Throws RuntimeError if the loop is closed, if `executor` is null and
  /// shutdown_default_executor() was called, or if the executor was shut down.
  template <class F, class... Args>
  Future<detail::executor_result_t<F, Args...>> run_in_executor(Executor* executor, F&& fn,
                                                                Args&&... args);

  /// Replaces the executor run_in_executor(nullptr, ...) and to_thread() use (Python:
  /// loop.set_default_executor). The previous one is released, not shut down.
  void set_default_executor(std::shared_ptr<Executor> executor);

  /// Shuts the default executor down and waits — without blocking the loop: a helper thread
  /// does the joining — until every call it accepted has finished (Python:
  /// loop.shutdown_default_executor). Afterwards run_in_executor(nullptr, ...) throws
  /// RuntimeError. With a `timeout` that expires, prints a warning, stops waiting and lets
  /// the threads finish on their own. asyncio::run() calls it on exit.
  Coro<void> shutdown_default_executor(std::optional<Duration> timeout = std::nullopt);

  /// Closes (aclose) every async generator that started on this loop and is still suspended,
  /// concurrently, and reports each failure through the exception handler as "an error
  /// occurred during closing of asynchronous generator <...>" (Python:
  /// loop.shutdown_asyncgens). run() and Runner::close() call it after cancelling the
  /// remaining tasks. Defined in src/async_generator.cpp (see asyncio/async_generator.hpp).
  Coro<void> shutdown_asyncgens();

  // ---- Watching file descriptors -----------------------------------------------------------

  /// Calls `callback(args...)` whenever `fd` is readable, until remove_reader(fd). Replaces
  /// any reader already registered for `fd`. Throws ValueError("Invalid file descriptor: -1")
  /// for a negative fd, OSError (a std::system_error) if the fd cannot be watched (e.g. a
  /// regular file: EPERM, or a closed fd: EBADF), as Python.
  /// Python: loop.add_reader().
  template <class F, class... Args>
  void add_reader(int fd, F&& callback, Args&&... args) {
    check_not_closed();
    set_watcher(fd, /*writer=*/false,
                new_handle(std::forward<F>(callback), std::forward<Args>(args)...));
  }
  /// Calls `callback(args...)` whenever `fd` is writable, replacing any previous writer
  /// callback for `fd` (Python: loop.add_writer()).
  template <class F, class... Args>
  void add_writer(int fd, F&& callback, Args&&... args) {
    check_not_closed();
    set_watcher(fd, /*writer=*/true,
                new_handle(std::forward<F>(callback), std::forward<Args>(args)...));
  }
  /// Stops watching; returns whether a callback was registered. ValueError for a negative fd.
  /// Python: loop.remove_reader().
  bool remove_reader(int fd);
  /// Stops watching `fd` for writability; returns whether a callback was registered
  /// (Python: loop.remove_writer()).
  bool remove_writer(int fd);

  // ---- Unix signals (src/unix_signals.cpp; details in asyncio/unix_events.hpp) ------------

  /// Calls `callback(args...)` on this loop each time signal `sig` arrives (Python:
  /// loop.add_signal_handler). The process-wide disposition of `sig` becomes an
  /// async-signal-safe handler (SA_RESTART) that counts the signal and wakes this loop (as
  /// call_soon_threadsafe() does), so the signal may be delivered to any thread; the callback
  /// runs from the ready queue like call_soon(), on the loop's thread, once per arrival.
  /// Replaces this loop's previous handler for
  /// `sig`. Throws ValueError for an invalid signal number, RuntimeError("sig N cannot be
  /// caught") for SIGKILL/SIGSTOP, RuntimeError if the loop is closed or if another loop
  /// handles `sig`. Coroutine functions are rejected at compile time (Python: TypeError).
  template <class F, class... Args>
  void add_signal_handler(int sig, F&& callback, Args&&... args) {
    static_assert(
        !detail::is_coro_v<std::invoke_result_t<std::decay_t<F>&, std::decay_t<Args>&...>>,
        "coroutines cannot be used with add_signal_handler()");
    check_signal(sig);
    check_not_closed();
    set_signal_handler(sig, new_handle(std::forward<F>(callback), std::forward<Args>(args)...));
  }
  /// Removes the handler for `sig` and restores the default disposition (SIG_DFL). Returns
  /// false if this loop had no handler for it. Throws ValueError for an invalid signal number.
  /// close() removes every handler the loop still has.
  /// Python: loop.remove_signal_handler().
  bool remove_signal_handler(int sig);

  // ---- Errors and debugging ----------------------------------------------------------------

  /// Handler for errors nobody can catch (callback exceptions, exceptions never retrieved).
  /// An empty handler restores the default, which prints the context to stderr.
  /// Python: loop.set_exception_handler().
  void set_exception_handler(ExceptionHandler handler) { handler_ = std::move(handler); }
  /// The handler set by set_exception_handler(); empty for the default (Python:
  /// loop.get_exception_handler()).
  const ExceptionHandler& get_exception_handler() const noexcept { return handler_; }
  /// Passes `context` to the handler, or to default_exception_handler() when none is set
  /// (Python: loop.call_exception_handler()).
  void call_exception_handler(const ExceptionContext& context) noexcept;
  /// Prints `context` (message, exception, task) to stderr (Python:
  /// loop.default_exception_handler()).
  void default_exception_handler(const ExceptionContext& context) noexcept;

  /// Debug mode: warns on stderr about callbacks and task steps slower than
  /// slow_callback_duration(), and rejects non-threadsafe calls from other threads.
  /// The backend this loop runs on: "epoll" or "io_uring" (after any fallback). C++ only.
  const char* backend_name() const noexcept;

  /// Python: loop.set_debug().
  void set_debug(bool enabled) noexcept { debug_ = enabled; }
  /// Whether debug mode is on (Python: loop.get_debug()).
  bool get_debug() const noexcept { return debug_; }
  /// In debug mode, callbacks slower than `d` are reported (Python:
  /// loop.slow_callback_duration = d).
  void set_slow_callback_duration(Duration d) noexcept { slow_callback_duration_ = d; }
  /// The threshold of slow-callback reports, 100 ms by default (Python:
  /// loop.slow_callback_duration).
  Duration slow_callback_duration() const noexcept { return slow_callback_duration_; }

 private:
  friend struct detail::LoopAccess;
  friend class Handle;
  friend class TimerHandle;
  friend struct detail::ThreadAccess;

  // Unix signals (src/unix_signals.cpp).
  static void check_signal(int sig);
  void set_signal_handler(int sig, detail::HandleState* h);
  /// run_forever()'s Ctrl-C handling: installs the SIGINT handler if this is the main thread
  /// and SIGINT has its default disposition; returns its token (0 when not installed).
  std::uint64_t begin_sigint_watch() noexcept;
  /// Removes that handler (unless the program replaced it meanwhile).
  void end_sigint_watch(std::uint64_t token) noexcept;
  /// The sigaction handler (async-signal-safe: atomics and the reactor's eventfd): counts the
  /// signal, flags the owning loop the way call_soon_threadsafe() does, and wakes it.
  static void on_signal(int sig) noexcept;
  /// Schedules the callbacks of the signals that arrived; drain_threadsafe_queue() calls it.
  void dispatch_signals() noexcept;
  std::atomic<bool> signal_pending_{false};

  template <class F, class... Args>
  detail::HandleState* new_handle(F&& f, Args&&... args) {
    using Fn = decltype(detail::bind_callback(std::forward<F>(f), std::forward<Args>(args)...));
    return new detail::CallbackHandle<Fn>(
        this, detail::bind_callback(std::forward<F>(f), std::forward<Args>(args)...));
  }

  void check_not_closed() const {
    if (closed_) throw RuntimeError("Event loop is closed");
  }
  void check_thread() const;
  /// Python's _check_running(): run_forever()/run_until_complete() preconditions.
  void check_running() const {
    if (running_) throw RuntimeError("This event loop is already running");
    if (detail::running_loop != nullptr) {
      throw RuntimeError("Cannot run the event loop while another loop is running");
    }
  }
  void schedule_handle(detail::HandleState* h);
  void schedule_handle_threadsafe(detail::HandleState* h);
  void schedule_timer_handle(detail::HandleState* h, double when);
  void cancel_handle(detail::HandleState* h) noexcept;
  void set_watcher(int fd, bool writer, detail::HandleState* h);
  void set_io_handler(int fd, detail::IoHandler* handler, bool readable, bool writable);
  detail::IoHandler* io_handler_of(int fd) const noexcept;
  void run_once();
  /// create_task() with a task factory set: runs it, starts the task if it did not, then
  /// names it `name` unless empty.
  void start_with_factory(detail::TaskBase& task, std::string name);
  void drain_threadsafe_queue();
  void run_ready_item(detail::ReadyItem item);
  void poll_io(std::int64_t timeout_ns);
  static void run_handle(void* h, bool discard);
  static void run_timer_handle(void* entry, bool discard);
  std::int64_t now_ns() const noexcept;

  detail::ReadyQueue ready_;
  detail::TimerHeap timers_;
  std::uint32_t timer_seq_ = 0;  // wraps; see TimerEntry::seq
  detail::IntrusiveList<detail::PendingTask> pending_tasks_;
  void (*abandon_task_)(detail::PendingTask*) noexcept = nullptr;
  detail::IntrusiveList<detail::LoopCloseHook> close_hooks_;
  // Async generators that started here and have not finished (Python: loop._asyncgens).
  detail::IntrusiveList<detail::LoopCloseHook> asyncgens_;
  void* current_task_ = nullptr;  // detail::TaskBase*, typed in tasks.hpp
  std::uint64_t task_counter_ = 0;
  // Null unless set_task_factory() installed one: create_task() tests only this pointer.
  // Shared so that a factory may replace itself (set_task_factory) while it runs.
  std::shared_ptr<const TaskFactory> task_factory_;

  std::unique_ptr<detail::Reactor> reactor_;
  detail::CompletionRing* ring_ = nullptr;  // reactor_->ring(), cached for the hot paths
  std::unique_ptr<detail::IoWatchers> watchers_;

  std::mutex threadsafe_mutex_;
  std::vector<detail::HandleState*> threadsafe_queue_;
  std::atomic<bool> threadsafe_pending_{false};
  bool threadsafe_closed_ = false;  // guarded by threadsafe_mutex_

  bool running_ = false;
  bool stopping_ = false;
  bool closed_ = false;
  // Ctrl-C while run_forever() runs a loop by hand (src/unix_signals.cpp).
  bool sigint_watch_ = false;     // run_forever()'s SIGINT handler is installed and live
  bool sigint_received_ = false;  // it fired during this run_forever()
  bool debug_ = false;
  Duration slow_callback_duration_{0.1};
  std::thread::id thread_id_;
  ExceptionHandler handler_;

  // Executor support (src/threads.cpp).
  Executor& executor_for_call(Executor* executor);
  std::shared_ptr<Executor> default_executor_;
  bool executor_shutdown_called_ = false;
  detail::LifelineHolder lifeline_{this};  // keep last: destroyed (cut) first
};

/// The loop running in this thread. Throws RuntimeError("no running event loop") outside one.
/// Python: asyncio.get_running_loop().
EventLoop& get_running_loop();

// ---- The current loop of a thread (Python: asyncio.new_event_loop / set_event_loop /
// get_event_loop; src/event_loop_getters.cpp). There are no event loop policies: a
// loop_factory (runners.hpp) replaces them. See docs/python-mapping.md.

/// A new event loop, owned by the caller (Python: asyncio.new_event_loop()).
std::unique_ptr<EventLoop> new_event_loop();
/// Makes `loop` this thread's current loop (not owned: it must outlive its use here; a loop
/// stops being current when destroyed in this thread); nullptr clears it (Python:
/// asyncio.set_event_loop(loop or None)). Runner sets its loop when it has no loop_factory.
void set_event_loop(EventLoop* loop) noexcept;
/// The running loop if there is one, else this thread's current loop (Python:
/// asyncio.get_event_loop()). Without either, RuntimeError("There is no current event loop in
/// thread 'MainThread'.") (another thread is named 'Thread-' and its id). Deliberate difference:
/// Python 3.12 would create a loop (with a DeprecationWarning) in the main thread if
/// set_event_loop() was never called; a created loop would have no owner here, and Python
/// 3.14 raises as we do.
EventLoop& get_event_loop();

}  // namespace asyncio
