// The event loop: scheduling, timers, the run loop, fd watching and error reporting.

#include "asyncio/events.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string_view>
#include <system_error>
#include <unordered_set>

#include "asyncio/detail/loop_access.hpp"
#include "asyncio/detail/loop_registry.hpp"
#include "asyncio/graph.hpp"
#include "asyncio/unix_events.hpp"
#include "reactor.hpp"

namespace asyncio {
namespace detail {

struct Watch {
  HandleState* reader = nullptr;
  HandleState* writer = nullptr;
};

struct HandlerWatch {
  IoHandler* handler = nullptr;
  bool readable = false;
  bool writable = false;
};

class IoWatchers {
 public:
  std::unordered_map<int, Watch> by_fd;  // public add_reader()/add_writer()
  std::vector<HandlerWatch> handlers;    // internal IoHandlers, indexed by fd
  std::size_t handler_count = 0;
  std::vector<Reactor::Ready> ready;  // reused poll buffer

  bool empty() const noexcept { return by_fd.empty() && handler_count == 0; }
  bool has_handler(int fd) const noexcept {
    return fd >= 0 && static_cast<std::size_t>(fd) < handlers.size() &&
           handlers[static_cast<std::size_t>(fd)].handler != nullptr;
  }
};

namespace {
std::mutex registry_mutex;
std::unordered_set<const EventLoop*>& live_loops() {
  static auto* loops = new std::unordered_set<const EventLoop*>();  // never destroyed
  return *loops;
}
}  // namespace

bool loop_is_alive(const EventLoop* loop) noexcept {
  std::lock_guard lock(registry_mutex);
  return live_loops().count(loop) != 0;
}

void report_without_loop(const ExceptionContext& context) noexcept {
  std::fprintf(stderr, "asyncio: %s", context.message.c_str());
  if (!context.task.empty()) std::fprintf(stderr, " (%s)", context.task.c_str());
  if (context.exception) std::fprintf(stderr, ": %s", describe(context.exception).c_str());
  std::fprintf(stderr, "\n");
}

void report_to_running_loop(ExceptionContext context) {
  EventLoop* loop = running_loop;
  if (loop == nullptr) {
    report_without_loop(context);
    return;
  }
  if (TaskBase* task = LoopAccess::current_task(*loop)) context.task = task->name();
  loop->call_exception_handler(context);
}

}  // namespace detail

// ---- Handles -------------------------------------------------------------------------------

void Handle::cancel() {
  if (!state_) return;
  state_->loop->cancel_handle(state_);
}

double TimerHandle::when() const noexcept {
  return state_ ? state_->timer.when : 0.0;
}

// ---- Construction and time -----------------------------------------------------------------

namespace {

Backend backend_from_environment() {
  const char* v = std::getenv("ASYNCIO_BACKEND");
  if (v == nullptr || *v == '\0') return Backend::epoll;
  std::string_view name(v);
  if (name == "io_uring") return Backend::io_uring;
  if (name == "epoll") return Backend::epoll;
  throw ValueError("ASYNCIO_BACKEND must be 'io_uring' or 'epoll', not '" + std::string(name) +
                   "'");
}

/// The reactor for `backend`; io_uring falls back to epoll where the kernel refuses it, saying
/// why once per process (a program may make many loops).
std::unique_ptr<detail::Reactor> make_reactor(Backend backend) {
  if (backend == Backend::automatic) backend = backend_from_environment();
  if (backend == Backend::io_uring) {
    try {
      return detail::make_uring_reactor();
    } catch (const std::exception& e) {
      static std::atomic<bool> told{false};
      if (!told.exchange(true)) {
        std::fprintf(stderr, "asyncio: io_uring is unavailable (%s); using epoll\n", e.what());
      }
    }
  }
  return detail::make_epoll_reactor();
}

}  // namespace

EventLoop::EventLoop(Backend backend)
    : reactor_(make_reactor(backend)), watchers_(std::make_unique<detail::IoWatchers>()) {
  ring_ = reactor_->ring();
  std::lock_guard lock(detail::registry_mutex);
  detail::live_loops().insert(this);
  detail::debug_register_loop(this);  // call graphs: findable from gdb (src/graph.cpp)
}

EventLoop::~EventLoop() {
  if (!closed_ && !running_) close();
  detail::forget_current_loop(this);
  std::lock_guard lock(detail::registry_mutex);
  detail::live_loops().erase(this);
  detail::debug_unregister_loop(this);
}

const char* EventLoop::backend_name() const noexcept {
  return reactor_->name();
}

std::int64_t EventLoop::now_ns() const noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double EventLoop::time() const noexcept {
  return static_cast<double>(now_ns()) / 1e9;
}

EventLoop& get_running_loop() {
  if (detail::running_loop == nullptr) throw RuntimeError("no running event loop");
  return *detail::running_loop;
}

// ---- Scheduling ----------------------------------------------------------------------------

void EventLoop::check_thread() const {
  if (debug_ && running_ && std::this_thread::get_id() != thread_id_) {
    throw RuntimeError(
        "Non-thread-safe operation invoked on an event loop other than the current one");
  }
}

void EventLoop::run_handle(void* arg, bool discard) {
  auto* h = static_cast<detail::HandleState*>(arg);
  if (!discard && !h->cancelled.load(std::memory_order_relaxed)) {
    try {
      h->invoke();
    } catch (...) {
      h->loop->call_exception_handler({"Exception in callback", std::current_exception(), {}});
    }
  }
  h->release();
}

void EventLoop::run_timer_handle(void* entry, bool discard) {
  using Timer = detail::HandleState::Timer;
  run_handle(static_cast<Timer*>(static_cast<detail::TimerEntry*>(entry))->owner, discard);
}

void EventLoop::schedule_handle(detail::HandleState* h) {
  ready_.push({&EventLoop::run_handle, h});
}

void EventLoop::schedule_handle_threadsafe(detail::HandleState* h) {
  {
    std::unique_lock lock(threadsafe_mutex_);
    if (!threadsafe_closed_) {
      threadsafe_queue_.push_back(h);
      threadsafe_pending_.store(true, std::memory_order_release);
      // Under the lock: close() takes it too, so the reactor cannot be gone meanwhile.
      reactor_->wakeup();
      return;
    }
  }
  // Released outside the lock: the callback's destructor may itself post to this loop.
  h->release();  // the queue's reference; the caller's reference is adopted by Handle
  h->release();
  throw RuntimeError("Event loop is closed");
}

void EventLoop::drain_threadsafe_queue() {
  std::vector<detail::HandleState*> batch;
  {
    std::lock_guard lock(threadsafe_mutex_);
    batch.swap(threadsafe_queue_);
    threadsafe_pending_.store(false, std::memory_order_relaxed);
  }
  for (detail::HandleState* h : batch) ready_.push({&EventLoop::run_handle, h});
  // Signal handlers raise threadsafe_pending_ too (src/unix_signals.cpp).
  if (signal_pending_.exchange(false, std::memory_order_acq_rel)) dispatch_signals();
}

void EventLoop::schedule_timer_handle(detail::HandleState* h, double when) {
  h->timer.run = &EventLoop::run_timer_handle;
  h->timer.owner = h;
  h->timer.when = when;
  // NaN compares false with everything: CPython's heap pops such a timer as due (it runs at
  // once when nothing else is scheduled). Deterministically: due at once.
  detail::LoopAccess::add_timer(*this, &h->timer,
                                detail::seconds_to_ns(when, -detail::kMaxTimerNs));
}

void EventLoop::cancel_handle(detail::HandleState* h) noexcept {
  if (h->cancelled.exchange(true)) return;
  if (h->timer.scheduled()) {
    timers_.remove(&h->timer);
    h->release();  // the heap's reference
  }
}

// ---- Watching file descriptors -------------------------------------------------------------

void EventLoop::set_io_handler(int fd, detail::IoHandler* handler, bool readable, bool writable) {
  if (fd < 0)
    throw std::system_error(EBADF, std::generic_category(),
                            "cannot watch fd " + std::to_string(fd));
  auto& handlers = watchers_->handlers;
  const auto index = static_cast<std::size_t>(fd);
  if (handler == nullptr || (!readable && !writable)) {
    if (index < handlers.size() && handlers[index].handler) {
      handlers[index] = {};
      --watchers_->handler_count;
      reactor_->unwatch(fd);
    }
    return;
  }
  if (watchers_->by_fd.count(fd)) {
    throw RuntimeError("fd " + std::to_string(fd) +
                       " is already watched by add_reader()/add_writer()");
  }
  if (index >= handlers.size())
    handlers.resize(std::max<std::size_t>(index + 1, handlers.size() * 2));
  detail::HandlerWatch& w = handlers[index];
  if (w.handler == handler && w.readable == readable && w.writable == writable) return;
  reactor_->watch(fd, readable, writable);
  if (!w.handler) ++watchers_->handler_count;
  w = {handler, readable, writable};
}

detail::IoHandler* EventLoop::io_handler_of(int fd) const noexcept {
  return watchers_->has_handler(fd) ? watchers_->handlers[static_cast<std::size_t>(fd)].handler
                                    : nullptr;
}

namespace {
/// Python's selectors._fileobj_to_fd: a negative number is no fd (epoll would say EBADF).
void check_fd(int fd) {
  if (fd < 0) throw ValueError("Invalid file descriptor: " + std::to_string(fd));
}
}  // namespace

void EventLoop::set_watcher(int fd, bool writer, detail::HandleState* h) {
  if (fd < 0) {
    h->release();
    check_fd(fd);
  }
  if (watchers_->has_handler(fd)) {
    h->release();
    throw RuntimeError("fd " + std::to_string(fd) + " is already used by a transport");
  }
  auto& watch = watchers_->by_fd[fd];
  detail::HandleState*& slot = writer ? watch.writer : watch.reader;
  try {
    reactor_->watch(fd, writer ? watch.reader != nullptr : true,
                    writer ? true : watch.writer != nullptr);
  } catch (...) {
    h->release();
    if (!watch.reader && !watch.writer) watchers_->by_fd.erase(fd);
    throw;
  }
  if (slot) {
    slot->cancelled.store(true);
    slot->release();
  }
  slot = h;
}

namespace {
bool remove_watcher(std::unordered_map<int, detail::Watch>& by_fd, detail::Reactor& reactor, int fd,
                    bool writer) {
  auto it = by_fd.find(fd);
  if (it == by_fd.end()) return false;
  detail::HandleState*& slot = writer ? it->second.writer : it->second.reader;
  if (!slot) return false;
  slot->cancelled.store(true);
  slot->release();
  slot = nullptr;
  detail::HandleState* other = writer ? it->second.reader : it->second.writer;
  if (other) {
    try {
      // Keep watching for what `other` wants: reading if we removed the writer, and so on.
      reactor.watch(fd, /*readable=*/writer, /*writable=*/!writer);
    } catch (...) {
      // The fd is gone (closed behind our back); nothing is left to watch.
    }
  } else {
    reactor.unwatch(fd);
    by_fd.erase(it);
  }
  return true;
}
}  // namespace

bool EventLoop::remove_reader(int fd) {
  check_fd(fd);
  return remove_watcher(watchers_->by_fd, *reactor_, fd, false);
}
bool EventLoop::remove_writer(int fd) {
  check_fd(fd);
  return remove_watcher(watchers_->by_fd, *reactor_, fd, true);
}

void EventLoop::poll_io(std::int64_t timeout_ns) {
  auto& ready = watchers_->ready;
  ready.clear();
  reactor_->poll(timeout_ns, ready);
  for (const auto& r : ready) {
    if (watchers_->has_handler(r.fd)) {
      // Looked up at dispatch time: an earlier handler in this batch may have unregistered it.
      const detail::HandlerWatch& w = watchers_->handlers[static_cast<std::size_t>(r.fd)];
      w.handler->on_io(r.readable && w.readable, r.writable && w.writable);
      continue;
    }
    auto it = watchers_->by_fd.find(r.fd);
    if (it == watchers_->by_fd.end()) continue;
    if (r.readable && it->second.reader) {
      it->second.reader->add_ref();
      ready_.push({&EventLoop::run_handle, it->second.reader});
    }
    if (r.writable && it->second.writer) {
      it->second.writer->add_ref();
      ready_.push({&EventLoop::run_handle, it->second.writer});
    }
  }
}

// ---- Running -------------------------------------------------------------------------------

namespace {
/// Debug mode's timed run of a ready item, out of line so that the common path stays small
/// enough to be inlined into run_once.
[[gnu::noinline, gnu::cold]] void run_item_timed(EventLoop& loop, detail::ReadyItem item) {
  std::int64_t t0 = detail::LoopAccess::now_ns(loop);
  item.run(item.arg, false);
  double dt = static_cast<double>(detail::LoopAccess::now_ns(loop) - t0) / 1e9;
  // The task this item stepped, if any (TaskBase::step notes it in debug mode, with a
  // reference so that it may finish meanwhile).
  detail::Ref<detail::TaskBase> stepped = detail::take_debug_stepped_task();
  if (dt >= loop.slow_callback_duration().count()) {
    if (stepped) {
      // Python: "Executing <Task pending name=... coro=<f() running at file:line>> took ...".
      std::fprintf(stderr, "asyncio: Executing <%s> took %.3f seconds\n",
                   detail::describe_task_for_report(*stepped).c_str(), dt);
    } else {
      std::fprintf(stderr, "asyncio: Executing a callback or task step took %.3f seconds\n", dt);
    }
  }
}
}  // namespace

void EventLoop::run_ready_item(detail::ReadyItem item) {
  if (!debug_) {
    item.run(item.arg, false);
    return;
  }
  run_item_timed(*this, item);
}

void EventLoop::run_once() {
  if (threadsafe_pending_.load(std::memory_order_acquire)) drain_threadsafe_queue();

  std::int64_t timeout_ns = -1;
  if (!ready_.empty() || stopping_) {
    timeout_ns = 0;
  } else if (!timers_.empty()) {
    // Deadlines are within +-2^62 ns (detail/clock.hpp): this difference cannot overflow.
    timeout_ns = timers_.top_when_ns() - now_ns();
    if (timeout_ns < 0) timeout_ns = 0;
  }
  // With callbacks ready and no fd watched, looking at the kernel can only find the wakeup
  // eventfd, whose work the atomic flag above already covers: skip the syscall.
  // (The io_uring backend also has operations to submit or complete: busy().)
  if (timeout_ns != 0 || !watchers_->empty() || (ring_ != nullptr && reactor_->busy())) {
    if (timeout_ns != 0) ready_.release_burst_capacity();  // going idle
    poll_io(timeout_ns);
    if (threadsafe_pending_.load(std::memory_order_acquire)) drain_threadsafe_queue();
  }

  if (!timers_.empty()) {
    const std::int64_t now = now_ns();
    while (!timers_.empty() && timers_.top_when_ns() <= now) {
      detail::TimerEntry* e = timers_.pop();
      ready_.push({e->run, e});
    }
    if (timers_.empty()) timers_.shrink();
  }

  // Only what is ready now; what these callbacks schedule runs next iteration.
  for (std::size_t n = ready_.size(); n > 0; --n) run_ready_item(ready_.pop());
}

void EventLoop::run_forever() {
  check_not_closed();
  check_running();
  running_ = true;
  thread_id_ = std::this_thread::get_id();
  detail::running_loop = this;
  struct Reset {
    EventLoop* loop;
    ~Reset() {
      loop->stopping_ = false;
      loop->running_ = false;
      loop->thread_id_ = {};
      detail::running_loop = nullptr;
    }
  } reset{this};
  struct SigintWatch {
    EventLoop* loop;
    std::uint64_t token;
    ~SigintWatch() { loop->end_sigint_watch(token); }
  } sigint{this, begin_sigint_watch()};
  while (true) {
    run_once();
    if (stopping_) break;
  }
  if (sigint_received_) {
    sigint_received_ = false;
    throw KeyboardInterrupt();  // Python: KeyboardInterrupt out of run_forever()
  }
}

void EventLoop::close() {
  if (running_) throw RuntimeError("Cannot close a running event loop");
  if (closed_) return;
  {
    // From now on other threads get "Event loop is closed": nothing they post can slip in
    // after the last drain below and leak.
    std::lock_guard lock(threadsafe_mutex_);
    threadsafe_closed_ = true;
  }
  // Tasks first: destroying their frames may schedule callbacks, which are discarded next.
  while (detail::PendingTask* t = pending_tasks_.pop_front()) abandon_task_(t);
  // Then generators nobody owns any more (their frames go like pending tasks' frames).
  while (detail::LoopCloseHook* g = asyncgens_.pop_front()) g->on_loop_close();
  while (detail::LoopCloseHook* h = close_hooks_.pop_front()) h->on_loop_close();
  // No kernel operation may outlive the objects owning its buffers (io_uring).
  reactor_->drain();
  drain_threadsafe_queue();
  while (!ready_.empty()) {
    detail::ReadyItem item = ready_.pop();
    item.run(item.arg, true);
  }
  while (!timers_.empty()) {
    detail::TimerEntry* e = timers_.pop();
    e->run(e, true);
  }
  for (auto& [fd, watch] : watchers_->by_fd) {
    reactor_->unwatch(fd);
    if (watch.reader) watch.reader->release();
    if (watch.writer) watch.writer->release();
  }
  watchers_->by_fd.clear();
  for (std::size_t fd = 0; fd < watchers_->handlers.size(); ++fd) {
    if (watchers_->handlers[fd].handler) reactor_->unwatch(static_cast<int>(fd));
  }
  watchers_->handlers.clear();
  watchers_->handler_count = 0;
  drain_threadsafe_queue();  // what was posted before threadsafe_closed_ was set
  while (!ready_.empty()) {
    detail::ReadyItem item = ready_.pop();
    item.run(item.arg, true);
  }
  closed_ = true;
}

// ---- Errors --------------------------------------------------------------------------------

void EventLoop::default_exception_handler(const ExceptionContext& context) noexcept {
  detail::report_without_loop(context);
}

void EventLoop::call_exception_handler(const ExceptionContext& context) noexcept {
  if (!handler_) {
    default_exception_handler(context);
    return;
  }
  try {
    handler_(*this, context);
  } catch (...) {
    ExceptionContext failure{"Unhandled error in exception handler", std::current_exception(),
                             context.task};
    default_exception_handler(failure);
    default_exception_handler(context);
  }
}

}  // namespace asyncio
