// Reactor backend on Linux io_uring (liburing).
//
// Two kinds of work share one ring:
// - Readiness, for everything written against the Reactor's watch()/poll() interface (pipes,
//   subprocesses, signals, datagrams, add_reader/add_writer): one single-shot IORING_OP_POLL_ADD
//   per watched fd, re-armed by the next poll() after its event was dispatched. A single-shot
//   poll reports an fd that is ready when it is armed, so re-arming after each dispatch gives
//   level-triggered semantics, as the epoll backend and Python's selectors have.
// - Completions (CompletionRing): operations the kernel carries out itself (recv into a provided
//   buffer, send, accept) whose CQEs go straight to their Completion object.
//
// Every SQE prepared during a loop iteration is submitted by the next poll(), in the same
// io_uring_enter() that waits for completions with the loop's timeout: in the steady state one
// system call per loop iteration, whatever the number of operations.
//
// user_data tags (a Completion* is at least 8-aligned, so its low bits are free):
//   0                          nobody is told (cancel and poll-remove requests)
//   kWakeTag                   the wake-up eventfd's read
//   (gen << 32) | fd << 1 | 1  the readiness poll of `fd`, armed in generation `gen`
//   otherwise                  a Completion*
// A readiness CQE whose generation is not the fd's current one belongs to an interest that was
// changed or dropped since (its poll was removed): it is ignored.

#include <liburing.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

#include "asyncio/net_errors.hpp"
#include "reactor.hpp"

namespace asyncio::detail {
namespace {

constexpr std::uint64_t kWakeTag = 2;
constexpr unsigned kRingEntries = 256;
constexpr unsigned kCompletionEntries = 4096;
// Provided buffers for multishot receives: enough for many connections' bursts, allocated only
// when a receive first asks (a loop that never uses the completion path pays nothing).
constexpr unsigned kBufferCount = 256;  // a power of two (the buffer ring's requirement)
constexpr std::size_t kBufferSize = 16 * 1024;
constexpr std::uint16_t kBufferGroup = 0;

struct CqeCopy {
  std::uint64_t user_data;
  std::int32_t res;
  std::uint32_t flags;
};

/// Per-fd readiness state.
struct PollSlot {
  std::uint32_t gen = 0;  // bumped whenever the armed poll no longer describes the interest
  bool readable = false;  // the interest
  bool writable = false;
  bool armed = false;            // a poll of generation `gen` is in the kernel (or queued for it)
  bool queued = false;           // listed in to_arm_
  bool fired = false;            // queued for re-arming because its poll reported an event
  std::uint64_t rearmed_in = 0;  // the poll() round that re-armed it after it fired
};

class UringReactor final : public Reactor, public CompletionRing {
 public:
  UringReactor() {
    // COOP_TASKRUN: the kernel does not interrupt the loop to post completions; it posts them
    // at our next system call. Not SINGLE_ISSUER/DEFER_TASKRUN: they would tie the ring to one
    // thread, and a loop may be run by one thread after another.
    const unsigned attempts[] = {
        IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
        0,
    };
    io_uring_params params{};
    int rc = -EINVAL;
    for (unsigned flags : attempts) {
      params = {};
      params.flags = flags | IORING_SETUP_CQSIZE;
      params.cq_entries = kCompletionEntries;
      rc = io_uring_queue_init_params(kRingEntries, &ring_, &params);
      if (rc != -EINVAL) break;
    }
    if (rc < 0) throw_os_error(-rc);
    if ((params.features & IORING_FEAT_EXT_ARG) == 0 ||
        (params.features & IORING_FEAT_NODROP) == 0) {
      io_uring_queue_exit(&ring_);
      // The timeout in io_uring_enter (5.11) and a CQ that never drops completions (5.5).
      throw_os_error(ENOSYS);
    }
    wakefd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakefd_ < 0) {
      int saved = errno;
      io_uring_queue_exit(&ring_);
      throw_os_error(saved);
    }
    arm_wakeup();
  }

