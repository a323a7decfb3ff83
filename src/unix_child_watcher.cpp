// Child exit watching (Python: unix_events.PidfdChildWatcher, with ThreadedChildWatcher as the
// fallback). Only the watched pid is ever waited for; see ChildWatch in unix_internal.hpp.

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <thread>

#include "asyncio/net_errors.hpp"
#include "asyncio/unix_events.hpp"
#include "unix_internal.hpp"

namespace asyncio::detail {

namespace {

std::atomic<ChildWatcherKind> g_kind{ChildWatcherKind::Auto};

/// Reaps `pid` if it has exited; returns the raw result of waitpid(WNOHANG).
pid_t reap_now(pid_t pid, int* status) noexcept {
  pid_t r;
  do {
    r = ::waitpid(pid, status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  return r;
}

void reap_blocking(pid_t pid) noexcept {
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

void set_child_watcher_kind(ChildWatcherKind kind) noexcept {
  g_kind.store(kind);
}
ChildWatcherKind child_watcher_kind() noexcept {
  return g_kind.load();
}

int waitstatus_to_exitcode(int status) noexcept {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return status;  // not understood: Python returns the raw status too
}

void reap_orphan(pid_t pid) noexcept {
  if (reap_now(pid, nullptr) != 0) return;  // reaped now, or not our child any more
  try {
    std::thread([pid] { reap_blocking(pid); }).detach();
  } catch (...) {
    // No thread: the zombie stays until this process exits.
  }
}

/// Shared by a ChildWatch and its waiting thread (fallback mode).
struct ThreadedWatchState {
  std::mutex mutex;
  EventLoop* loop = nullptr;    // guarded by mutex; null once the watch detached
  bool posted = false;          // guarded by mutex: the thread saw the exit and told the loop
  ChildWatch* watch = nullptr;  // loop thread only
};

ChildWatch::~ChildWatch() {
  detach();
}

void ChildWatch::start(EventLoop& loop, pid_t pid, ChildExitTarget* target) {
  loop_ = &loop;
  pid_ = pid;
  target_ = target;
  if (child_watcher_kind() == ChildWatcherKind::Auto) {
    // pidfd_open sets close-on-exec on the new fd.
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (fd >= 0) {
      pidfd_ = fd;
      try {
        LoopAccess::watch_io(loop, fd, this, /*readable=*/true, /*writable=*/false);
      } catch (...) {
        ::close(fd);
        pidfd_ = -1;
        loop_ = nullptr;
        throw;
      }
      return;
    }
    if (errno != ENOSYS && errno != EPERM) {
      const int err = errno;
      loop_ = nullptr;
      throw_os_error(err);
    }
  }
  // Fallback: a thread per child, which waits without reaping and posts to the loop.
  auto state = std::make_shared<ThreadedWatchState>();
  state->loop = &loop;
  state->watch = this;
  thread_state_ = state;
  try {
    std::thread([state, pid] {
      siginfo_t info{};
      while (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT) < 0 &&
             errno == EINTR) {
      }
      {
        std::lock_guard lock(state->mutex);
        if (state->loop != nullptr) {
          try {
            state->loop->call_soon_threadsafe([state] {
              if (state->watch != nullptr) state->watch->try_reap();
            });
            state->posted = true;
            return;  // the loop thread reaps
          } catch (...) {
            // Closed or out of memory: reap here.
          }
        }
      }
      reap_blocking(pid);
    }).detach();
  } catch (...) {
    thread_state_.reset();
    loop_ = nullptr;
    throw;
  }
}

void ChildWatch::on_io(bool readable, bool) noexcept {
  if (readable) try_reap();
}

void ChildWatch::try_reap() noexcept {
  if (reaped_ || loop_ == nullptr) return;
  int status = 0;
  const pid_t r = reap_now(pid_, &status);
  if (r == 0) return;  // still running: spurious readiness
  int returncode;
  if (r < 0) {
    // Someone else reaped it (waitpid(-1) elsewhere in the program). Python reports 255.
    returncode = 255;
    std::fprintf(stderr,
                 "asyncio: child process pid %d exit status already read: will report "
                 "returncode 255\n",
                 static_cast<int>(pid_));
  } else {
    returncode = waitstatus_to_exitcode(status);
  }
  reaped_ = true;
  ChildExitTarget* target = target_;
  stop_watching();
  if (target != nullptr) target->on_child_exited(returncode);
}

void ChildWatch::stop_watching() noexcept {
  if (pidfd_ >= 0) {
    if (loop_ != nullptr) {
      try {
        LoopAccess::unwatch_io(*loop_, pidfd_);
      } catch (...) {
      }
    }
    ::close(pidfd_);
    pidfd_ = -1;
  }
  if (thread_state_) {
    std::lock_guard lock(thread_state_->mutex);
    thread_state_->loop = nullptr;
    thread_state_->watch = nullptr;
  }
  loop_ = nullptr;
  target_ = nullptr;
}

void ChildWatch::detach() noexcept {
  if (pid_ < 0) return;
  if (reaped_ || loop_ == nullptr) {
    stop_watching();
    return;
  }
  const bool threaded = static_cast<bool>(thread_state_);
  bool posted = false;
  if (threaded) {
    // Read `posted` and cut the link in one step: the thread either posted already (and
    // leaves the reaping to us) or will find the link cut (and reaps the child itself).
    std::lock_guard lock(thread_state_->mutex);
    posted = thread_state_->posted;
    thread_state_->loop = nullptr;
    thread_state_->watch = nullptr;
  }
  stop_watching();
  reaped_ = true;  // from now on it is someone else's job
  if (!threaded) {
    reap_orphan(pid_);
  } else if (posted) {
    // The thread saw the exit and left the reaping to the loop, which will not do it now.
    reap_now(pid_, nullptr);
  }
  // Otherwise the waiting thread finds the watch detached and reaps the child itself.
}

}  // namespace asyncio::detail
