// asyncio/net.hpp — connections and servers (Python: loop.create_connection,
// loop.create_server, asyncio.Server, loop.create_unix_connection/create_unix_server,
// loop.create_datagram_endpoint, loop.start_tls).
//
//   struct Echo : asyncio::Protocol {
//     asyncio::Transport* t = nullptr;
//     void connection_made(asyncio::Transport& tr) override { t = &tr; }
//     void data_received(std::span<const std::byte> d) override { t->write(d); }
//   };
//   asyncio::Server server = co_await asyncio::create_server(
//       [] { return std::make_shared<Echo>(); }, "127.0.0.1", 8888);
//   co_await server.serve_forever();
//
// Python's keyword arguments become option structs (designated initializers read like
// keywords: `{.backlog = 1000, .reuse_port = true}`). Python's `None` host is the empty
// string. Protocol factories are callables returning std::shared_ptr<P> with P derived from
// Protocol (or DatagramProtocol); create_connection() returns the transport and the P.
//
// Errors: ConnectionRefusedError & co. (net_errors.hpp) from connecting, gaierror from name
// resolution, OSError from bind ("error while attempting to bind on address ...: address
// already in use"), SSLCertVerificationError / SSLError from TLS handshakes,
// ConnectionAbortedError when the TLS handshake times out. Every fd opened on a failing path
// is closed before the exception leaves.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "asyncio/coroutines.hpp"
#include "asyncio/detail/immediate.hpp"
#include "asyncio/events.hpp"
#include "asyncio/protocols.hpp"
#include "asyncio/sockets.hpp"
#include "asyncio/transports.hpp"

namespace asyncio {

class SSLContext;  // asyncio/ssl.hpp

/// Makes the protocol of each new connection (Python: protocol_factory).
using ProtocolFactory = std::function<std::shared_ptr<Protocol>()>;
/// Makes the protocol of a datagram endpoint (Python: protocol_factory).
using DatagramProtocolFactory = std::function<std::shared_ptr<DatagramProtocol>()>;

/// A non-owning reference to a shared SSLContext, for the option structs below. Converts
/// from `std::shared_ptr<SSLContext>`; the library takes its own reference when the call is
/// made (the context must be owned by a std::shared_ptr, e.g. from std::make_shared).
class SSLContextRef {
 public:
  SSLContextRef() noexcept = default;
  /// No TLS (Python: ssl=None).
  SSLContextRef(std::nullptr_t) noexcept {}
  /// Refers to `ctx` (Python: ssl=context).
  SSLContextRef(const std::shared_ptr<SSLContext>& ctx) noexcept : ctx_(ctx.get()) {}
  /// The context, or nullptr.
  /// C++ only (no Python counterpart).
  SSLContext* get() const noexcept { return ctx_; }
  /// Whether a context is set.
  explicit operator bool() const noexcept { return ctx_ != nullptr; }
  /// The owning pointer (throws std::bad_weak_ptr if the context is not shared-owned).
  /// C++ only (no Python counterpart).
  std::shared_ptr<SSLContext> lock() const;

