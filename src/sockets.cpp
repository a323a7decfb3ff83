// Sockets, addresses, name resolution and the sock_* awaiters (see asyncio/sockets.hpp).

#include "asyncio/sockets.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "asyncio/detail/task_base.hpp"
#include "asyncio/threads.hpp"

namespace asyncio {

namespace {
/// A C string ends at its first NUL: a host, port or path with one inside would silently name
/// something else ("127.0.0.1\0junk" is 127.0.0.1). CPython's message for text arguments.
void check_no_nul(std::string_view s) {
  if (s.find('\0') != std::string_view::npos) throw ValueError("embedded null character");
}
}  // namespace

// ---- SockAddr --------------------------------------------------------------------------------

SockAddr::SockAddr(const sockaddr* sa, socklen_t len) noexcept {
  if (len > sizeof storage_) len = sizeof storage_;
  std::memcpy(&storage_, sa, len);
  len_ = len;
}

SockAddr SockAddr::inet(std::string_view ip, std::uint16_t port) {
  check_no_nul(ip);
  std::string text(ip);
  sockaddr_in v4{};
  if (::inet_pton(AF_INET, text.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    return SockAddr(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
  }
  sockaddr_in6 v6{};
  std::string host = text;
  std::uint32_t scope = 0;
  if (auto pct = text.find('%'); pct != std::string::npos) {
    host = text.substr(0, pct);
    std::string zone = text.substr(pct + 1);
    scope = ::if_nametoindex(zone.c_str());
    if (scope == 0) {
      char* end = nullptr;
      unsigned long v = std::strtoul(zone.c_str(), &end, 10);
      if (end == zone.c_str() || *end != '\0') throw ValueError("invalid IPv6 zone: " + text);
      scope = static_cast<std::uint32_t>(v);
    }
  }
  if (::inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    v6.sin6_scope_id = scope;
    return SockAddr(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
  }
  throw ValueError("not a numeric IP address: '" + text + "'");
}

SockAddr SockAddr::unix_path(std::string_view path) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  const bool abstract = !path.empty() && path[0] == '\0';
  // A file name ends at its first NUL (the kernel would bind or connect to the truncated
  // path): CPython's os.stat() message. An abstract name is bytes; NULs are part of it.
  if (!abstract && path.find('\0') != std::string_view::npos) {
    throw ValueError("embedded null byte");
  }
  // A file name needs its terminator inside sun_path; an abstract name may fill it (CPython).
  if (path.size() > sizeof un.sun_path - (abstract ? 0 : 1)) {
    throw OSError(std::string("AF_UNIX path too long"));  // Python: no errno
  }
  std::memcpy(un.sun_path, path.data(), path.size());
  // Abstract names (leading NUL) have no terminator: the length counts exactly the name.
  auto len =
      static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  return SockAddr(reinterpret_cast<const sockaddr*>(&un), len);
}

std::string SockAddr::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET) {
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
                sizeof buf);
    return buf;
  }
  if (family() == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
    ::inet_ntop(AF_INET6, &v6->sin6_addr, buf, sizeof buf);
    std::string h = buf;
    if (v6->sin6_scope_id != 0) {
      char name[IF_NAMESIZE] = {};
      if (::if_indextoname(v6->sin6_scope_id, name)) {
        h += '%';
        h += name;
      } else {
        h += '%' + std::to_string(v6->sin6_scope_id);
      }
    }
    return h;
  }
  return {};
}

std::uint16_t SockAddr::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return 0;
}

std::string SockAddr::path() const {
  if (family() != AF_UNIX) return {};
  const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
  std::size_t n =
      len_ > offsetof(sockaddr_un, sun_path) ? len_ - offsetof(sockaddr_un, sun_path) : 0;
  if (n == 0) return {};
  if (un->sun_path[0] == '\0') return std::string(un->sun_path, n);  // abstract
  return std::string(un->sun_path, ::strnlen(un->sun_path, n));
}