  ~UringReactor() override {
    drain();
    io_uring_queue_exit(&ring_);  // after drain() no operation refers to our buffers
    if (buffers_ != nullptr) ::munmap(buffers_, buffer_area_size());
    ::close(wakefd_);
  }

  const char* name() const noexcept override { return "io_uring"; }
  CompletionRing* ring() noexcept override { return this; }
  bool busy() const noexcept override {
    return in_flight_ != 0 || io_uring_sq_ready(&ring_) != 0 || !to_arm_.empty() || !held_.empty();
  }

  // ---- Readiness -------------------------------------------------------------------------

  void watch(int fd, bool readable, bool writable) override {
    if (!readable && !writable) {
      unwatch(fd);
      return;
    }
    if (fd < 0) throw_os_error(EBADF);
    const auto index = static_cast<std::size_t>(fd);
    if (index >= slots_.size()) {
      check_pollable(fd);  // before growing the table: a bogus huge fd must not allocate
      slots_.resize(std::max<std::size_t>(index + 1, slots_.size() * 2));
    } else if (!slots_[index].readable && !slots_[index].writable) {
      check_pollable(fd);
    }
    PollSlot& s = slots_[index];
    if (s.readable == readable && s.writable == writable && (s.armed || s.queued)) return;
    if (s.armed) remove_poll(fd, s);  // a new interest: the armed poll waits for the old one
    s.readable = readable;
    s.writable = writable;
    queue_arm(fd, s);
  }

  void unwatch(int fd) noexcept override {
    if (fd < 0 || static_cast<std::size_t>(fd) >= slots_.size()) return;
    PollSlot& s = slots_[static_cast<std::size_t>(fd)];
    s.readable = s.writable = false;
    if (s.armed) {
      remove_poll(fd, s);
      // The poll holds the file open: the caller may close the fd next and expects the file
      // to go (a peer to see the close), so the removal reaches the kernel now.
      submit();
    }
    // A queued arm is skipped by arm_pending() now that the interest is empty.
  }

  // ---- Completions -----------------------------------------------------------------------

  io_uring_sqe* prepare(Completion* c) override {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      // The submission queue is full: hand it to the kernel and take a fresh entry.
      int rc = io_uring_submit(&ring_);
      if (rc < 0 && rc != -EBUSY && rc != -EAGAIN) throw_os_error(-rc);
      sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) throw_os_error(EBUSY);
    }
    std::memset(sqe, 0, sizeof *sqe);
    io_uring_sqe_set_data64(sqe, reinterpret_cast<std::uintptr_t>(c));
    if (c != nullptr) ++in_flight_;
    return sqe;
  }

  void submit() noexcept override {
    // A cancelled operation lets go of its file only when its completion work runs, which
    // COOP_TASKRUN defers to our next system call: ask for events now, so that the caller's
    // close() of the fd really closes it (a listener stops accepting, a peer sees the close).
    (void)io_uring_submit_and_get_events(&ring_);
    // Asking for events may have completed polls of fds that became ready during this
    // dispatch; keep them for the next poll() (see dispatch_round()).
    take_cqes(held_);
  }

  void cancel(Completion* c) override {
    io_uring_sqe* sqe = prepare(nullptr);
    io_uring_prep_cancel64(sqe, reinterpret_cast<std::uintptr_t>(c), IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, 0);
  }

  std::uint16_t buffer_group() override {
    if (buffers_ == nullptr) setup_buffers();
    return kBufferGroup;
  }
  std::span<std::byte> buffer(std::uint16_t id) noexcept override {
    return {static_cast<std::byte*>(buffers_) + buffer_ring_size() + id * kBufferSize, kBufferSize};
  }
  void recycle(std::uint16_t id) noexcept override {
    io_uring_buf_ring_add(buf_ring_, buffer(id).data(), kBufferSize, id,
                          io_uring_buf_ring_mask(kBufferCount), 0);
    io_uring_buf_ring_advance(buf_ring_, 1);
  }

  // ---- Waiting ---------------------------------------------------------------------------

  void poll(std::int64_t timeout_ns, std::vector<Ready>& out) override {
    arm_pending();
    int rc;
    if (timeout_ns == 0) {
      // Submits what is queued and runs pending task work (COOP_TASKRUN) without waiting.
      rc = io_uring_submit_and_get_events(&ring_);
    } else {
#if defined(__SANITIZE_THREAD__)
      if (timeout_ns < 0 || timeout_ns > 10'000'000) timeout_ns = 10'000'000;  // see below
#endif
      __kernel_timespec ts{};
      __kernel_timespec* tsp = nullptr;
      if (timeout_ns > 0) {
        ts.tv_sec = timeout_ns / 1'000'000'000;
        ts.tv_nsec = timeout_ns % 1'000'000'000;
        tsp = &ts;
      }
      io_uring_cqe* cqe = nullptr;
      rc = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, tsp, nullptr);
    }
    if (rc < 0 && rc != -ETIME && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
      throw_os_error(-rc);
    }
