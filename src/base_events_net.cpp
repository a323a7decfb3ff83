// create_connection, create_server, Unix sockets, datagram endpoints and start_tls (Python:
// base_events.py / unix_events.py / selector_events.py).

#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "asyncio/net.hpp"
#include "asyncio/ssl.hpp"
#include "asyncio/tasks.hpp"
#include "happy_eyeballs.hpp"
#include "selector_events.hpp"

using namespace std::chrono_literals;

namespace asyncio {

std::shared_ptr<SSLContext> SSLContextRef::lock() const {
  return ctx_ ? ctx_->shared_from_this() : nullptr;
}

namespace detail {

std::shared_ptr<SSLContext> own(SSLContextRef ref) {
  return ref.lock();
}

namespace {
std::optional<std::string> own_string(const std::optional<std::string_view>& v) {
  if (!v) return std::nullopt;
  return std::string(*v);
}
std::optional<std::pair<std::string, std::uint16_t>> own_addr(const std::optional<HostPort>& a) {
  if (!a) return std::nullopt;
  return std::pair<std::string, std::uint16_t>{std::string(a->first), a->second};
}
}  // namespace

OwnedConnectionOptions own(const ConnectionOptions& o) {
  OwnedConnectionOptions r;
  r.tls = {o.ssl.lock(), own_string(o.server_hostname), o.ssl_handshake_timeout,
           o.ssl_shutdown_timeout};
  r.family = o.family;
  r.proto = o.proto;
  r.flags = o.flags;
  r.local_addr = own_addr(o.local_addr);
  r.all_errors = o.all_errors;
  r.happy_eyeballs_delay = o.happy_eyeballs_delay;
  r.interleave = o.interleave;
  return r;
}

TlsParams own(const UnixConnectionOptions& o) {
  return {o.ssl.lock(), own_string(o.server_hostname), o.ssl_handshake_timeout,
          o.ssl_shutdown_timeout};
}

OwnedDatagramOptions own(const DatagramOptions& o) {
  OwnedDatagramOptions r;
  r.local_addr = own_addr(o.local_addr);
  r.remote_addr = own_addr(o.remote_addr);
  r.family = o.family;
  r.proto = o.proto;
  r.flags = o.flags;
  r.reuse_port = o.reuse_port;
  r.allow_broadcast = o.allow_broadcast;
  return r;
}

namespace {

/// Before any connection is made: a server_hostname with a NUL would be checked and sent
/// truncated (SSLContext refuses it too, but only once connected).
void check_server_hostname(const std::optional<std::string>& server_hostname) {
  if (server_hostname && server_hostname->find('\0') != std::string::npos) {
    throw ValueError("embedded null character");
  }
}

void check_ssl_options(bool ssl, bool server_hostname, bool handshake_timeout,
                       bool shutdown_timeout) {
  if (ssl) return;
  if (server_hostname) throw ValueError("server_hostname is only meaningful with ssl");
  if (handshake_timeout) throw ValueError("ssl_handshake_timeout is only meaningful with ssl");
  if (shutdown_timeout) throw ValueError("ssl_shutdown_timeout is only meaningful with ssl");
}

/// Python: _ensure_resolved — numeric addresses without a thread hop.
Coro<std::vector<AddrInfo>> ensure_resolved(std::string host, std::string port, int family,
                                            int type, int proto, int flags) {
  if (auto info = ipaddr_info(host, port, family, type, proto)) {
    std::vector<AddrInfo> v;
    v.push_back(std::move(*info));
    co_return v;
  }
  co_return co_await getaddrinfo(std::move(host), std::move(port), family, type, proto, flags);
}

/// "<what> <addr>: <strerror in lower case>" with the errno (Python's create_server text for a
/// failed bind).
std::exception_ptr address_error(const std::system_error& e, const char* what,
                                 const SockAddr& addr) {
  std::string reason = std::generic_category().message(e.code().value());
  for (char& c : reason) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return make_os_error(e.code().value(), what + addr.to_string() + ": " + reason);
}

/// Python: OSError(err.errno, 'error while attempting to bind on address %r: %s' %
/// (sa, err.strerror.lower())).
std::exception_ptr bind_error(const std::system_error& e, const SockAddr& addr) {
  return address_error(e, "error while attempting to bind on address ", addr);
}

/// Socket creation failed for a listening address (Python has no message: it skips it); the
/// text follows bind_error()'s.
std::exception_ptr create_socket_error(const std::system_error& e, const SockAddr& addr) {
  return address_error(e, "error while attempting to create a socket for address ", addr);
}

/// Python's f"{family=}" value: the AddressFamily enum's repr.
std::string family_repr(int family) {
  switch (family) {
    case AF_INET:
      return "<AddressFamily.AF_INET: " + std::to_string(AF_INET) + ">";
    case AF_INET6:
      return "<AddressFamily.AF_INET6: " + std::to_string(AF_INET6) + ">";
    case AF_UNIX:
      return "<AddressFamily.AF_UNIX: " + std::to_string(AF_UNIX) + ">";
    default:
      return std::to_string(family);
  }
}

/// Errors that say the process or system is out of something, not that the address family
/// or protocol is unsupported.
bool is_resource_error(int err) noexcept {
  return err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM;
}

}  // namespace

/// Python: _connect_sock.
Coro<Socket> connect_sock(const AddrInfo& info,
                          const std::optional<std::vector<AddrInfo>>& local_infos,
                          std::vector<std::exception_ptr>& exceptions) {
  Socket sock;
  try {
    sock = Socket::create(info.family, info.type, info.protocol);
    if (local_infos) {
      bool bound = false;
      std::exception_ptr last;
      for (const auto& l : *local_infos) {
        if (l.family != info.family) continue;
        try {
          sock.bind(l.addr);
          bound = true;
          break;
        } catch (const std::system_error& e) {
          last = bind_error(e, l.addr);
        }
      }
      if (!bound) {
        if (last) std::rethrow_exception(last);
        throw OSError(std::string("no matching local address with family=") +
                      family_repr(info.family) + " found");
      }
    }
    co_await sock_connect(sock.fd(), info.addr);
  } catch (const std::system_error&) {
    exceptions.push_back(std::current_exception());
    throw;
  }
  co_return sock;
}

namespace {

[[noreturn]] void raise_connect_errors(std::vector<std::exception_ptr>& exceptions,
                                       bool all_errors) {
  if (all_errors) throw ExceptionGroup("create_connection failed", exceptions);
  if (exceptions.size() == 1) std::rethrow_exception(exceptions.front());
  std::string model = describe(exceptions.front());
  bool same = std::all_of(exceptions.begin(), exceptions.end(),
                          [&](const std::exception_ptr& e) { return describe(e) == model; });
  if (same) std::rethrow_exception(exceptions.front());
  // Python: OSError('Multiple exceptions: {}'.format(', '.join(str(exc) for exc in ...))).
  std::string msg = "Multiple exceptions: ";
  for (std::size_t i = 0; i < exceptions.size(); ++i) {
    if (i) msg += ", ";
    msg += describe(exceptions[i]);
  }
  throw OSError(msg);
}

/// Python: _create_connection_transport.
Coro<ConnectionPair> connection_transport(Socket sock, ProtocolFactory& factory,
                                          std::shared_ptr<SSLContext> ssl,
                                          std::optional<std::string> server_hostname,
                                          std::optional<Duration> handshake_timeout,
                                          std::optional<Duration> shutdown_timeout,
                                          std::optional<SockAddr> peer) {
  EventLoop& loop = get_running_loop();
  std::shared_ptr<Protocol> protocol = factory();
  if (!protocol) throw RuntimeError("protocol factory returned null");
  Future<void> waiter = loop.create_future<void>();
  std::shared_ptr<Transport> transport;
  if (ssl) {
    auto ssl_protocol = make_ssl_protocol(loop, protocol, ssl, waiter, false, server_hostname, true,
                                          handshake_timeout, shutdown_timeout);
    auto raw = std::make_shared<SocketTransport>(loop, std::move(sock), ssl_protocol, nullptr,
                                                 std::move(peer));
    raw->start();
    transport = ssl_app_transport(*ssl_protocol);
  } else {
    auto t = std::make_shared<SocketTransport>(loop, std::move(sock), protocol, nullptr,
                                               std::move(peer));
    t->start(waiter);
    transport = t;
  }
  try {
    co_await waiter;
  } catch (...) {
    transport->close();
    throw;
  }
  co_return ConnectionPair{std::move(transport), std::move(protocol)};
}

std::optional<std::string> default_server_hostname(
    const std::shared_ptr<SSLContext>& ssl, const std::optional<std::string>& server_hostname,
    const std::string& host) {
  if (!ssl || server_hostname) return server_hostname;
  if (host.empty()) throw ValueError("You must set server_hostname when using ssl without a host");
  return host;
}

}  // namespace

Coro<ConnectionPair> create_connection(ProtocolFactory factory, std::string host,
                                       std::uint16_t port, OwnedConnectionOptions opts) {
  check_ssl_options(opts.tls.ssl != nullptr, opts.tls.server_hostname.has_value(),
                    opts.tls.handshake_timeout.has_value(), opts.tls.shutdown_timeout.has_value());
  check_server_hostname(opts.tls.server_hostname);
  std::optional<std::string> server_hostname =
      default_server_hostname(opts.tls.ssl, opts.tls.server_hostname, host);
  std::vector<AddrInfo> infos = co_await ensure_resolved(host, std::to_string(port), opts.family,
                                                         SOCK_STREAM, opts.proto, opts.flags);
  if (infos.empty()) throw OSError(std::string("getaddrinfo() returned empty list"));
  std::optional<std::vector<AddrInfo>> local_infos;
  if (opts.local_addr) {
    local_infos =
        co_await ensure_resolved(opts.local_addr->first, std::to_string(opts.local_addr->second),
                                 opts.family, SOCK_STREAM, opts.proto, opts.flags);
    if (local_infos->empty()) throw OSError(std::string("getaddrinfo() returned empty list"));
  }
  std::vector<std::exception_ptr> exceptions;
  Socket sock;
  std::optional<SockAddr> peer;
  // Python 3.12: interleave defaults to 1 with happy eyeballs; it reorders even without.
  int interleave = opts.interleave.value_or(opts.happy_eyeballs_delay ? 1 : 0);
  if (interleave != 0) infos = interleave_addrinfos(std::move(infos), interleave);
  if (opts.happy_eyeballs_delay) {
    SockAddr winner_addr;
    // Named, not a temporary in the co_await (g++ 12 destroys those twice).
    Coro<Socket> racing = happy_eyeballs_connect(
        infos, std::move(local_infos), *opts.happy_eyeballs_delay, exceptions, winner_addr);
    sock = co_await std::move(racing);
    if (sock) peer = winner_addr;
  } else {
    for (const AddrInfo& info : infos) {
      try {
        sock = co_await connect_sock(info, local_infos, exceptions);
        peer = info.addr;
        break;
      } catch (const std::system_error&) {
        // recorded in `exceptions`; try the next address
      }
    }
  }
  if (!sock) raise_connect_errors(exceptions, opts.all_errors);
  co_return co_await connection_transport(std::move(sock), factory, opts.tls.ssl, server_hostname,
                                          opts.tls.handshake_timeout, opts.tls.shutdown_timeout,
                                          peer);
}

Coro<ConnectionPair> create_connection_sock(ProtocolFactory factory, Socket sock,
                                            OwnedConnectionOptions opts) {
  TlsParams& tls = opts.tls;
  check_ssl_options(tls.ssl != nullptr, tls.server_hostname.has_value(),
                    tls.handshake_timeout.has_value(), tls.shutdown_timeout.has_value());
  check_server_hostname(tls.server_hostname);
  if (!sock) throw ValueError("host and port was not specified and no sock specified");
  if (sock.type() != SOCK_STREAM) {
    throw ValueError("A Stream Socket was expected, got " + socket_repr(sock));
  }
  if (tls.ssl && !tls.server_hostname && tls.ssl->check_hostname()) {
    throw ValueError("You must set server_hostname when using ssl without a host");
  }
  sock.setblocking(false);
  co_return co_await connection_transport(std::move(sock), factory, tls.ssl, tls.server_hostname,
                                          tls.handshake_timeout, tls.shutdown_timeout,
                                          std::nullopt);
}

Coro<ConnectionPair> create_unix_connection(ProtocolFactory factory, std::string path,
                                            TlsParams opts) {
  check_ssl_options(opts.ssl != nullptr, opts.server_hostname.has_value(),
                    opts.handshake_timeout.has_value(), opts.shutdown_timeout.has_value());
  check_server_hostname(opts.server_hostname);
  if (opts.ssl && !opts.server_hostname)
    throw ValueError("you have to pass server_hostname when using ssl");
  if (path.empty()) throw ValueError("no path was specified");
  SockAddr addr = SockAddr::unix_path(path);
  Socket sock = Socket::create(AF_UNIX, SOCK_STREAM);
  co_await sock_connect(sock.fd(), addr);
  co_return co_await connection_transport(std::move(sock), factory, opts.ssl, opts.server_hostname,
                                          opts.handshake_timeout, opts.shutdown_timeout, addr);
}

namespace {
/// Python's check in create_unix_connection/create_unix_server(sock=...).
void check_unix_stream_socket(const Socket& sock) {
  if (sock.family() != AF_UNIX || sock.type() != SOCK_STREAM) {
    throw ValueError("A UNIX Domain Stream Socket was expected, got " + socket_repr(sock));
  }
}
}  // namespace

Coro<ConnectionPair> create_unix_connection_sock(ProtocolFactory factory, Socket sock,
                                                 TlsParams opts) {
  check_ssl_options(opts.ssl != nullptr, opts.server_hostname.has_value(),
                    opts.handshake_timeout.has_value(), opts.shutdown_timeout.has_value());
  check_server_hostname(opts.server_hostname);
  if (opts.ssl && !opts.server_hostname)
    throw ValueError("you have to pass server_hostname when using ssl");
  if (!sock) throw ValueError("no path and sock were specified");
  check_unix_stream_socket(sock);
  sock.setblocking(false);
  co_return co_await connection_transport(std::move(sock), factory, opts.ssl, opts.server_hostname,
                                          opts.handshake_timeout, opts.shutdown_timeout,
                                          std::nullopt);
}

namespace {
Coro<Server> finish_server(std::shared_ptr<ServerImpl> impl, bool start) {
  if (start) {
    impl->start_serving();
    try {
      co_await sleep(0s);  // let the registrations go through, as Python
    } catch (...) {
      impl->close();
      throw;
    }
  }
  co_return Server(std::move(impl));
}
}  // namespace

Coro<Server> create_server(ProtocolFactory factory, std::vector<std::string> hosts,
                           std::uint16_t port, ServerOptions opts,
                           std::shared_ptr<SSLContext> ssl) {
  check_ssl_options(ssl != nullptr, false, opts.ssl_handshake_timeout.has_value(),
                    opts.ssl_shutdown_timeout.has_value());
  EventLoop& loop = get_running_loop();
  bool reuse_address = opts.reuse_address.value_or(true);
  if (hosts.empty()) hosts.emplace_back();
  std::vector<AddrInfo> infos;
  for (const std::string& host : hosts) {
    std::vector<AddrInfo> r = co_await ensure_resolved(host, std::to_string(port), opts.family,
                                                       SOCK_STREAM, 0, opts.flags);
    for (auto& info : r) {
      bool dup = std::any_of(infos.begin(), infos.end(), [&](const AddrInfo& i) {
        return i.family == info.family && i.type == info.type && i.protocol == info.protocol &&
               i.addr == info.addr;
      });
      if (!dup) infos.push_back(std::move(info));
    }
  }
  std::vector<Socket> sockets;
  std::exception_ptr create_error;  // why the last socket could not be created
  for (const AddrInfo& info : infos) {
    Socket sock;
    try {
      sock = Socket::create(info.family, info.type, info.protocol);
    } catch (const std::system_error& e) {
      // Python assumes a bad family/type/protocol combination and skips the address, even
      // when the process is out of fds: it can then return a server listening on nothing, or
      // on fewer addresses than asked. Out of resources, we raise (`sockets` closes what was
      // created); otherwise we skip as Python does, and raise if no address is left.
      create_error = create_socket_error(e, info.addr);
      if (is_resource_error(e.code().value())) std::rethrow_exception(create_error);
      continue;
    }
    if (reuse_address) sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1);
    if (opts.reuse_port) sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
    // Disable IPv4/IPv6 dual stack support (enabled by default on Linux) which makes a
    // single socket listen on both address families.
    if (info.family == AF_INET6) sock.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
    try {
      sock.bind(info.addr);
    } catch (const std::system_error& e) {
      std::rethrow_exception(bind_error(e, info.addr));
    }
    sockets.push_back(std::move(sock));
  }
  if (sockets.empty() && create_error) std::rethrow_exception(create_error);
  auto impl =
      std::make_shared<ServerImpl>(loop, std::move(sockets), std::move(factory), ssl, opts.backlog,
                                   opts.ssl_handshake_timeout, opts.ssl_shutdown_timeout);
  co_return co_await finish_server(std::move(impl), opts.start_serving);
}

Coro<Server> create_server_sock(ProtocolFactory factory, Socket sock, ServerOptions opts,
                                std::shared_ptr<SSLContext> ssl) {
  check_ssl_options(ssl != nullptr, false, opts.ssl_handshake_timeout.has_value(),
                    opts.ssl_shutdown_timeout.has_value());
  if (!sock) throw ValueError("Neither host/port nor sock were specified");
  if (sock.type() != SOCK_STREAM) {
    throw ValueError("A Stream Socket was expected, got " + socket_repr(sock));
  }
  sock.setblocking(false);
  std::vector<Socket> sockets;
  sockets.push_back(std::move(sock));
  auto impl = std::make_shared<ServerImpl>(get_running_loop(), std::move(sockets),
                                           std::move(factory), ssl, opts.backlog,
                                           opts.ssl_handshake_timeout, opts.ssl_shutdown_timeout);
  co_return co_await finish_server(std::move(impl), opts.start_serving);
}

Coro<Server> create_unix_server(ProtocolFactory factory, std::string path, UnixServerOptions opts,
                                std::shared_ptr<SSLContext> ssl) {
  check_ssl_options(ssl != nullptr, false, opts.ssl_handshake_timeout.has_value(),
                    opts.ssl_shutdown_timeout.has_value());
  if (path.empty()) throw ValueError("path was not specified");
  // First: a path the kernel would truncate (NUL) or refuse (too long) must not make us
  // remove the socket file of the truncated name below.
  SockAddr addr = SockAddr::unix_path(path);
  if (path[0] != '\0') {
    // Check for abstract socket: `str` and `bytes` paths are supported. Remove a stale
    // socket file left by a previous server (as Python).
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) ::unlink(path.c_str());
  }
  Socket sock;
  try {
    sock = Socket::create(AF_UNIX, SOCK_STREAM);
  } catch (const std::system_error& e) {
    std::rethrow_exception(create_socket_error(e, addr));
  }
  try {
    sock.bind(addr);
  } catch (const std::system_error& e) {
    if (e.code().value() == EADDRINUSE) {
      // Let's improve the error message by adding with what exact address it occurs.
      throw OSError(EADDRINUSE, "Address '" + path + "' is already in use");
    }
    throw;
  }
  std::vector<Socket> sockets;
  sockets.push_back(std::move(sock));
  auto impl = std::make_shared<ServerImpl>(get_running_loop(), std::move(sockets),
                                           std::move(factory), ssl, opts.backlog,
                                           opts.ssl_handshake_timeout, opts.ssl_shutdown_timeout);
  co_return co_await finish_server(std::move(impl), opts.start_serving);
}