 private:
  SSLContext* ctx_ = nullptr;
};

/// A host and port (Python: the (host, port) tuple), as a view.
using HostPort = std::pair<std::string_view, std::uint16_t>;

// The option structs are aggregates for designated initializers, and deliberately hold only
// trivially destructible members (views, SSLContextRef): GCC 12 destroys aggregate
// temporaries twice when they appear inside a co_await expression, which would be a double
// free with std::string or std::shared_ptr members. Strings are views: they must stay valid
// for the duration of the call expression (the library copies them when the call is made).

/// Python: create_connection()'s keyword arguments.
struct ConnectionOptions {
  /// TLS when set (Python: ssl=context). Use SSLContext::create_default_context() for a
  /// verifying client context.
  SSLContextRef ssl{};
  int family = AF_UNSPEC;  ///< AF_INET/AF_INET6 to restrict name resolution (Python: family=)
  int proto = 0;           ///< protocol for getaddrinfo (Python: proto=)
  int flags = 0;           ///< getaddrinfo flags (e.g. AI_NUMERICHOST: never touch DNS)
  /// Bind the local end first (Python: local_addr=(host, port)).
  std::optional<HostPort> local_addr{};
  /// The name the certificate must match; defaults to the host (TLS only).
  std::optional<std::string_view> server_hostname{};
  std::optional<Duration> ssl_handshake_timeout{};  ///< default 60 s (TLS only)
  std::optional<Duration> ssl_shutdown_timeout{};   ///< default 30 s (TLS only)
  /// When every address fails: true throws an ExceptionGroup of all errors (Python 3.12).
  bool all_errors = false;
  /// Happy Eyeballs (RFC 8305; Python: happy_eyeballs_delay=, 0.25 s recommended): start
  /// the next address's attempt when the previous one fails or after this delay, whichever
  /// comes first, while earlier attempts keep going; the first connection wins and the
  /// others are cancelled and closed. Unset: one address after the other.
  std::optional<Duration> happy_eyeballs_delay{};
  /// Reorder the addresses by family, alternating AF_INET6/AF_INET (Python: interleave=,
  /// the count of the first family's addresses to try first). Unset: 1 with
  /// happy_eyeballs_delay, else 0 (no reordering).
  std::optional<int> interleave{};
};

/// Python: create_server()'s keyword arguments.
struct ServerOptions {
  int family = AF_UNSPEC;  ///< restricts the addresses bound (Python: family=)
  int flags = AI_PASSIVE;  ///< getaddrinfo flags (Python: flags=)
  int backlog = 100;       ///< listen() backlog (Python: backlog=)
  SSLContextRef ssl{};     ///< TLS server context when set (Python: ssl=)
  /// SO_REUSEADDR; defaults to true on POSIX, as in Python.
  std::optional<bool> reuse_address{};
  bool reuse_port = false;                          ///< SO_REUSEPORT
  std::optional<Duration> ssl_handshake_timeout{};  ///< default 60 s (TLS only)
  std::optional<Duration> ssl_shutdown_timeout{};   ///< default 30 s (TLS only)
  /// Start accepting at once (Python: start_serving=True).
  bool start_serving = true;
};

/// Python: create_unix_connection()'s keyword arguments.
struct UnixConnectionOptions {
  SSLContextRef ssl{};                                ///< TLS when set (Python: ssl=)
  std::optional<std::string_view> server_hostname{};  ///< required with ssl (no host to default to)
  std::optional<Duration> ssl_handshake_timeout{};    ///< default 60 s (TLS only)
  std::optional<Duration> ssl_shutdown_timeout{};     ///< default 30 s (TLS only)
};

/// Python: create_unix_server()'s keyword arguments.
struct UnixServerOptions {
  int backlog = 100;                                ///< listen() backlog (Python: backlog=)
  SSLContextRef ssl{};                              ///< TLS server context when set (Python: ssl=)
  std::optional<Duration> ssl_handshake_timeout{};  ///< default 60 s (TLS only)
  std::optional<Duration> ssl_shutdown_timeout{};   ///< default 30 s (TLS only)
  bool start_serving = true;  ///< start accepting at once (Python: start_serving=True)
};

/// Python: create_datagram_endpoint()'s keyword arguments.
struct DatagramOptions {
  std::optional<HostPort> local_addr{};   ///< bind to this address (Python: local_addr=)
  std::optional<HostPort> remote_addr{};  ///< connect to this address (Python: remote_addr=)
  int family = AF_UNSPEC;                 ///< address family (Python: family=)
  int proto = 0;                          ///< protocol for getaddrinfo (Python: proto=)
  int flags = 0;                          ///< getaddrinfo flags (Python: flags=)
  bool reuse_port = false;                ///< SO_REUSEPORT (Python: reuse_port=)
  bool allow_broadcast = false;           ///< SO_BROADCAST (Python: allow_broadcast=)
};

namespace detail {
/// What the option structs become once the call is made: owned copies.
struct TlsParams {
  std::shared_ptr<SSLContext> ssl;
  std::optional<std::string> server_hostname;
  std::optional<Duration> handshake_timeout;
  std::optional<Duration> shutdown_timeout;
};
struct OwnedConnectionOptions {
  TlsParams tls;
  int family = AF_UNSPEC;
  int proto = 0;
  int flags = 0;
  std::optional<std::pair<std::string, std::uint16_t>> local_addr;
  bool all_errors = false;
  std::optional<Duration> happy_eyeballs_delay;
  std::optional<int> interleave;
};
struct OwnedDatagramOptions {
  std::optional<std::pair<std::string, std::uint16_t>> local_addr;
  std::optional<std::pair<std::string, std::uint16_t>> remote_addr;
  int family = AF_UNSPEC;
  int proto = 0;
  int flags = 0;
  bool reuse_port = false;
  bool allow_broadcast = false;
};
OwnedConnectionOptions own(const ConnectionOptions& o);
TlsParams own(const UnixConnectionOptions& o);
OwnedDatagramOptions own(const DatagramOptions& o);
std::shared_ptr<SSLContext> own(SSLContextRef ref);
}  // namespace detail

namespace detail {
class ServerImpl;
}  // namespace detail

/// A listening server (Python: asyncio.Server). A handle: copies refer to the same server.
/// While serving, the loop keeps the server alive even if every handle is dropped.
class Server {
 public:
  Server() noexcept = default;
  /// Internal: wraps the implementation (create_server() and friends make servers).
  explicit Server(std::shared_ptr<detail::ServerImpl> impl) noexcept : impl_(std::move(impl)) {}

