// The reactor: the loop's only window onto the kernel's I/O notification.
//
// Deliberately narrow so the backends (epoll, io_uring) can replace each other without touching
// the loop: watch/unwatch readiness interest per fd, poll with a timeout, a thread-safe wakeup,
// and, on io_uring only, a completion interface (CompletionRing) for operations the kernel
// carries out itself (recv into a provided buffer, send, accept). Not a public header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

struct io_uring_sqe;  // <liburing.h>: only the io_uring code fills SQEs

namespace asyncio::detail {

/// An operation in flight on the io_uring backend, told of its completions.
///
/// Ownership rule (the one thing every user must get right): from the prepare() that names
/// this object until the completion without IORING_CQE_F_MORE in `flags` (the *final* one),
/// the kernel may write into the operation's buffers and will deliver a CQE naming this
/// object, so the object and its buffers must stay alive. Cancelling (CompletionRing::cancel)
/// does not end that: the final CQE still comes (res == -ECANCELED, or the result if the
/// operation won the race) and only then may the object go.
class Completion {
 public:
  /// Called from Reactor::poll() (and drain()) on the loop's thread, once per CQE. `res` is
  /// the kernel's result (>= 0, or -errno); `flags` the CQE flags (IORING_CQE_F_MORE: more
  /// CQEs follow for this operation; IORING_CQE_F_BUFFER: a provided buffer was used).
  virtual void on_complete(int res, std::uint32_t flags) noexcept = 0;

 protected:
  ~Completion() = default;
};

/// The io_uring backend's completion interface (Reactor::ring()).
class CompletionRing {
 public:
  /// A zeroed SQE whose CQEs go to `c` (nullptr: nobody is told, e.g. a cancel request).
  /// The caller fills in the operation; it is submitted by the next poll() or submit(), so
  /// every operation prepared during one loop iteration goes to the kernel in one system
  /// call. Never null: a full submission queue is flushed first. Throws OSError when even
  /// that fails.
  virtual io_uring_sqe* prepare(Completion* c) = 0;
  /// Submits what prepare() queued now, e.g. before closing an fd an operation refers to (an
  /// operation holds its file open: the fd's close() alone does not end it).
  virtual void submit() noexcept = 0;
  /// Asks the kernel to cancel every operation of `c` in flight. Their final CQEs still come.
  virtual void cancel(Completion* c) = 0;

  /// The provided-buffer group for IOSQE_BUFFER_SELECT receives (multishot recv): set up on
  /// first use. A CQE with IORING_CQE_F_BUFFER names the buffer it filled as
  /// `flags >> IORING_CQE_BUFFER_SHIFT`; the receiver reads buffer(id) and recycle()s it.
  virtual std::uint16_t buffer_group() = 0;
  /// The bytes of provided buffer `id` (its whole capacity; the CQE's res says how many hold
  /// data).
  virtual std::span<std::byte> buffer(std::uint16_t id) noexcept = 0;
  /// Gives provided buffer `id` back to the kernel.
  virtual void recycle(std::uint16_t id) noexcept = 0;

 protected:
  ~CompletionRing() = default;
};

class Reactor {
 public:
  struct Ready {
    int fd;
    bool readable;  // also set on error/hang-up, so the reader sees it (as Python's selectors)
    bool writable;  // also set on error/hang-up
  };

  virtual ~Reactor() = default;

  /// Sets the interest for `fd`; both false stops watching it. Throws std::system_error.
  virtual void watch(int fd, bool readable, bool writable) = 0;
  /// Forgets `fd` (which may already be closed).
  virtual void unwatch(int fd) noexcept = 0;
  /// Waits until an fd is ready, an operation completes, `timeout_ns` passes (negative: no
  /// limit; 0: just look) or wakeup() is called. Appends the ready fds to `out`; completions
  /// are delivered to their Completion objects from inside poll().
  virtual void poll(std::int64_t timeout_ns, std::vector<Ready>& out) = 0;
  /// Interrupts a poll() in progress, or makes the next one return at once. Thread-safe and
  /// async-signal-safe.
  virtual void wakeup() noexcept = 0;

  /// The completion interface (io_uring), or nullptr (epoll: readiness only).
  virtual CompletionRing* ring() noexcept { return nullptr; }
  /// Whether poll() has work even with no fd watched: operations queued or in flight.
  virtual bool busy() const noexcept { return false; }
  /// Before the loop closes: cancels every operation in flight and delivers their final
  /// completions, so that no kernel operation outlives the objects that own its buffers.
  virtual void drain() noexcept {}
  /// "epoll" or "io_uring".
  virtual const char* name() const noexcept = 0;
};

std::unique_ptr<Reactor> make_epoll_reactor();
/// Throws OSError when the kernel refuses io_uring (old kernel, seccomp, sysctl, limits).
std::unique_ptr<Reactor> make_uring_reactor();

}  // namespace asyncio::detail
