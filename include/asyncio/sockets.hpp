// asyncio/sockets.hpp — sockets and the loop's low-level socket operations (Python: the
// `socket` objects asyncio works with, trsock.TransportSocket, loop.getaddrinfo/getnameinfo
// and loop.sock_recv/sock_recv_into/sock_sendall/sock_connect/sock_accept/sock_recvfrom/
// sock_sendto).
//
//   asyncio::Socket s = asyncio::Socket::create(AF_INET, SOCK_STREAM);   // non-blocking
//   co_await asyncio::sock_connect(s.fd(), asyncio::SockAddr::inet("127.0.0.1", 8080));
//   co_await asyncio::sock_sendall(s.fd(), "ping");
//   std::string reply = co_await asyncio::sock_recv(s.fd(), 1024);      // "" at EOF
//
// The sock_* operations are free functions on the running loop taking the fd (Python has them
// as loop methods taking a socket object). The fd must be non-blocking (Socket::create and
// sock_accept make sure of it; in debug mode a blocking fd is rejected with ValueError, as
// Python does). Like Python, each first tries the system call at once and only waits for
// readiness if it would block; waiting costs no allocation (the awaiter lives in the
// coroutine frame and is notified directly by the loop's poll phase). Each is cancellable: a
// cancelled operation stops waiting and throws CancelledError, having transferred nothing
// (a sock_sendall cancelled after a partial send has sent a prefix, as in Python).
//
// One reader and one writer may wait on an fd at the same time (e.g. sock_recv in one task,
// sock_sendall in another). A second concurrent reader (or writer) of the same fd throws
// RuntimeError, as does using an fd that a transport owns (Python: _ensure_fd_no_transport).
//
// Errors are thrown as the OSError subclasses of asyncio/net_errors.hpp. Sending never raises
// SIGPIPE (MSG_NOSIGNAL): a write to a closed connection throws BrokenPipeError.
#pragma once

#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cassert>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "asyncio/coroutines.hpp"
#include "asyncio/detail/future_base.hpp"
#include "asyncio/detail/loop_access.hpp"
#include "asyncio/events.hpp"
#include "asyncio/net_errors.hpp"

namespace asyncio {

// ---- Addresses -------------------------------------------------------------------------------

/// A socket address of any family (Python: the address tuples ('127.0.0.1', 80),
/// ('::1', 80, flowinfo, scope_id), or a path string for AF_UNIX).
class SockAddr {
 public:
  SockAddr() noexcept = default;
  /// Copies `len` bytes of `sa` (truncated to sizeof(sockaddr_storage)).
  SockAddr(const sockaddr* sa, socklen_t len) noexcept;

  /// A numeric IPv4 or IPv6 address; throws ValueError if `ip` is not one (no DNS here: use
  /// getaddrinfo() for names), ValueError("embedded null character") if it holds a NUL. IPv6 may
  /// carry a scope ("fe80::1%eth0").
  /// Python: the address tuple (ip, port).
  static SockAddr inet(std::string_view ip, std::uint16_t port);
  /// An AF_UNIX address. A leading '\0' makes a Linux abstract socket (a name of bytes, NULs
  /// included, up to 108). A file path may not hold a NUL (ValueError "embedded null byte":
  /// the kernel would use the truncated path) and has at most 107 bytes; longer is
  /// OSError(ENAMETOOLONG, "AF_UNIX path too long"), as Python.
  /// Python: an AF_UNIX path string.
  static SockAddr unix_path(std::string_view path);

  /// AF_INET, AF_INET6, AF_UNIX, ... ; AF_UNSPEC when empty.
  /// C++ only (Python infers the family from the tuple's shape).
  int family() const noexcept { return len_ ? storage_.ss_family : AF_UNSPEC; }
  /// Whether no address is held (Python: None).
  bool empty() const noexcept { return len_ == 0; }
  /// The numeric host ("127.0.0.1", "::1"); empty for other families.
  /// Python: addr[0].
  std::string host() const;
  /// The port (AF_INET/AF_INET6), else 0.
  /// Python: addr[1].
  std::uint16_t port() const noexcept;
  /// The path of an AF_UNIX address (may be empty for an unnamed socket).
  /// Python: an AF_UNIX address string.
  std::string path() const;
  /// Python's repr of the address: "('127.0.0.1', 8080)", "('::1', 8080, 0, 0)" or
  /// "'/tmp/sock'".
  std::string to_string() const;