  /// The loop the server runs on (Python: Server.get_loop()).
  EventLoop& get_loop() const;
  /// Whether it accepts connections (Python: Server.is_serving()).
  bool is_serving() const noexcept;
  /// The listening sockets; empty once closed (Python: server.sockets).
  std::vector<TransportSocket> sockets() const;
  /// Stops listening and closes the listening sockets; existing connections stay open
  /// (Python 3.12). Idempotent.
  void close();
  /// Starts accepting if not yet (Python: await server.start_serving()).
  Coro<void> start_serving();
  /// Accepts until cancelled; cancelling closes the server and waits for wait_closed()
  /// (Python: serve_forever). RuntimeError if already awaited or closed.
  Coro<void> serve_forever();
  /// Waits until the server is closed and all its connections are gone (Python 3.12.1).
  Coro<void> wait_closed();
  /// Closes every connection the server accepted and that is still open: each transport's
  /// close() (buffered data is still sent). Does not stop listening; call close() for that
  /// (Python 3.13: `server.close(); server.close_clients()` ends everything).
  /// Python 3.13: Server.close_clients().
  void close_clients();
  /// Aborts every connection the server accepted and that is still open: each transport's
  /// abort() (buffered data is dropped). Python 3.13: Server.abort_clients().
  void abort_clients();

  /// For `co_await async_with(server, body)` (contextlib.hpp): gives this Server, at once.
  /// Python: Server.__aenter__ returns self.
  auto aenter() {
    return detail::Immediate([this]() -> Server& { return *this; });
  }
  /// close(), then `co_await wait_closed()`; never suppresses. Python: Server.__aexit__.
  Coro<void> aexit(std::exception_ptr body_exception);

  /// Whether this handle refers to a server (false when default-constructed).
  explicit operator bool() const noexcept { return static_cast<bool>(impl_); }
  /// Internal: the implementation.
  /// C++ only (no Python counterpart).
  const std::shared_ptr<detail::ServerImpl>& impl() const noexcept { return impl_; }