std::string SockAddr::to_string() const {
  switch (family()) {
    case AF_INET:
      return "('" + host() + "', " + std::to_string(port()) + ")";
    case AF_INET6: {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
      return "('" + host() + "', " + std::to_string(port()) + ", " +
             std::to_string(ntohl(v6->sin6_flowinfo)) + ", " + std::to_string(v6->sin6_scope_id) +
             ")";
    }
    case AF_UNIX:
      return "'" + path() + "'";
    case AF_UNSPEC:
      return "None";
    default:
      return "<family " + std::to_string(family()) + ">";
  }
}

bool operator==(const SockAddr& a, const SockAddr& b) noexcept {
  return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
}

// ---- Socket ----------------------------------------------------------------------------------

Socket Socket::create(int family, int type, int protocol) {
  int fd = ::socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw_os_error(errno);
  return Socket(fd);
}

void Socket::close() noexcept {
  if (fd_ >= 0) ::close(std::exchange(fd_, -1));
}

void Socket::bind(const SockAddr& addr) const {
  if (::bind(fd_, addr.data(), addr.size()) != 0) throw_os_error(errno);
}

void Socket::listen(int backlog) const {
  if (::listen(fd_, backlog) != 0) throw_os_error(errno);
}

void Socket::setsockopt(int level, int option, int value) const {
  TransportSocket(fd_).setsockopt(level, option, value);
}
int Socket::getsockopt(int level, int option) const {
  return TransportSocket(fd_).getsockopt(level, option);
}

void Socket::setblocking(bool blocking) const {
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0) throw_os_error(errno);
  flags = blocking ? (flags & ~O_NONBLOCK) : (flags | O_NONBLOCK);
  if (::fcntl(fd_, F_SETFL, flags) < 0) throw_os_error(errno);
}

void Socket::shutdown(int how) const {
  if (::shutdown(fd_, how) != 0) throw_os_error(errno);
}

SockAddr Socket::getsockname() const {
  return TransportSocket(fd_).getsockname();
}
SockAddr Socket::getpeername() const {
  return TransportSocket(fd_).getpeername();
}
int Socket::family() const {
  return TransportSocket(fd_).family();
}
int Socket::type() const {
  return TransportSocket(fd_).type();
}

int TransportSocket::family() const {
  return getsockopt(SOL_SOCKET, SO_DOMAIN);
}
int TransportSocket::type() const {
  return getsockopt(SOL_SOCKET, SO_TYPE);
}

SockAddr TransportSocket::getsockname() const {
  SockAddr a;
  socklen_t len = SockAddr::capacity();
  if (::getsockname(fd_, a.data(), &len) != 0) throw_os_error(errno);
  a.set_size(len);
  return a;
}

SockAddr TransportSocket::getpeername() const {
  SockAddr a;
  socklen_t len = SockAddr::capacity();
  if (::getpeername(fd_, a.data(), &len) != 0) throw_os_error(errno);
  a.set_size(len);
  return a;
}

int TransportSocket::getsockopt(int level, int option) const {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd_, level, option, &value, &len) != 0) throw_os_error(errno);
  return value;
}

void TransportSocket::setsockopt(int level, int option, int value) const {
  if (::setsockopt(fd_, level, option, &value, sizeof value) != 0) throw_os_error(errno);
}

// ---- Name resolution -------------------------------------------------------------------------