Coro<Server> create_unix_server_sock(ProtocolFactory factory, Socket sock, UnixServerOptions opts,
                                     std::shared_ptr<SSLContext> ssl) {
  check_ssl_options(ssl != nullptr, false, opts.ssl_handshake_timeout.has_value(),
                    opts.ssl_shutdown_timeout.has_value());
  if (!sock) throw ValueError("path was not specified, and no sock specified");
  check_unix_stream_socket(sock);
  sock.setblocking(false);
  std::vector<Socket> sockets;
  sockets.push_back(std::move(sock));
  auto impl = std::make_shared<ServerImpl>(get_running_loop(), std::move(sockets),
                                           std::move(factory), ssl, opts.backlog,
                                           opts.ssl_handshake_timeout, opts.ssl_shutdown_timeout);
  co_return co_await finish_server(std::move(impl), opts.start_serving);
}

Coro<std::pair<std::shared_ptr<DatagramTransport>, std::shared_ptr<DatagramProtocol>>>
create_datagram_endpoint(DatagramProtocolFactory factory, OwnedDatagramOptions opts) {
  EventLoop& loop = get_running_loop();
  struct Pair {
    int family;
    int proto;
    std::optional<SockAddr> local;
    std::optional<SockAddr> remote;
  };
  std::vector<Pair> pairs;
  if (!opts.local_addr && !opts.remote_addr) {
    if (opts.family == AF_UNSPEC) throw ValueError("unexpected address family");
    pairs.push_back({opts.family, opts.proto, std::nullopt, std::nullopt});
  } else {
    for (int idx = 0; idx < 2; ++idx) {
      const auto& a = idx == 0 ? opts.local_addr : opts.remote_addr;
      if (!a) continue;
      std::vector<AddrInfo> infos = co_await ensure_resolved(
          a->first, std::to_string(a->second), opts.family, SOCK_DGRAM, opts.proto, opts.flags);
      if (infos.empty()) throw OSError(std::string("getaddrinfo() returned empty list"));
      for (const auto& info : infos) {
        auto it = std::find_if(pairs.begin(), pairs.end(), [&](const Pair& p) {
          return p.family == info.family && p.proto == info.protocol;
        });
        if (it == pairs.end()) {
          pairs.push_back({info.family, info.protocol, std::nullopt, std::nullopt});
          it = pairs.end() - 1;
        }
        auto& slot = idx == 0 ? it->local : it->remote;
        if (!slot) slot = info.addr;
      }
    }
    std::erase_if(pairs, [&](const Pair& p) {
      return (opts.local_addr && !p.local) || (opts.remote_addr && !p.remote);
    });
    if (pairs.empty()) throw ValueError("can not get address information");
  }
  std::vector<std::exception_ptr> exceptions;
  Socket sock;
  std::optional<SockAddr> r_addr;
  for (const Pair& p : pairs) {
    try {
      Socket s = Socket::create(p.family, SOCK_DGRAM, p.proto);
      if (opts.reuse_port) s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1);
      if (opts.allow_broadcast) s.setsockopt(SOL_SOCKET, SO_BROADCAST, 1);
      if (p.local) s.bind(*p.local);
      if (p.remote) {
        if (!opts.allow_broadcast) co_await sock_connect(s.fd(), *p.remote);
        r_addr = p.remote;
      }
      sock = std::move(s);
      break;
    } catch (const std::system_error&) {
      exceptions.push_back(std::current_exception());
    }
  }
  if (!sock) std::rethrow_exception(exceptions.front());
  std::shared_ptr<DatagramProtocol> protocol = factory();
  if (!protocol) throw RuntimeError("protocol factory returned null");
  Future<void> waiter = loop.create_future<void>();
  auto transport =
      std::make_shared<DatagramSocketTransport>(loop, std::move(sock), protocol, r_addr);
  transport->start(waiter);
  try {
    co_await waiter;
  } catch (...) {
    transport->close();
    throw;
  }
  co_return std::pair<std::shared_ptr<DatagramTransport>, std::shared_ptr<DatagramProtocol>>{
      transport, protocol};
}

}  // namespace detail