 private:
  std::shared_ptr<detail::ServerImpl> impl_;
};

namespace detail {

template <class F>
using factory_result_t = std::remove_cvref_t<std::invoke_result_t<F&>>;

using ConnectionPair = std::pair<std::shared_ptr<Transport>, std::shared_ptr<Protocol>>;

Coro<ConnectionPair> create_connection(ProtocolFactory factory, std::string host,
                                       std::uint16_t port, OwnedConnectionOptions opts);
Coro<ConnectionPair> create_connection_sock(ProtocolFactory factory, Socket sock,
                                            OwnedConnectionOptions opts);
Coro<ConnectionPair> create_unix_connection(ProtocolFactory factory, std::string path,
                                            TlsParams opts);
Coro<Server> create_server(ProtocolFactory factory, std::vector<std::string> hosts,
                           std::uint16_t port, ServerOptions opts, std::shared_ptr<SSLContext> ssl);
Coro<Server> create_server_sock(ProtocolFactory factory, Socket sock, ServerOptions opts,
                                std::shared_ptr<SSLContext> ssl);
Coro<Server> create_unix_server(ProtocolFactory factory, std::string path, UnixServerOptions opts,
                                std::shared_ptr<SSLContext> ssl);
Coro<ConnectionPair> create_unix_connection_sock(ProtocolFactory factory, Socket sock,
                                                 TlsParams opts);
Coro<Server> create_unix_server_sock(ProtocolFactory factory, Socket sock, UnixServerOptions opts,
                                     std::shared_ptr<SSLContext> ssl);
Coro<std::pair<std::shared_ptr<DatagramTransport>, std::shared_ptr<DatagramProtocol>>>
create_datagram_endpoint(DatagramProtocolFactory factory, OwnedDatagramOptions opts);

template <class P>
Coro<std::pair<std::shared_ptr<Transport>, std::shared_ptr<P>>> typed_connection(
    Coro<ConnectionPair> inner) {
  ConnectionPair r = co_await std::move(inner);
  co_return std::pair{std::move(r.first), std::static_pointer_cast<P>(std::move(r.second))};
}

template <class F>
ProtocolFactory erase_factory(F factory) {
  return [f = std::move(factory)]() mutable -> std::shared_ptr<Protocol> { return f(); };
}

}  // namespace detail

/// Connects to host:port and runs a protocol over the connection (Python:
/// loop.create_connection). Tries each resolved address in turn. Returns once the connection
/// (and TLS handshake) is up and connection_made() was called. Cancellation closes it.
template <class F>
auto create_connection(F protocol_factory, std::string host, std::uint16_t port,
                       ConnectionOptions opts = {}) {
  using P = typename detail::factory_result_t<F>::element_type;
  return detail::typed_connection<P>(
      detail::create_connection(detail::erase_factory(std::move(protocol_factory)), std::move(host),
                                port, detail::own(opts)));
}

/// As create_connection() over an already connected stream socket (Python: sock=...), which
/// is made non-blocking. An invalid `sock` is ValueError("host and port was not specified and
/// no sock specified"); a socket that is not SOCK_STREAM ValueError("A Stream Socket was
/// expected, got <socket.socket fd=...>"). Python's "host/port and sock can not be specified
/// at the same time" cannot happen: the overloads take one or the other.
template <class F>
auto create_connection(F protocol_factory, Socket sock, ConnectionOptions opts = {}) {
  using P = typename detail::factory_result_t<F>::element_type;
  return detail::typed_connection<P>(detail::create_connection_sock(
      detail::erase_factory(std::move(protocol_factory)), std::move(sock), detail::own(opts)));
}

/// Connects to a Unix stream socket (Python: loop.create_unix_connection).
template <class F>
auto create_unix_connection(F protocol_factory, std::string path, UnixConnectionOptions opts = {}) {
  using P = typename detail::factory_result_t<F>::element_type;
  return detail::typed_connection<P>(detail::create_unix_connection(
      detail::erase_factory(std::move(protocol_factory)), std::move(path), detail::own(opts)));
}

/// As create_unix_connection() over an already connected AF_UNIX stream socket (Python:
/// sock=...). An invalid `sock` is ValueError("no path and sock were specified"), another
/// kind of socket ValueError("A UNIX Domain Stream Socket was expected, got <socket ...>").
template <class F>
auto create_unix_connection(F protocol_factory, Socket sock, UnixConnectionOptions opts = {}) {
  using P = typename detail::factory_result_t<F>::element_type;
  return detail::typed_connection<P>(detail::create_unix_connection_sock(
      detail::erase_factory(std::move(protocol_factory)), std::move(sock), detail::own(opts)));
}

/// Listens on host:port (Python: loop.create_server); an empty host listens on every
/// interface (one socket per address family). `protocol_factory` is called once per
/// accepted connection. Port 0 picks an ephemeral port: read it from server.sockets().
template <class F>
Coro<Server> create_server(F protocol_factory, std::string host, std::uint16_t port,
                           ServerOptions opts = {}) {
  std::vector<std::string> hosts;
  hosts.push_back(std::move(host));
  return detail::create_server(detail::erase_factory(std::move(protocol_factory)), std::move(hosts),
                               port, opts, detail::own(opts.ssl));
}
/// Listens on several hosts (Python: host=[...]).
template <class F>
Coro<Server> create_server(F protocol_factory, std::vector<std::string> hosts, std::uint16_t port,
                           ServerOptions opts = {}) {
  return detail::create_server(detail::erase_factory(std::move(protocol_factory)), std::move(hosts),
                               port, opts, detail::own(opts.ssl));
}
/// Serves on an existing listening (or bound) stream socket (Python: sock=...). An invalid
/// `sock` is ValueError("Neither host/port nor sock were specified"), a socket that is not
/// SOCK_STREAM ValueError("A Stream Socket was expected, got <socket.socket fd=...>").
template <class F>
Coro<Server> create_server(F protocol_factory, Socket sock, ServerOptions opts = {}) {
  return detail::create_server_sock(detail::erase_factory(std::move(protocol_factory)),
                                    std::move(sock), opts, detail::own(opts.ssl));
}

/// Listens on a Unix socket path (Python: loop.create_unix_server). A stale socket file at
/// `path` is removed first, as Python does.
template <class F>
Coro<Server> create_unix_server(F protocol_factory, std::string path, UnixServerOptions opts = {}) {
  return detail::create_unix_server(detail::erase_factory(std::move(protocol_factory)),
                                    std::move(path), opts, detail::own(opts.ssl));
}

/// Serves on an existing AF_UNIX stream socket, bound and maybe listening (Python:
/// create_unix_server(sock=...)). The socket file is not touched. Errors as
/// create_unix_connection(sock).
template <class F>
Coro<Server> create_unix_server(F protocol_factory, Socket sock, UnixServerOptions opts = {}) {
  return detail::create_unix_server_sock(detail::erase_factory(std::move(protocol_factory)),
                                         std::move(sock), opts, detail::own(opts.ssl));
}

namespace detail {
template <class P>
Coro<std::pair<std::shared_ptr<DatagramTransport>, std::shared_ptr<P>>> typed_datagram(
    Coro<std::pair<std::shared_ptr<DatagramTransport>, std::shared_ptr<DatagramProtocol>>> inner) {
  auto r = co_await std::move(inner);
  co_return std::pair{std::move(r.first), std::static_pointer_cast<P>(std::move(r.second))};
}
}  // namespace detail

/// Creates a UDP endpoint (Python: loop.create_datagram_endpoint). Returns the transport and
/// the protocol the factory made, as the factory's `std::shared_ptr<P>` type.
template <class F>
auto create_datagram_endpoint(F protocol_factory, DatagramOptions opts) {
  using P = typename detail::factory_result_t<F>::element_type;
  DatagramProtocolFactory factory =
      [f = std::move(protocol_factory)]() mutable -> std::shared_ptr<DatagramProtocol> {
    return f();
  };
  return detail::typed_datagram<P>(
      detail::create_datagram_endpoint(std::move(factory), detail::own(opts)));
}

/// Upgrades an existing connection to TLS (Python: loop.start_tls): `transport` stops
/// calling `protocol` directly; the returned TLS transport does, once the handshake is done.
/// Use the returned transport from then on. On failure `transport` is closed.
Coro<std::shared_ptr<Transport>> start_tls(
    std::shared_ptr<Transport> transport, std::shared_ptr<Protocol> protocol,
    std::shared_ptr<SSLContext> sslcontext, bool server_side = false,
    std::optional<std::string> server_hostname = std::nullopt,
    std::optional<Duration> ssl_handshake_timeout = std::nullopt,
    std::optional<Duration> ssl_shutdown_timeout = std::nullopt);

}  // namespace asyncio