namespace detail {

std::vector<AddrInfo> getaddrinfo_blocking(const std::string& host, const std::string& port,
                                           int family, int type, int protocol, int flags) {
  check_no_nul(host);
  check_no_nul(port);
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = type;
  hints.ai_protocol = protocol;
  hints.ai_flags = flags;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(),
                         port.empty() ? nullptr : port.c_str(), &hints, &res);
  if (rc != 0) {
    if (rc == EAI_SYSTEM) throw_os_error(errno);
    throw gaierror(rc);
  }
  std::vector<AddrInfo> out;
  for (addrinfo* p = res; p != nullptr; p = p->ai_next) {
    AddrInfo info;
    info.family = p->ai_family;
    info.type = p->ai_socktype;
    info.protocol = p->ai_protocol;
    if (p->ai_canonname) info.canonname = p->ai_canonname;
    info.addr = SockAddr(p->ai_addr, p->ai_addrlen);
    out.push_back(std::move(info));
  }
  ::freeaddrinfo(res);
  return out;
}

std::optional<AddrInfo> ipaddr_info(const std::string& host, const std::string& port, int family,
                                    int type, int protocol) {
  check_no_nul(host);
  check_no_nul(port);
  if (host.empty()) return std::nullopt;
  if (protocol != 0 && protocol != IPPROTO_TCP && protocol != IPPROTO_UDP) return std::nullopt;
  if (type == SOCK_STREAM) {
    protocol = IPPROTO_TCP;
  } else if (type == SOCK_DGRAM) {
    protocol = IPPROTO_UDP;
  } else {
    return std::nullopt;
  }
  unsigned long p = 0;
  if (!port.empty()) {
    char* end = nullptr;
    p = std::strtoul(port.c_str(), &end, 10);
    if (end == port.c_str() || *end != '\0' || p > 65535) return std::nullopt;  // a service name
  }
  if (host.find('%') != std::string::npos) return std::nullopt;
  const int afs[2] = {family == AF_UNSPEC ? AF_INET : family,
                      family == AF_UNSPEC ? AF_INET6 : AF_UNSPEC};
  for (int af : afs) {
    if (af == AF_UNSPEC) continue;
    unsigned char buf[sizeof(in6_addr)];
    if ((af == AF_INET || af == AF_INET6) && ::inet_pton(af, host.c_str(), buf) == 1) {
      AddrInfo info;
      info.family = af;
      info.type = type;
      info.protocol = protocol;
      info.addr = SockAddr::inet(host, static_cast<std::uint16_t>(p));
      return info;
    }
  }
  return std::nullopt;
}

}  // namespace detail

Coro<std::vector<AddrInfo>> getaddrinfo(std::string host, std::string port, int family, int type,
                                        int protocol, int flags) {
  check_no_nul(host);  // here, not in the worker thread: no thread hop for a refused name
  check_no_nul(port);
  co_return co_await to_thread(&detail::getaddrinfo_blocking, std::move(host), std::move(port),
                               family, type, protocol, flags);
}

Coro<std::vector<AddrInfo>> getaddrinfo(std::string host, std::uint16_t port, int family, int type,
                                        int protocol, int flags) {
  return getaddrinfo(std::move(host), std::to_string(port), family, type, protocol, flags);
}

namespace {
std::pair<std::string, std::string> getnameinfo_blocking(SockAddr addr, int flags) {
  char host[NI_MAXHOST] = {};
  char serv[NI_MAXSERV] = {};
  int rc = ::getnameinfo(addr.data(), addr.size(), host, sizeof host, serv, sizeof serv, flags);
  if (rc != 0) {
    if (rc == EAI_SYSTEM) throw_os_error(errno);
    throw gaierror(rc);
  }
  return {host, serv};
}
}  // namespace

Coro<std::pair<std::string, std::string>> getnameinfo(SockAddr addr, int flags) {
  co_return co_await to_thread(&getnameinfo_blocking, addr, flags);
}

// ---- SockOp ----------------------------------------------------------------------------------

