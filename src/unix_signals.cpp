// Unix signal handlers for the event loop: a sigaction handler writes the signal number to the
// owning loop's self-pipe; the loop reads the pipe through an IoHandler and runs the callbacks
// from its ready queue (Python: _UnixSelectorEventLoop.add_signal_handler and friends).

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <string>
#include <system_error>
#include <unordered_map>

#include "asyncio/detail/loop_access.hpp"
#include "asyncio/events.hpp"
#include "asyncio/unix_events.hpp"

namespace asyncio {
namespace detail {
namespace {

// ---- What the C signal handler may touch: lock-free atomics only -----------------------------

/// For each signal: 1 + the write end of the owning loop's self-pipe, or 0 when no loop owns
/// it. (Zero-initialised static storage, hence the +1.)
std::atomic<int> g_pipe_for_signal[NSIG];
/// How many signal handlers are running right now (any thread): a pipe is closed only when
/// none can still be writing to it.
std::atomic<int> g_handlers_running{0};

static_assert(std::atomic<int>::is_always_lock_free, "the signal handler needs lock-free atomics");

extern "C" void asyncio_signal_handler(int sig) {
  const int saved_errno = errno;
  g_handlers_running.fetch_add(1);  // seq_cst: pairs with the fence in wait_for_handlers()
  if (sig > 0 && sig < NSIG) {
    const int fd = g_pipe_for_signal[sig].load() - 1;
    if (fd >= 0) {
      const unsigned char byte = static_cast<unsigned char>(sig);
      // Non-blocking: if the pipe is full the signal is dropped (as Python's wakeup fd).
      [[maybe_unused]] ssize_t n = ::write(fd, &byte, 1);
    }
  }
  g_handlers_running.fetch_sub(1);
  errno = saved_errno;
}

/// After a pipe was unpublished from g_pipe_for_signal: waits until no handler that might
/// have read its fd before that is still running (they run for a few instructions).
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

class SignalState;

/// Guards the tables below and every SignalState's handler slots. Signal handlers are added
/// and removed rarely; a mutex keeps loops of different threads consistent.
std::mutex g_mutex;
SignalState* g_owner[NSIG];  // which loop handles each signal
std::unordered_map<const EventLoop*, SignalState*>& states() {
  static auto* map = new std::unordered_map<const EventLoop*, SignalState*>();  // never freed
  return *map;
}

/// One loop's signal handlers and self-pipe. Exists while the loop has at least one handler.
class SignalState final : public IoHandler, public LoopCloseHook {
 public:
  explicit SignalState(EventLoop& loop) : loop_(loop) {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
      throw std::system_error(errno, std::generic_category(), "cannot create the signal pipe");
    }
    read_fd_ = fds[0];
    write_fd_ = fds[1];
    try {
      LoopAccess::watch_io(loop_, read_fd_, this, /*readable=*/true, /*writable=*/false);
    } catch (...) {
      ::close(read_fd_);
      ::close(write_fd_);
      throw;
    }
    LoopAccess::add_close_hook(loop_, this);
    states()[&loop_] = this;
  }

  ~SignalState() {
    unlink();  // from the loop's close hooks
    states().erase(&loop_);
    try {
      LoopAccess::unwatch_io(loop_, read_fd_);
    } catch (...) {
      // Unwatching cannot fail for a watched fd; nothing to do otherwise.
    }
    wait_for_handlers();  // every signal was unpublished before: no handler can start writing
    ::close(read_fd_);
    ::close(write_fd_);
  }

  /// Installs `h` for `sig` (taking the reference). Called with g_mutex held.
  void set(int sig, HandleState* h) {
    if (handlers_[sig] == nullptr) {
      g_pipe_for_signal[sig].store(write_fd_ + 1);
      struct sigaction sa {};
      sa.sa_handler = &asyncio_signal_handler;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESTART;  // Python: signal.siginterrupt(sig, False)
      if (::sigaction(sig, &sa, nullptr) != 0) {
        const int err = errno;
        g_pipe_for_signal[sig].store(0);
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
    g_pipe_for_signal[sig].store(0);
    g_owner[sig] = nullptr;
    handlers_[sig] = nullptr;
    tokens_[sig] = 0;
    --count_;
    h->release();
    return true;
  }

  bool empty() const noexcept { return count_ == 0; }
  std::uint64_t token(int sig) const noexcept { return tokens_[sig]; }

  void on_io(bool readable, bool) noexcept override {
    if (!readable) return;
    unsigned char buf[256];
    while (true) {
      const ssize_t n = ::read(read_fd_, buf, sizeof buf);
      if (n <= 0) break;  // EAGAIN: drained (EINTR cannot happen: SA_RESTART, non-blocking)
      std::lock_guard lock(g_mutex);
      for (ssize_t i = 0; i < n; ++i) {
        const int sig = buf[i];
        if (sig <= 0 || sig >= NSIG) continue;
        HandleState* h = handlers_[sig];
        if (h == nullptr) continue;  // removed after the signal arrived: a benign race
        h->add_ref();
        try {
          LoopAccess::schedule(loop_, {&run_signal_handle, h});
        } catch (...) {
          h->release();  // out of memory growing the ready queue: the signal is lost
        }
      }
    }
  }

  void on_loop_close() noexcept override {
    std::lock_guard lock(g_mutex);
    for (int sig = 1; sig < NSIG; ++sig) remove(sig);
    delete this;
  }

 private:
  EventLoop& loop_;
  int read_fd_ = -1;
  int write_fd_ = -1;
  int count_ = 0;
  std::uint64_t last_token_ = 0;
  HandleState* handlers_[NSIG] = {};
  std::uint64_t tokens_[NSIG] = {};
};

SignalState* find_state(const EventLoop& loop) noexcept {
  auto it = states().find(&loop);
  return it == states().end() ? nullptr : it->second;
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
  if (state->empty()) delete state;
  return true;
}

bool is_main_thread() noexcept { return ::getpid() == static_cast<pid_t>(::syscall(SYS_gettid)); }

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

void EventLoop::set_signal_handler(int sig, detail::HandleState* h) {
  std::unique_ptr<detail::HandleState, detail::ReleaseHandle> handle(h);
  std::lock_guard lock(detail::g_mutex);
  detail::SignalState* owner = detail::g_owner[sig];
  detail::SignalState* state = detail::find_state(*this);
  if (owner != nullptr && owner != state) {
    throw RuntimeError("signal " + std::to_string(sig) + " is already handled by another event loop");
  }
  if (state == nullptr) state = new detail::SignalState(*this);
  try {
    state->set(sig, handle.get());
  } catch (...) {
    if (state->empty()) delete state;
    throw;
  }
  handle.release();
}

bool EventLoop::remove_signal_handler(int sig) {
  check_signal(sig);
  std::lock_guard lock(detail::g_mutex);
  detail::SignalState* state = detail::find_state(*this);
  if (state == nullptr || !state->remove(sig)) return false;
  if (state->empty()) delete state;
  return true;
}

}  // namespace asyncio