  /// The raw address, for system calls.
  /// C++ only (no Python counterpart).
  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  /// The raw address, writable (for accept()/recvfrom(); then call set_size()).
  /// C++ only (no Python counterpart).
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  /// The address length in bytes.
  /// C++ only (no Python counterpart).
  socklen_t size() const noexcept { return len_; }
  /// For filling by accept()/recvfrom(): sets the length the kernel reported.
  /// C++ only (no Python counterpart).
  void set_size(socklen_t len) noexcept { len_ = len; }
  /// The largest address length (sizeof(sockaddr_storage)).
  /// C++ only (no Python counterpart).
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }

  /// Same family and same bytes.
  friend bool operator==(const SockAddr& a, const SockAddr& b) noexcept;

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

// ---- Sockets ---------------------------------------------------------------------------------

/// An owned socket fd, closed by the destructor (Python: socket.socket). Move-only.
class Socket {
 public:
  Socket() noexcept = default;
  /// Adopts `fd` (which must be open); it is closed by this object.
  explicit Socket(int fd) noexcept : fd_(fd) {}
  /// Takes over `o`'s fd; `o` is left invalid.
  Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  /// Closes this socket's fd, then takes over `o`'s.
  Socket& operator=(Socket&& o) noexcept {
    if (this != &o) {
      close();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  ~Socket() { close(); }

  /// A new non-blocking, close-on-exec socket. Throws OSError.
  /// Python: socket.socket(family, type, proto) + setblocking(False).
  static Socket create(int family, int type, int protocol = 0);

  /// The fd, -1 when invalid.
  /// Python: socket.fileno().
  int fd() const noexcept { return fd_; }
  /// The fd (Python: socket.fileno()).
  int fileno() const noexcept { return fd_; }
  /// Whether an fd is owned.
  /// Python: socket.fileno() != -1.
  bool valid() const noexcept { return fd_ >= 0; }
  /// valid().
  explicit operator bool() const noexcept { return valid(); }
  /// Gives up ownership; returns the fd.
  /// Python: socket.detach().
  int release() noexcept { return std::exchange(fd_, -1); }
  /// Closes the fd (idempotent).
  /// Python: socket.close().
  void close() noexcept;

  // Thin wrappers of the system calls, throwing OSError.
  void bind(const SockAddr& addr) const;                    ///< Python: socket.bind().
  void listen(int backlog = 100) const;                     ///< Python: socket.listen().
  void setsockopt(int level, int option, int value) const;  ///< Python: socket.setsockopt().
  int getsockopt(int level, int option) const;              ///< Python: socket.getsockopt().
  void setblocking(bool blocking) const;  ///< Sets O_NONBLOCK (Python: socket.setblocking()).
  void shutdown(int how) const;           ///< SHUT_RD/WR/RDWR (Python: socket.shutdown()).
  SockAddr getsockname() const;           ///< Python: socket.getsockname().
  SockAddr getpeername() const;           ///< Python: socket.getpeername().
  int family() const;                     ///< SO_DOMAIN (Python: socket.family).
  int type() const;                       ///< SO_TYPE (Python: socket.type).

 private:
  int fd_ = -1;
};

/// A pair of connected sockets, both non-blocking and close-on-exec (Python:
/// socket.socketpair(family=AF_UNIX, type=SOCK_STREAM, proto=0)). Throws OSError.
/// Deliberate difference: Python's pair is blocking (asyncio sets non-blocking when it takes a
/// socket); here it is ready for the sock_* operations at once, like Socket::create().
std::pair<Socket, Socket> socketpair(int family = AF_UNIX, int type = SOCK_STREAM, int proto = 0);

/// Python's repr of a socket: "<socket.socket fd=5, family=2, type=1, proto=0,
/// laddr=('127.0.0.1', 8080), raddr=('127.0.0.1', 50000)>"; "<socket.socket [closed] fd=-1,
/// family=0, type=0, proto=0>" for an invalid one (Python still knows the closed socket's
/// family and type; an fd of -1 does not). `proto` is 0 for the family's default protocol
/// (Python shows the argument given to socket(), which the fd does not remember).
std::string socket_repr(const Socket& sock);

/// A non-owning view of a socket that a transport or server owns (Python:
/// trsock.TransportSocket): inspect it and set options, but do not close it or do I/O on it.
class TransportSocket {
 public:
  TransportSocket() noexcept = default;
  /// A view of `fd`, which stays owned by its transport or server.
  explicit TransportSocket(int fd) noexcept : fd_(fd) {}
  int fileno() const noexcept { return fd_; }               ///< Python: TransportSocket.fileno().
  int family() const;                                       ///< Python: TransportSocket.family.
  int type() const;                                         ///< Python: TransportSocket.type.
  SockAddr getsockname() const;                             ///< Python: getsockname().
  SockAddr getpeername() const;                             ///< Python: getpeername().
  int getsockopt(int level, int option) const;              ///< Python: getsockopt().
  void setsockopt(int level, int option, int value) const;  ///< Python: setsockopt().

 private:
  int fd_ = -1;
};

// ---- Name resolution -------------------------------------------------------------------------

/// One result of getaddrinfo() (Python: the tuple (family, type, proto, canonname, sockaddr)).
struct AddrInfo {
  int family = AF_UNSPEC;  ///< AF_INET, AF_INET6, ...
  int type = 0;            ///< SOCK_STREAM, SOCK_DGRAM, ...
  int protocol = 0;        ///< IPPROTO_TCP, IPPROTO_UDP, ...
  std::string canonname;   ///< The canonical name (only with AI_CANONNAME).
  SockAddr addr;           ///< The address to connect or bind to.
};

/// Resolves `host` and `port` (Python: loop.getaddrinfo). An empty `host` means None (the
/// wildcard address with AI_PASSIVE, loopback without); an empty `port` means None. The
/// blocking libc call runs on the loop's default executor (to_thread), except for numeric
/// addresses, which are converted at once (Python's _ipaddr_info shortcut). Throws gaierror
/// naming the host. Cancelling stops the wait; the lookup thread's result is dropped.
/// A NUL in `host` or `port` is ValueError("embedded null character") (Python's
/// loop.getaddrinfo silently resolves what comes before the NUL).
Coro<std::vector<AddrInfo>> getaddrinfo(std::string host, std::string port, int family = 0,
                                        int type = 0, int protocol = 0, int flags = 0);
/// getaddrinfo() with a numeric port (Python: loop.getaddrinfo(host, port)).
Coro<std::vector<AddrInfo>> getaddrinfo(std::string host, std::uint16_t port, int family = 0,
                                        int type = 0, int protocol = 0, int flags = 0);

/// Python: loop.getnameinfo(sockaddr, flags) → (host, port). Runs on the default executor.
Coro<std::pair<std::string, std::string>> getnameinfo(SockAddr addr, int flags = 0);

namespace detail {
/// The blocking resolution, also used directly when the result is known to be numeric.
std::vector<AddrInfo> getaddrinfo_blocking(const std::string& host, const std::string& port,
                                           int family, int type, int protocol, int flags);
/// Python's base_events._ipaddr_info: a numeric host and port resolve without libc.
std::optional<AddrInfo> ipaddr_info(const std::string& host, const std::string& port, int family,
                                    int type, int protocol);
}  // namespace detail

// ---- sock_* operations -----------------------------------------------------------------------

namespace detail {

/// The base of the sock_* awaiters: a leaf awaiter (docs/internals.md) that registers itself
/// as the fd's IoHandler while it waits. Two of them (one reading, one writing) can share an
/// fd: the first registered dispatches readiness to its `peer_`.
class SockOp : public IoHandler, public Suspension {
 public:
  SockOp(int fd, bool writes) noexcept : fd_(fd), writes_(writes) {}
  /// Movable until awaited (so that wait_for(), gather(), create_task()... can take it):
  /// nothing is registered yet. Pinned once await_ready ran (it may already hold a result).
  SockOp(SockOp&& o) noexcept : IoHandler(), Suspension(), fd_(o.fd_), writes_(o.writes_) {
    assert(o.state_ == State::Idle && o.task_ == nullptr && o.err_ == 0 &&
           "awaiter moved after co_await");
  }
  SockOp& operator=(SockOp&&) = delete;

  void on_io(bool readable, bool writable) noexcept override;
  bool cancel_awaited(const std::string& message) override;
  /// Call graphs: the operation and its fd, e.g. "sock_recv fd=7".
  std::string describe_wait() const override {
    return std::string(what_ ? what_ : "sock") + " fd=" + std::to_string(fd_);
  }

 protected:
  ~SockOp();
  /// Tries the operation; returns true when it finished (with a result, or with `err_` set).
  virtual bool attempt() noexcept = 0;

  /// await_ready() of the derived awaiters: checks the fd, tries once.
  bool try_now(const char* what);
  void suspend(std::coroutine_handle<> h, const char* what);
  /// Throws CancelledError / the pending cancellation / the OS error, in that order.
  void check_resume();
  /// The exception for err_; derived classes may override the message.
  virtual std::exception_ptr make_error() const;

  int fd_;
  int err_ = 0;

 private:
  friend struct SockOpRegistry;
  void ready() noexcept;
  void unregister() noexcept;

  enum class State : std::uint8_t { Idle, Waiting, Done, Cancelled };
  bool writes_;
  State state_ = State::Idle;
  bool primary_ = false;  // registered as the fd's IoHandler (else reached through peer_)
  SockOp* peer_ = nullptr;
  TaskBase* task_ = nullptr;
  EventLoop* loop_ = nullptr;
  std::string cancel_message_;
  const char* what_ = nullptr;  // the operation's name, for call graphs (set when suspending)
};

class [[nodiscard]] SockRecvInto final : public SockOp {
 public:
  SockRecvInto(int fd, std::span<std::byte> buf, int flags) noexcept
      : SockOp(fd, false), buf_(buf), flags_(flags) {}
  bool await_ready() { return try_now("sock_recv_into"); }
  void await_suspend(std::coroutine_handle<> h) { suspend(h, "sock_recv_into"); }
  std::size_t await_resume() {
    check_resume();
    return n_;
  }

 private:
  bool attempt() noexcept override;
  std::span<std::byte> buf_;
  int flags_;
  std::size_t n_ = 0;
};

class [[nodiscard]] SockRecv final : public SockOp {
 public:
  SockRecv(int fd, std::size_t n, int flags) : SockOp(fd, false), flags_(flags) { data_.resize(n); }
  bool await_ready() { return try_now("sock_recv"); }
  void await_suspend(std::coroutine_handle<> h) { suspend(h, "sock_recv"); }
  std::string await_resume() {
    check_resume();
    return std::move(data_);
  }

 private:
  bool attempt() noexcept override;
  std::string data_;
  int flags_;
};

class [[nodiscard]] SockSendAll final : public SockOp {
 public:
  SockSendAll(int fd, std::span<const std::byte> data, int flags) noexcept
      : SockOp(fd, true), data_(data), flags_(flags) {}
  bool await_ready() { return try_now("sock_sendall"); }
  void await_suspend(std::coroutine_handle<> h) { suspend(h, "sock_sendall"); }
  void await_resume() { check_resume(); }

 private:
  bool attempt() noexcept override;
  std::span<const std::byte> data_;
  std::size_t sent_ = 0;
  int flags_;
};

class [[nodiscard]] SockConnect final : public SockOp {
 public:
  SockConnect(int fd, const SockAddr& addr) noexcept : SockOp(fd, true), addr_(addr) {}
  bool await_ready();
  void await_suspend(std::coroutine_handle<> h) { suspend(h, "sock_connect"); }
  void await_resume() { check_resume(); }

 private:
  bool attempt() noexcept override;
  std::exception_ptr make_error() const override;
  SockAddr addr_;
  bool started_ = false;
};

class [[nodiscard]] SockAccept final : public SockOp {
 public:
  explicit SockAccept(int fd) noexcept : SockOp(fd, false) {}
  bool await_ready() { return try_now("sock_accept"); }
  void await_suspend(std::coroutine_handle<> h) { suspend(h, "sock_accept"); }
  std::pair<Socket, SockAddr> await_resume() {
    check_resume();
    return {std::move(conn_), addr_};
  }

 private:
  bool attempt() noexcept override;
  Socket conn_;
  SockAddr addr_;
};

class [[nodiscard]] SockRecvFromInto final : public SockOp {
 public:
  SockRecvFromInto(int fd, std::span<std::byte> buf, int flags) noexcept
      : SockOp(fd, false), buf_(buf), flags_(flags) {}
  bool await_ready() { return try_now("sock_recvfrom_into"); }
  void await_suspend(std::coroutine_handle<> h) { suspend(h, "sock_recvfrom_into"); }
  std::pair<std::size_t, SockAddr> await_resume() {
    check_resume();
    return {n_, addr_};
  }

 private:
  bool attempt() noexcept override;
  std::span<std::byte> buf_;
  int flags_;
  std::size_t n_ = 0;
  SockAddr addr_;
};

class [[nodiscard]] SockRecvFrom final : public SockOp {
 public:
  SockRecvFrom(int fd, std::size_t n, int flags) : SockOp(fd, false), flags_(flags) {
    data_.resize(n);
  }
  bool await_ready() { return try_now("sock_recvfrom"); }
  void await_suspend(std::coroutine_handle<> h) { suspend(h, "sock_recvfrom"); }
  std::pair<std::string, SockAddr> await_resume() {
    check_resume();
    return {std::move(data_), addr_};
  }

 private:
  bool attempt() noexcept override;
  std::string data_;
  int flags_;
  SockAddr addr_;
};

class [[nodiscard]] SockSendTo final : public SockOp {
 public:
  SockSendTo(int fd, std::span<const std::byte> data, const SockAddr& addr, int flags) noexcept
      : SockOp(fd, true), data_(data), addr_(addr), flags_(flags) {}
  bool await_ready() { return try_now("sock_sendto"); }
  void await_suspend(std::coroutine_handle<> h) { suspend(h, "sock_sendto"); }
  std::size_t await_resume() {
    check_resume();
    return n_;
  }

 private:
  bool attempt() noexcept override;
  std::span<const std::byte> data_;
  SockAddr addr_;
  int flags_;
  std::size_t n_ = 0;
};

inline std::span<const std::byte> as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

}  // namespace detail

/// Receives up to `n` bytes (Python: loop.sock_recv). Returns "" at EOF.
inline detail::SockRecv sock_recv(int fd, std::size_t n, int flags = 0) {
  return detail::SockRecv(fd, n, flags);
}
/// Receives into `buf`; returns the byte count, 0 at EOF (Python: loop.sock_recv_into).
/// `buf` must stay valid until the operation completes.
inline detail::SockRecvInto sock_recv_into(int fd, std::span<std::byte> buf,
                                           int flags = 0) noexcept {
  return detail::SockRecvInto(fd, buf, flags);
}
/// Sends all of `data` (Python: loop.sock_sendall). `data` must stay valid until the
/// operation completes (a temporary in the co_await expression is fine).
inline detail::SockSendAll sock_sendall(int fd, std::span<const std::byte> data,
                                        int flags = 0) noexcept {
  return detail::SockSendAll(fd, data, flags);
}
/// sock_sendall() of the bytes of `data` (Python: loop.sock_sendall).
inline detail::SockSendAll sock_sendall(int fd, std::string_view data, int flags = 0) noexcept {
  return detail::SockSendAll(fd, detail::as_bytes(data), flags);
}
/// Connects to a resolved address (Python: loop.sock_connect). Throws ConnectionRefusedError
/// & co. with the message "Connect call failed ('127.0.0.1', 1)".
inline detail::SockConnect sock_connect(int fd, const SockAddr& addr) noexcept {
  return detail::SockConnect(fd, addr);
}
/// Resolves `host` first (numeric hosts without a thread hop), then connects to the first
/// address of the socket's family (Python: sock_connect with an unresolved address).
Coro<void> sock_connect(int fd, std::string host, std::uint16_t port);
/// Accepts a connection: the new socket (non-blocking, close-on-exec) and the peer address
/// (Python: loop.sock_accept).
inline detail::SockAccept sock_accept(int fd) noexcept {
  return detail::SockAccept(fd);
}
/// Datagram receive of up to `n` bytes with the sender's address (Python: loop.sock_recvfrom).
inline detail::SockRecvFrom sock_recvfrom(int fd, std::size_t n, int flags = 0) {
  return detail::SockRecvFrom(fd, n, flags);
}
/// Datagram receive into `buf`: the byte count and the sender's address (Python:
/// loop.sock_recvfrom_into).
inline detail::SockRecvFromInto sock_recvfrom_into(int fd, std::span<std::byte> buf,
                                                   int flags = 0) noexcept {
  return detail::SockRecvFromInto(fd, buf, flags);
}
/// Sends one datagram to `addr`; returns the bytes sent (Python: loop.sock_sendto).
inline detail::SockSendTo sock_sendto(int fd, std::span<const std::byte> data, const SockAddr& addr,
                                      int flags = 0) noexcept {
  return detail::SockSendTo(fd, data, addr, flags);
}
/// sock_sendto() of the bytes of `data` (Python: loop.sock_sendto).
inline detail::SockSendTo sock_sendto(int fd, std::string_view data, const SockAddr& addr,
                                      int flags = 0) noexcept {
  return detail::SockSendTo(fd, detail::as_bytes(data), addr, flags);
}

}  // namespace asyncio