namespace detail {

namespace {
bool would_block(int err) noexcept {
  return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}
}  // namespace

/// How sock_* awaiters share an fd's IoHandler slot (at most one reader and one writer).
struct SockOpRegistry {
  static void add(SockOp& op, const char* what) {
    EventLoop& loop = *op.loop_;
    IoHandler* h = LoopAccess::io_handler(loop, op.fd_);
    if (h == nullptr) {
      LoopAccess::watch_io(loop, op.fd_, &op, !op.writes_, op.writes_);
      op.primary_ = true;
      return;
    }
    auto* other = dynamic_cast<SockOp*>(h);
    if (other == nullptr) {
      throw RuntimeError("File descriptor " + std::to_string(op.fd_) + " is used by transport");
    }
    if (other->writes_ == op.writes_ || other->peer_ != nullptr) {
      throw RuntimeError(std::string(what) + "() called while another coroutine is already " +
                         (op.writes_ ? "writing to" : "reading from") + " fd " +
                         std::to_string(op.fd_));
    }
    LoopAccess::watch_io(loop, op.fd_, other, true, true);
    other->peer_ = &op;
    op.peer_ = other;
    op.primary_ = false;
  }

  static void rewatch(SockOp& survivor) noexcept {
    try {
      LoopAccess::watch_io(*survivor.loop_, survivor.fd_, &survivor, !survivor.writes_,
                           survivor.writes_);
      survivor.primary_ = true;
    } catch (...) {
      // The fd was closed behind our back; the survivor's next attempt reports it.
    }
  }

  static void remove(SockOp& op) noexcept {
    SockOp* peer = std::exchange(op.peer_, nullptr);
    if (peer) peer->peer_ = nullptr;
    if (op.primary_) {
      op.primary_ = false;
      if (peer) {
        rewatch(*peer);
      } else {
        try {
          LoopAccess::unwatch_io(*op.loop_, op.fd_);
        } catch (...) {
        }
      }
    } else if (peer) {
      rewatch(*peer);
    }
  }
};

SockOp::~SockOp() {
  if (state_ == State::Waiting) unregister();
}

void SockOp::unregister() noexcept {
  SockOpRegistry::remove(*this);
}

bool SockOp::try_now(const char* what) {
  EventLoop& loop = get_running_loop();
  if (LoopAccess::debug(loop)) {
    int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) == 0)
      throw ValueError("the socket must be non-blocking");
  }
  (void)what;
  if (attempt()) {
    state_ = State::Done;
    return true;
  }
  return false;
}

void SockOp::suspend(std::coroutine_handle<> h, const char* what) {
  TaskBase& task = current_task_for(what);
  task_ = &task;
  loop_ = &task.loop();
  what_ = what;
  SockOpRegistry::add(*this, what);
  state_ = State::Waiting;
  task.suspend(h, this);
}

void SockOp::ready() noexcept {
  if (state_ != State::Waiting) return;
  if (!attempt()) return;
  unregister();
  state_ = State::Done;
  task_->wake();
}

void SockOp::on_io(bool readable, bool writable) noexcept {
  SockOp* a = this;
  SockOp* b = peer_;
  bool run_a = a->writes_ ? writable : readable;
  bool run_b = b != nullptr && (b->writes_ ? writable : readable);
  if (run_a) a->ready();
  if (run_b) b->ready();
}

bool SockOp::cancel_awaited(const std::string& message) {
  if (state_ != State::Waiting) return false;  // done: the wake-up is queued already
  unregister();
  state_ = State::Cancelled;
  cancel_message_ = message;
  task_->wake();
  return true;
}

void SockOp::check_resume() {
  if (state_ == State::Cancelled) {
    task_->consume_must_cancel();  // the first cancellation's message wins (CPython)
    throw CancelledError(std::move(cancel_message_));
  }
  if (task_) task_->throw_if_must_cancel();
  if (err_ != 0) std::rethrow_exception(make_error());
}

std::exception_ptr SockOp::make_error() const {
  return make_os_error(err_);
}

// ---- The operations ----------------------------------------------------------------------------

bool SockRecvInto::attempt() noexcept {
  ssize_t n = ::recv(fd_, buf_.data(), buf_.size(), flags_);
  if (n >= 0) {
    n_ = static_cast<std::size_t>(n);
    return true;
  }
  if (would_block(errno)) return false;
  err_ = errno;
  return true;
}