#if defined(__SANITIZE_THREAD__)
    // ThreadSanitizer runs a signal's handler only when the thread passes through one of its
    // interceptors, and liburing's io_uring_enter is a raw system call it does not intercept
    // (and the kernel restarts it after a signal under SA_RESTART). Pass through one after
    // every wait, which the cap on the timeout above makes at most 10 ms long: otherwise a
    // handler that wakes the loop (add_signal_handler) never runs in TSan builds.
    timespec zero{0, 0};
    ::nanosleep(&zero, nullptr);
#endif
    ++round_;
    dispatch_round(out);
  }

  void wakeup() noexcept override {
    std::uint64_t one = 1;
    // EAGAIN means the counter is saturated: a wakeup is pending anyway.
    [[maybe_unused]] ssize_t r = ::write(wakefd_, &one, sizeof one);
  }

  void drain() noexcept override {
    if (in_flight_ == 0) return;
    if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) {
      io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data64(sqe, 0);
    }
    // Each round hands the kernel whatever the completions queued and takes their CQEs; the
    // bound keeps a kernel that never completes something from hanging close() forever.
    for (int round = 0; in_flight_ != 0 && round < 1000; ++round) {
      __kernel_timespec ts{0, 10'000'000};
      io_uring_cqe* cqe = nullptr;
      (void)io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
      reap(nullptr);
      if (in_flight_ != 0 && round % 10 == 9) {
        // Operations prepared by completions during the drain: cancel them too.
        if (io_uring_sqe* sqe = io_uring_get_sqe(&ring_)) {
          io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
          io_uring_sqe_set_data64(sqe, 0);
        }
      }
    }
  }

 private:
  /// What epoll_ctl(ADD) refuses, refused here too and at once (a poll would only report it
  /// later, or report a regular file ready forever): a closed fd (EBADF, as Python's
  /// add_reader() of a closed fd) and a regular file or directory (EPERM).
  static void check_pollable(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) < 0) throw_os_error(errno);
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) throw_os_error(EPERM);
  }

  static std::uint64_t poll_tag(int fd, std::uint32_t gen) noexcept {
    return (static_cast<std::uint64_t>(gen) << 32) | (static_cast<std::uint64_t>(fd) << 1) | 1u;
  }

  void queue_arm(int fd, PollSlot& s) {
    if (s.queued) return;
    s.queued = true;
    to_arm_.push_back(fd);
  }

  void remove_poll(int fd, PollSlot& s) noexcept {
    if (io_uring_sqe* sqe = get_sqe_nothrow()) {
      io_uring_prep_poll_remove(sqe, poll_tag(fd, s.gen));
      io_uring_sqe_set_data64(sqe, 0);
    }
    // Whatever the removal's fate, a CQE of the old generation is ignored from now on.
    ++s.gen;
    s.armed = false;
  }

  io_uring_sqe* get_sqe_nothrow() noexcept {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      (void)io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
    }
    return sqe;
  }

  /// Arms a poll for every fd whose interest is not armed (new interests, and fds whose poll
  /// fired since the last poll()).
  void arm_pending() {
    for (int fd : to_arm_) {
      PollSlot& s = slots_[static_cast<std::size_t>(fd)];
      s.queued = false;
      if (s.armed || (!s.readable && !s.writable)) continue;
      io_uring_sqe* sqe = prepare(nullptr);
      unsigned mask = (s.readable ? POLLIN : 0u) | (s.writable ? POLLOUT : 0u);
      io_uring_prep_poll_add(sqe, fd, mask);
      io_uring_sqe_set_data64(sqe, poll_tag(fd, s.gen));
      s.armed = true;
      s.rearmed_in = s.fired ? round_ + 1 : 0;  // round_ + 1: the poll() under way
      s.fired = false;
    }
    to_arm_.clear();
  }

  void arm_wakeup() {
    io_uring_sqe* sqe = prepare(nullptr);
    io_uring_prep_read(sqe, wakefd_, &wake_value_, sizeof wake_value_, 0);
    io_uring_sqe_set_data64(sqe, kWakeTag);
  }

  /// Appends every CQE on the ring to `into` and frees their slots: dispatching may prepare
  /// new SQEs or change interests, which must not disturb the CQ walk.
  void take_cqes(std::vector<CqeCopy>& into) {
    while (true) {
      io_uring_cqe* cqes[64];
      unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, 64);
      if (n == 0) return;
      for (unsigned i = 0; i < n; ++i)
        into.push_back({cqes[i]->user_data, cqes[i]->res, cqes[i]->flags});
      io_uring_cq_advance(&ring_, n);
    }
  }

  /// Dispatches one poll()'s CQEs in the order epoll would report the same events, because
  /// observable callback order follows it (CPython's tests pin it): a level-triggered epoll
  /// puts an fd it reported back at the tail of its ready list at once, so fds still ready
  /// from the last round come before fds that became ready since. Here an fd's poll is
  /// re-armed by the next poll(), and whether its CQE lands before or after the others depends
  /// on when the kernel ran their completion work. So: first the re-armed fds' CQEs, then what
  /// submit() took off the ring during the last dispatch, then the rest, each in ring order.
  void dispatch_round(std::vector<Ready>& out) {
    batch_.clear();
    take_cqes(batch_);
    for (CqeCopy& c : batch_) {
      if ((c.user_data & 1u) == 0) continue;
      const auto fd = static_cast<std::size_t>((c.user_data & 0xffffffffu) >> 1);
      if (fd < slots_.size() && slots_[fd].rearmed_in == round_) {
        dispatch(c, &out);
        c.user_data = 0;  // done
      }
    }
    if (!held_.empty()) {
      std::swap(held_, held_round_);
      for (const CqeCopy& c : held_round_) dispatch(c, &out);
      held_round_.clear();
    }
    for (const CqeCopy& c : batch_) dispatch(c, &out);
  }

  /// Dispatches every CQE there is, held ones included (drain()).
  void reap(std::vector<Ready>* out) {
    std::vector<CqeCopy> all;
    std::swap(all, held_);
    take_cqes(all);
    for (const CqeCopy& c : all) dispatch(c, out);
  }

  void dispatch(const CqeCopy& c, std::vector<Ready>* out) {
    if (c.user_data == 0) return;
    if (c.user_data == kWakeTag) {
      // The read consumed the counter; one more read waits for the next wakeup(). During
      // destruction's drain nothing re-arms (the ring is going).
      if (out != nullptr) arm_wakeup();
      return;
    }
    if ((c.user_data & 1u) != 0) {
      const int fd = static_cast<int>((c.user_data & 0xffffffffu) >> 1);
      const auto gen = static_cast<std::uint32_t>(c.user_data >> 32);
      if (static_cast<std::size_t>(fd) >= slots_.size()) return;
      PollSlot& s = slots_[static_cast<std::size_t>(fd)];
      if (s.gen != gen || !s.armed) return;  // a removed poll's last word
      s.armed = false;
      if (c.res == -ECANCELED) return;
      if (!s.readable && !s.writable) return;
      // Re-armed by the next poll(), after the loop has dispatched this event.
      s.fired = true;
      queue_arm(fd, s);
      if (out == nullptr) return;
      if (c.res < 0) {
        // EBADF and the like: the fd went away behind our back. Tell both sides, as epoll
        // reports EPOLLERR|EPOLLHUP, so the watcher finds out by trying.
        out->push_back(Ready{fd, s.readable, s.writable});
        return;
      }
      const unsigned ev = static_cast<unsigned>(c.res);
      const bool failed = (ev & (POLLERR | POLLHUP | POLLNVAL)) != 0;
      out->push_back(Ready{fd, failed || (ev & POLLIN) != 0, failed || (ev & POLLOUT) != 0});
      return;
    }
    if ((c.flags & IORING_CQE_F_MORE) == 0) --in_flight_;
    reinterpret_cast<Completion*>(static_cast<std::uintptr_t>(c.user_data))
        ->on_complete(c.res, c.flags);
  }

  static std::size_t buffer_ring_size() noexcept {
    // The ring of buffer descriptors, rounded to a page so the buffers start page-aligned.
    std::size_t bytes = kBufferCount * sizeof(io_uring_buf);
    return (bytes + 4095) & ~std::size_t{4095};
  }
  static std::size_t buffer_area_size() noexcept {
    return buffer_ring_size() + kBufferCount * kBufferSize;
  }

  void setup_buffers() {
    void* area = ::mmap(nullptr, buffer_area_size(), PROT_READ | PROT_WRITE,
                        MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (area == MAP_FAILED) throw_os_error(errno);
    auto* br = static_cast<io_uring_buf_ring*>(area);
    io_uring_buf_ring_init(br);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(br);
    reg.ring_entries = kBufferCount;
    reg.bgid = kBufferGroup;
    int rc = io_uring_register_buf_ring(&ring_, &reg, 0);
    if (rc < 0) {
      ::munmap(area, buffer_area_size());
      throw_os_error(-rc);
    }
    buffers_ = area;
    buf_ring_ = br;
    for (unsigned i = 0; i < kBufferCount; ++i) {
      io_uring_buf_ring_add(br, buffer(static_cast<std::uint16_t>(i)).data(), kBufferSize,
                            static_cast<unsigned short>(i), io_uring_buf_ring_mask(kBufferCount),
                            static_cast<int>(i));
    }
    io_uring_buf_ring_advance(br, static_cast<int>(kBufferCount));
  }

  mutable io_uring ring_{};
  int wakefd_ = -1;
  std::uint64_t wake_value_ = 0;
  std::size_t in_flight_ = 0;  // operations prepared for a Completion whose final CQE is due
  std::vector<PollSlot> slots_;
  std::vector<int> to_arm_;
  std::uint64_t round_ = 0;          // poll() calls so far
  std::vector<CqeCopy> batch_;       // this poll()'s CQEs (kept: no allocation per round)
  std::vector<CqeCopy> held_;        // taken off the ring by submit() since the last poll()
  std::vector<CqeCopy> held_round_;  // held_ while it is dispatched
  void* buffers_ = nullptr;          // buffer ring descriptors, then kBufferCount buffers
  io_uring_buf_ring* buf_ring_ = nullptr;
};

}  // namespace

std::unique_ptr<Reactor> make_uring_reactor() {
  return std::make_unique<UringReactor>();
}

}  // namespace asyncio::detail
