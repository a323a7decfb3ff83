// Reactor backend on Linux epoll, level-triggered (the semantics of Python's selectors), with
// an eventfd for cross-thread wakeups.

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <system_error>
#include <unordered_map>

#include "asyncio/net_errors.hpp"
#include "reactor.hpp"

namespace asyncio::detail {
namespace {

/// An asyncio::OSError (a std::system_error) of the most specific type, as Python's selectors
/// raise OSError: e.g. add_reader() of a closed fd is OSError(EBADF).
[[noreturn]] void throw_errno(const std::string& what) {
  (void)what;
  throw_os_error(errno);
}

class EpollReactor final : public Reactor {
 public:
  EpollReactor() {
    epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) throw_errno("epoll_create1");
    wakefd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakefd_ < 0) {
      int saved = errno;
      ::close(epfd_);
      errno = saved;
      throw_errno("eventfd");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wakefd_;
    if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) < 0) {
      int saved = errno;
      ::close(wakefd_);
      ::close(epfd_);
      errno = saved;
      throw_errno("epoll_ctl(ADD eventfd)");
    }
    events_.resize(256);
  }

  ~EpollReactor() override {
    ::close(wakefd_);
    ::close(epfd_);
  }

  void watch(int fd, bool readable, bool writable) override {
    if (!readable && !writable) {
      unwatch(fd);
      return;
    }
    epoll_event ev{};
    ev.events = (readable ? EPOLLIN : 0u) | (writable ? EPOLLOUT : 0u);
    ev.data.fd = fd;
    auto it = registered_.find(fd);
    int op = it == registered_.end() ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (::epoll_ctl(epfd_, op, fd, &ev) < 0) {
      if (op == EPOLL_CTL_MOD && errno == ENOENT) {
        // The fd was closed and reused behind our back: register it afresh.
        if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0) return;
      }
      throw_errno("cannot watch fd " + std::to_string(fd) + " with epoll");
    }
    registered_.insert_or_assign(fd, true);
  }

  void unwatch(int fd) noexcept override {
    if (registered_.erase(fd) == 0) return;
    // Fails harmlessly (EBADF/ENOENT) when the fd was already closed.
    ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  }

  void poll(std::int64_t timeout_ns, std::vector<Ready>& out) override {
    int timeout_ms;
    if (timeout_ns < 0) {
      timeout_ms = -1;
    } else {
      // Round up: waking before the deadline would only spin the loop.
      // Written so that no timeout_ns, however large, can overflow.
      std::int64_t ms = timeout_ns / 1'000'000 + (timeout_ns % 1'000'000 != 0 ? 1 : 0);
      timeout_ms = ms > 86'400'000 ? 86'400'000 : static_cast<int>(ms);
    }
    int n = ::epoll_wait(epfd_, events_.data(), static_cast<int>(events_.size()), timeout_ms);
    if (n < 0) {
      if (errno == EINTR) return;
      throw_errno("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      const epoll_event& ev = events_[static_cast<std::size_t>(i)];
      if (ev.data.fd == wakefd_) {
        std::uint64_t value;
        while (::read(wakefd_, &value, sizeof value) > 0) {
        }
        continue;
      }
      bool failed = (ev.events & (EPOLLERR | EPOLLHUP)) != 0;
      out.push_back(Ready{ev.data.fd, failed || (ev.events & EPOLLIN) != 0,
                          failed || (ev.events & EPOLLOUT) != 0});
    }
    if (static_cast<std::size_t>(n) == events_.size()) events_.resize(events_.size() * 2);
  }

  const char* name() const noexcept override { return "epoll"; }

  void wakeup() noexcept override {
    std::uint64_t one = 1;
    // EAGAIN means the counter is saturated: a wakeup is pending anyway.
    [[maybe_unused]] ssize_t r = ::write(wakefd_, &one, sizeof one);
  }

 private:
  int epfd_ = -1;
  int wakefd_ = -1;
  std::vector<epoll_event> events_;
  std::unordered_map<int, bool> registered_;
};

}  // namespace

std::unique_ptr<Reactor> make_epoll_reactor() {
  return std::make_unique<EpollReactor>();
}

}  // namespace asyncio::detail