bool SockRecv::attempt() noexcept {
  ssize_t n = ::recv(fd_, data_.data(), data_.size(), flags_);
  if (n >= 0) {
    data_.resize(static_cast<std::size_t>(n));
    return true;
  }
  if (would_block(errno)) return false;
  err_ = errno;
  return true;
}

bool SockSendAll::attempt() noexcept {
  while (sent_ < data_.size()) {
    ssize_t n = ::send(fd_, data_.data() + sent_, data_.size() - sent_, flags_ | MSG_NOSIGNAL);
    if (n < 0) {
      if (would_block(errno)) return false;
      err_ = errno;
      return true;
    }
    sent_ += static_cast<std::size_t>(n);
  }
  return true;
}

bool SockConnect::await_ready() {
  EventLoop& loop = get_running_loop();
  if (LoopAccess::debug(loop)) {
    int flags = ::fcntl(fd_, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) == 0)
      throw ValueError("the socket must be non-blocking");
  }
  started_ = true;
  if (::connect(fd_, addr_.data(), addr_.size()) == 0) return true;
  // EINTR: the connection goes on in the background (Python issue #23618).
  if (errno == EINPROGRESS || errno == EINTR) return false;
  err_ = errno;
  return true;
}

bool SockConnect::attempt() noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  if (err == 0) return true;
  if (err == EINPROGRESS || err == EINTR) return false;
  err_ = err;
  return true;
}

std::exception_ptr SockConnect::make_error() const {
  return make_os_error(err_, "Connect call failed " + addr_.to_string());
}

bool SockAccept::attempt() noexcept {
  socklen_t len = SockAddr::capacity();
  int fd = ::accept4(fd_, addr_.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd >= 0) {
    conn_ = Socket(fd);
    addr_.set_size(len);
    return true;
  }
  if (would_block(errno)) return false;
  err_ = errno;
  return true;
}

bool SockRecvFromInto::attempt() noexcept {
  socklen_t len = SockAddr::capacity();
  ssize_t n = ::recvfrom(fd_, buf_.data(), buf_.size(), flags_, addr_.data(), &len);
  if (n >= 0) {
    n_ = static_cast<std::size_t>(n);
    addr_.set_size(len);
    return true;
  }
  if (would_block(errno)) return false;
  err_ = errno;
  return true;
}

bool SockRecvFrom::attempt() noexcept {
  socklen_t len = SockAddr::capacity();
  ssize_t n = ::recvfrom(fd_, data_.data(), data_.size(), flags_, addr_.data(), &len);
  if (n >= 0) {
    data_.resize(static_cast<std::size_t>(n));
    addr_.set_size(len);
    return true;
  }
  if (would_block(errno)) return false;
  err_ = errno;
  return true;
}

bool SockSendTo::attempt() noexcept {
  ssize_t n = ::sendto(fd_, data_.data(), data_.size(), flags_ | MSG_NOSIGNAL,
                       addr_.empty() ? nullptr : addr_.data(), addr_.size());
  if (n >= 0) {
    n_ = static_cast<std::size_t>(n);
    return true;
  }
  if (would_block(errno)) return false;
  err_ = errno;
  return true;
}

}  // namespace detail

Coro<void> sock_connect(int fd, std::string host, std::uint16_t port) {
  int family = TransportSocket(fd).family();
  int type = TransportSocket(fd).type();
  std::string service = std::to_string(port);
  std::vector<AddrInfo> infos;
  if (auto info = detail::ipaddr_info(host, service, family, type, 0)) {
    infos.push_back(std::move(*info));
  } else {
    infos = co_await getaddrinfo(host, service, family, type);
  }
  if (infos.empty()) throw OSError(std::string("getaddrinfo() returned empty list"));
  co_await sock_connect(fd, infos.front().addr);
}

}  // namespace asyncio
