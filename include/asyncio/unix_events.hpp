// asyncio/unix_events.hpp — Unix signals, Ctrl-C and child watching (Python: the signal
// handling and child watchers of asyncio.unix_events, and KeyboardInterrupt as
// asyncio.runners raises it).
//
// Signal handlers
// ---------------
//   loop.add_signal_handler(SIGTERM, [&] { server.close(); });   // Python: the same call
//   loop.remove_signal_handler(SIGTERM);                         // -> bool
//
// How it works: add_signal_handler() installs, with sigaction(SA_RESTART), one
// async-signal-safe C handler for `sig`. That handler, on whatever thread the kernel picked
// (a process-directed signal goes to ANY thread that does not block it), only touches
// lock-free atomics and the loop's eventfd: it counts the arrival, raises the loop's
// "something came from outside" flag and wakes the loop exactly as call_soon_threadsafe()
// does (errno is preserved). On its next iteration the loop schedules the registered
// callback once per arrival on its ready queue, so callbacks run on the loop's thread between
// other callbacks, never inside the signal handler.
//   * Python's loop writes the signal number to a self-pipe that its selector watches. Here
//     no fd is added: a watched fd would force an epoll_wait() on every iteration, which made
//     callback-bound loops 14x slower (2.1 µs vs 0.15 µs per iteration, measured) — and
//     asyncio::run() installs a SIGINT handler in every program. The loop already checks its
//     thread-safe flag once per iteration, so signal handling costs nothing until a signal
//     arrives.
//
// Rules (as Python, with the deliberate differences marked *):
//   - Valid signal numbers are 1..NSIG-1 except the two glibc reserves for threads (32, 33),
//     as signal.valid_signals(); others throw ValueError("invalid signal number N").
//   - SIGKILL and SIGSTOP throw RuntimeError("sig N cannot be caught").
//   - remove_signal_handler(), and EventLoop::close() for handlers still installed, restore
//     the default disposition SIG_DFL (Python restores default_int_handler for SIGINT, which
//     in C++ terms is SIG_DFL: the process is interrupted).
//   - * Any thread's loop may add signal handlers (Python: only the main thread's), but a
//     signal is handled by one loop at a time: adding a handler for a signal another live
//     loop handles throws RuntimeError.
//   - Each arrival runs the callback once (Python: once per byte in its wakeup pipe, where
//     arrivals beyond the pipe's capacity are dropped; here they are counted). The kernel
//     itself merges arrivals of a standard signal that is already pending.
//   - Callbacks already scheduled still run after remove_signal_handler() (as Python).
//
// Ctrl-C (SIGINT) in asyncio::run() / Runner::run() — Python 3.11+ behaviour
// --------------------------------------------------------------------------
// When run() is called from the process's main thread and SIGINT has its default
// disposition, run() installs a SIGINT handler on its loop for the duration of the call:
//   - the first SIGINT cancels the main task (its cleanup — catch blocks, destructors,
//     `finally`-style code after catching CancelledError — runs normally); if the task then
//     ends cancelled and uncancel() brings its cancellation count to 0, run() throws
//     asyncio::KeyboardInterrupt instead of CancelledError;
//   - * a second SIGINT stops the loop and run() throws KeyboardInterrupt at once, without
//     waiting for the main task (Python raises KeyboardInterrupt from inside the signal
//     handler, which C++ cannot do safely; the interrupt is seen as soon as the loop regains
//     control, so a callback blocking the loop delays it).
// Afterwards the previous (default) disposition is restored, unless the program replaced the
// handler with its own loop.add_signal_handler(SIGINT, ...) meanwhile. Then, as usual, the
// Runner's close() (asyncio::run() calls it) cancels the remaining tasks and closes the loop.
//
//   int main() { return asyncio::run_main(amain()); }  // asyncio/runners.hpp
//
// run_main() ends the program as CPython does after an uncaught KeyboardInterrupt: it flushes
// stdout, prints "KeyboardInterrupt" on stderr and dies of SIGINT (a shell shows status 130).
//
// A loop run by hand (run_forever()/run_until_complete() in the main thread, SIGINT at its
// default disposition) turns Ctrl-C into KeyboardInterrupt too; see EventLoop::run_forever.
//
// Pipe transports (Python: _UnixReadPipeTransport, _UnixWritePipeTransport,
// loop.connect_read_pipe/connect_write_pipe) are in asyncio/unix_pipes.hpp.
//
// Child watching (Python: PidfdChildWatcher, ThreadedChildWatcher)
// ---------------------------------------------------------------------------------------------
// Each child gets a pidfd (pidfd_open, Linux 5.3+) watched by its loop; when it becomes
// readable the loop thread reaps exactly that pid with waitpid(pid) — never waitpid(-1), so
// children spawned by other code are never stolen. Fallback when pidfd_open fails with ENOSYS
// (older kernels) or EPERM (some seccomp sandboxes): one thread per child blocks in
// waitid(P_PID, pid, WEXITED | WNOWAIT) — which leaves the child unreaped — and posts to the
// loop with call_soon_threadsafe; the loop thread reaps. Either way the pid is reaped only by
// the loop thread while the loop watches it, so send_signal() can never hit a recycled pid.
// When a loop closes with children still running, they are killed (SIGKILL, as Python's
// transport does when it is closed) and reaped by a background thread: no zombie is left.
#pragma once

#include <cstdint>

#include "asyncio/events.hpp"

namespace asyncio {

/// Ctrl-C interrupted asyncio::run() / Runner::run() (Python: KeyboardInterrupt).
///
/// Like CancelledError — and like Python, where KeyboardInterrupt derives from BaseException,
/// not Exception — it does not derive from std::exception, so `catch (const
/// std::exception&)` never swallows an interrupt.
class KeyboardInterrupt {
 public:
  /// "asyncio::KeyboardInterrupt", for symmetry with std::exception.
  /// C++ only (Python: str(KeyboardInterrupt()) is empty).
  const char* what() const noexcept { return "asyncio::KeyboardInterrupt"; }
};

namespace detail {

/// Which mechanism new child watches use: Auto (pidfd, falling back to a thread per child)
/// or Threaded (always the fallback; for tests of it).
enum class ChildWatcherKind { Auto, Threaded };
void set_child_watcher_kind(ChildWatcherKind kind) noexcept;
ChildWatcherKind child_watcher_kind() noexcept;

/// Identifies the handler currently installed by `loop` for `sig` (0 when none); changes each
/// time add_signal_handler() installs a new one. Lets run() remove its SIGINT handler only if
/// the program did not replace it.
std::uint64_t signal_handler_token(EventLoop& loop, int sig) noexcept;

/// remove_signal_handler(sig) if the handler installed for `sig` is still the one `token`
/// identifies. Returns whether it removed it.
bool remove_signal_handler_if(EventLoop& loop, int sig, std::uint64_t token) noexcept;

/// Whether the calling thread is the process's main thread (whose id is the process id).
bool is_main_thread() noexcept;

/// Whether `sig` has its default disposition (SIG_DFL) in this process.
bool has_default_disposition(int sig) noexcept;

}  // namespace detail
}  // namespace asyncio
