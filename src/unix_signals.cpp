// Unix signal handlers for the event loop (Python: _UnixSelectorEventLoop.add_signal_handler
// and friends).
//
// The sigaction handler, which may run on any thread, only does async-signal-safe things: it
// counts the signal in the owning loop's SignalState (an atomic), raises the loop's flags and
// writes the reactor's eventfd — exactly what call_soon_threadsafe() does to wake a loop. The
// loop checks those flags once per iteration anyway, so handling signals costs nothing while
// none arrive (a self-pipe watched by epoll, as Python does, would make every iteration poll
// the kernel: measured 14x slower for callback-bound loops). On its next iteration the loop
// schedules one callback per arrival on its ready queue.

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <unordered_map>

#include "asyncio/detail/loop_access.hpp"
#include "asyncio/events.hpp"
#include "asyncio/unix_events.hpp"
#include "reactor.hpp"

namespace asyncio {
namespace detail {
namespace {

class SignalState;

// ---- What the C signal handler may touch: lock-free atomics only -----------------------------

/// For each signal: the state of the loop that handles it, or null.
std::atomic<SignalState*> g_state_for_signal[NSIG];
/// How many signal handlers are running right now (any thread): a SignalState is destroyed
/// only when none can still be using it.
std::atomic<int> g_handlers_running{0};

static_assert(std::atomic<SignalState*>::is_always_lock_free &&
                  std::atomic<int>::is_always_lock_free &&
                  std::atomic<std::uint32_t>::is_always_lock_free,
              "the signal handler needs lock-free atomics");

/// After a state was unpublished from g_state_for_signal: waits until no handler that might
/// have loaded it before that is still running (they run for a few instructions).
void wait_for_handlers() noexcept {
  while (g_handlers_running.load() != 0) ::sched_yield();
}

void restore_default(int sig) noexcept {
  struct sigaction sa {};
  sa.sa_handler = SIG_DFL;
  sigemptyset(&sa.sa_mask);
  ::sigaction(sig, &sa, nullptr);
}

void run_signal_handle(void* arg, bool discard) {
  auto* h = static_cast<HandleState*>(arg);
  if (!discard && !h->cancelled.load(std::memory_order_relaxed)) {
    try {
      h->invoke();
    } catch (...) {
      h->loop->call_exception_handler({"Exception in callback", std::current_exception(), {}});
    }
  }
  h->release();
}

/// Guards the tables below and every SignalState's handler slots. Signal handlers are added
/// and removed rarely; a mutex keeps loops of different threads consistent.
std::mutex g_mutex;
SignalState* g_owner[NSIG];  // which loop handles each signal (g_mutex)
std::unordered_map<const EventLoop*, SignalState*>& states() {
  static auto* map = new std::unordered_map<const EventLoop*, SignalState*>();  // never freed
  return *map;
}

/// One loop's signal handlers. Exists while the loop has at least one handler.
class SignalState final : public LoopCloseHook {
 public:
  explicit SignalState(EventLoop& loop) : loop_(loop) {
    states()[&loop_] = this;  // may throw: nothing else done yet
    LoopAccess::add_close_hook(loop_, this);
  }

  ~SignalState() {
    unlink();  // from the loop's close hooks
    states().erase(&loop_);
  }

  /// Installs `h` for `sig` (taking the reference), with `handler` as the sigaction handler.
  /// Called with g_mutex held.
  void set(int sig, HandleState* h, void (*handler)(int)) {
    if (handlers_[sig] == nullptr) {
      arrivals_[sig].store(0);
      g_state_for_signal[sig].store(this);
      struct sigaction sa {};
      sa.sa_handler = handler;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;  // Python: signal.siginterrupt(sig, False)
      if (::sigaction(sig, &sa, nullptr) != 0) {
        const int err = errno;
        g_state_for_signal[sig].store(nullptr);
        wait_for_handlers();
        if (err == EINVAL) throw RuntimeError("sig " + std::to_string(sig) + " cannot be caught");
        throw std::system_error(err, std::generic_category(), "sigaction");
      }
      g_owner[sig] = this;
      ++count_;
    } else {
      handlers_[sig]->release();
    }
    handlers_[sig] = h;
    tokens_[sig] = ++last_token_;
  }

  /// Removes the handler for `sig` if any. Called with g_mutex held.
  bool remove(int sig) noexcept {
    HandleState* h = handlers_[sig];
    if (h == nullptr) return false;
    restore_default(sig);
    g_state_for_signal[sig].store(nullptr);
    g_owner[sig] = nullptr;
    handlers_[sig] = nullptr;
    tokens_[sig] = 0;
    --count_;
    h->release();
    return true;
  }

  bool empty() const noexcept { return count_ == 0; }
  std::uint64_t token(int sig) const noexcept { return tokens_[sig]; }

  /// Schedules one callback per signal arrival counted since the last call. g_mutex held.
  void dispatch() noexcept {
    for (int sig = 1; sig < NSIG; ++sig) {
      std::uint32_t n = arrivals_[sig].exchange(0, std::memory_order_acquire);
      HandleState* h = handlers_[sig];
      if (h == nullptr) continue;  // removed after the signal arrived: a benign race
      for (; n > 0; --n) {
        h->add_ref();
        try {
          LoopAccess::schedule(loop_, {&run_signal_handle, h});
        } catch (...) {
          h->release();  // out of memory growing the ready queue: the signal is lost
          break;
        }
      }
    }
  }

  void on_loop_close() noexcept override {
    std::lock_guard lock(g_mutex);
    for (int sig = 1; sig < NSIG; ++sig) remove(sig);
    wait_for_handlers();
    delete this;
  }