Coro<std::shared_ptr<Transport>> start_tls(std::shared_ptr<Transport> transport,
                                           std::shared_ptr<Protocol> protocol,
                                           std::shared_ptr<SSLContext> sslcontext, bool server_side,
                                           std::optional<std::string> server_hostname,
                                           std::optional<Duration> ssl_handshake_timeout,
                                           std::optional<Duration> ssl_shutdown_timeout) {
  if (!sslcontext) throw ValueError("sslcontext is expected to be an SSLContext");
  detail::check_server_hostname(server_hostname);
  if (!dynamic_cast<detail::SocketTransport*>(transport.get())) {
    throw ValueError("transport is not supported by start_tls()");
  }
  EventLoop& loop = get_running_loop();
  Future<void> waiter = loop.create_future<void>();
  auto ssl_protocol = detail::make_ssl_protocol(loop, std::move(protocol), std::move(sslcontext),
                                                waiter, server_side, std::move(server_hostname),
                                                /*call_connection_made=*/false,
                                                ssl_handshake_timeout, ssl_shutdown_timeout);
  // Pause early so that the TLS protocol's data callbacks don't run before connection_made().
  transport->pause_reading();
  transport->set_protocol(ssl_protocol);
  Handle conmade =
      loop.call_soon([ssl_protocol, transport] { ssl_protocol->connection_made(*transport); });
  Handle resume = loop.call_soon([transport] { transport->resume_reading(); });
  try {
    co_await waiter;
  } catch (...) {
    transport->close();
    conmade.cancel();
    resume.cancel();
    throw;
  }
  co_return detail::ssl_app_transport(*ssl_protocol);
}

}  // namespace asyncio