  /// From the C signal handler: counts one arrival of `sig`.
  void count_arrival(int sig) noexcept { arrivals_[sig].fetch_add(1, std::memory_order_release); }
  EventLoop& loop() const noexcept { return loop_; }

 private:
  EventLoop& loop_;
  int count_ = 0;
  std::uint64_t last_token_ = 0;
  HandleState* handlers_[NSIG] = {};
  std::uint64_t tokens_[NSIG] = {};
  std::atomic<std::uint32_t> arrivals_[NSIG] = {};  // written by the C handler
};

SignalState* find_state(const EventLoop& loop) noexcept {
  auto it = states().find(&loop);
  return it == states().end() ? nullptr : it->second;
}

/// Deletes `state` once unused. g_mutex held; every signal of it already unpublished.
void destroy(SignalState* state) noexcept {
  wait_for_handlers();
  delete state;
}

struct ReleaseHandle {
  void operator()(HandleState* h) const noexcept { h->release(); }
};

}  // namespace

std::uint64_t signal_handler_token(EventLoop& loop, int sig) noexcept {
  if (sig <= 0 || sig >= NSIG) return 0;
  std::lock_guard lock(g_mutex);
  SignalState* state = find_state(loop);
  return state ? state->token(sig) : 0;
}

bool remove_signal_handler_if(EventLoop& loop, int sig, std::uint64_t token) noexcept {
  if (sig <= 0 || sig >= NSIG || token == 0) return false;
  std::lock_guard lock(g_mutex);
  SignalState* state = find_state(loop);
  if (state == nullptr || state->token(sig) != token) return false;
  state->remove(sig);
  if (state->empty()) destroy(state);
  return true;
}

bool is_main_thread() noexcept {
  return ::getpid() == static_cast<pid_t>(::syscall(SYS_gettid));
}

bool has_default_disposition(int sig) noexcept {
  struct sigaction old {};
  if (::sigaction(sig, nullptr, &old) != 0) return false;
  return (old.sa_flags & SA_SIGINFO) == 0 && old.sa_handler == SIG_DFL;
}

}  // namespace detail

// ---- EventLoop members ---------------------------------------------------------------------

void EventLoop::check_signal(int sig) {
  // signal.valid_signals() on Linux: every number below NSIG except glibc's two reserved
  // real-time signals (SIGCANCEL, SIGSETXID), which sigfillset() leaves out.
  if (sig < 1 || sig >= NSIG || sig == 32 || sig == 33) {
    throw ValueError("invalid signal number " + std::to_string(sig));
  }
}

void EventLoop::on_signal(int sig) noexcept {
  const int saved_errno = errno;
  detail::g_handlers_running.fetch_add(1);  // seq_cst: pairs with unpublish + wait_for_handlers()
  if (sig > 0 && sig < NSIG) {
    if (detail::SignalState* state = detail::g_state_for_signal[sig].load()) {
      state->count_arrival(sig);
      // Async-signal-safe: atomic stores and an eventfd write, in the order
      // schedule_handle_threadsafe() uses: flag, then wake.
      EventLoop& loop = state->loop();
      loop.signal_pending_.store(true, std::memory_order_release);
      loop.threadsafe_pending_.store(true, std::memory_order_release);
      loop.reactor_->wakeup();
    }
  }
  detail::g_handlers_running.fetch_sub(1);
  errno = saved_errno;
}

void EventLoop::dispatch_signals() noexcept {
  std::lock_guard lock(detail::g_mutex);
  if (detail::SignalState* state = detail::find_state(*this)) state->dispatch();
}

void EventLoop::set_signal_handler(int sig, detail::HandleState* h) {
  std::unique_ptr<detail::HandleState, detail::ReleaseHandle> handle(h);
  std::lock_guard lock(detail::g_mutex);
  detail::SignalState* owner = detail::g_owner[sig];
  detail::SignalState* state = detail::find_state(*this);
  if (owner != nullptr && owner != state) {
    throw RuntimeError("signal " + std::to_string(sig) +
                       " is already handled by another event loop");
  }
  if (state == nullptr) state = new detail::SignalState(*this);
  try {
    state->set(sig, handle.get(), &EventLoop::on_signal);
  } catch (...) {
    if (state->empty()) detail::destroy(state);
    throw;
  }
  handle.release();
}

// Python's default SIGINT handler raises KeyboardInterrupt in the main thread wherever it
// runs, in practice out of run_forever(). C++ cannot throw from a signal handler, so the loop
// handles SIGINT itself while it runs: the callback stops it, run_forever() throws.
std::uint64_t EventLoop::begin_sigint_watch() noexcept {
  sigint_received_ = false;
  if (!detail::is_main_thread() || !detail::has_default_disposition(SIGINT)) return 0;
  try {
    add_signal_handler(SIGINT, [this] {
      if (!sigint_watch_) return;  // queued before end_sigint_watch(): too late for that run
      sigint_received_ = true;
      stop();
    });
  } catch (...) {
    return 0;  // another loop handles SIGINT, or no memory: leave Ctrl-C as it is
  }
  sigint_watch_ = true;
  return detail::signal_handler_token(*this, SIGINT);
}

void EventLoop::end_sigint_watch(std::uint64_t token) noexcept {
  if (token == 0) return;
  sigint_watch_ = false;
  detail::remove_signal_handler_if(*this, SIGINT, token);
}

bool EventLoop::remove_signal_handler(int sig) {
  check_signal(sig);
  std::lock_guard lock(detail::g_mutex);
  detail::SignalState* state = detail::find_state(*this);
  if (state == nullptr || !state->remove(sig)) return false;
  if (state->empty()) detail::destroy(state);
  return true;
}

}  // namespace asyncio
