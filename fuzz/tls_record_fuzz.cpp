// Fuzz target: the TLS record path (src/sslproto.cpp over OpenSSL) fed hostile bytes.
//
// Each input is one connection over a real AF_UNIX socketpair, driven by one long-lived event
// loop (the loop must survive every input). The library owns one end, as a TLS client
// (create_connection(sock, ssl=...)) or as a TLS server (a plain connection upgraded with
// start_tls(server_side=true)); the fuzzer owns the other end and writes the input's bytes to it
// in chunks, with loop iterations in between, then closes it (EOF). Whatever the library writes
// (its ClientHello, alerts) is read and dropped.
//
// Invariants checked (abort() with a message on violation):
//   * the handshake ends in bounded time (a 10 s guard; nothing in a case sleeps) with either
//     success or an OSError-family exception (SSLError, SSLCertVerificationError,
//     ConnectionResetError, ...); any other exception type is a finding;
//   * a protocol that saw connection_made() sees connection_lost() once the transport is closed;
//   * the library's socket is closed when the case ends (no fd leak);
//   * AddressSanitizer/LeakSanitizer: no memory error, no leak.
//
// Input layout: byte 0 = flags (bit 0: server side; bit 1: cap the library at TLS 1.2;
// bit 2: send the bytes with shutdown(SHUT_WR) instead of close() at the end); byte 1 = seed of
// the chunking; the rest = the bytes the peer sends.

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "asyncio/asyncio.hpp"

using namespace std::chrono_literals;

namespace {

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "tls_record_fuzz: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

struct Contexts {
  std::shared_ptr<asyncio::SSLContext> client;
  std::shared_ptr<asyncio::SSLContext> client12;
  std::shared_ptr<asyncio::SSLContext> server;
  std::shared_ptr<asyncio::SSLContext> server12;
};

const Contexts& contexts() {
  static const Contexts c = [] {
    const std::string dir = ASYNCIO_FUZZ_DIR "/tls/";
    Contexts c;
    auto client = [&](bool v12) {
      auto ctx = asyncio::SSLContext::create_default_context(asyncio::Purpose::SERVER_AUTH,
                                                             dir + "cert.pem");
      if (v12) ctx->set_maximum_version(asyncio::TLSVersion::TLSv1_2);
      return ctx;
    };
    auto server = [&](bool v12) {
      auto ctx = std::make_shared<asyncio::SSLContext>(asyncio::SSLContext::TLS_SERVER);
      ctx->load_cert_chain(dir + "cert.pem", dir + "key.pem");
      if (v12) ctx->set_maximum_version(asyncio::TLSVersion::TLSv1_2);
      return ctx;
    };
    c.client = client(false);
    c.client12 = client(true);
    c.server = server(false);
    c.server12 = server(true);
    return c;
  }();
  return c;
}

/// The application protocol: records its callbacks.
struct AppProtocol final : asyncio::Protocol {
  int made = 0;
  int lost = 0;
  void connection_made(asyncio::Transport&) override { ++made; }
  void connection_lost(std::exception_ptr) override { ++lost; }
};

/// The fuzzer's end of the socketpair.
struct PeerEnd {
  int fd;
  explicit PeerEnd(int f) : fd(f) {}
  ~PeerEnd() { close_now(); }
  void close_now() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  void drain() {  // drop what the library sent
    char buf[16384];
    while (fd >= 0 && ::read(fd, buf, sizeof buf) > 0) {
    }
  }
  void send(const std::uint8_t* p, std::size_t n) {
    while (fd >= 0 && n > 0) {
      ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w < 0) return;  // the library closed its end (EPIPE) or the buffer is full: drop
      p += w;
      n -= static_cast<std::size_t>(w);
    }
  }
};

void check_exception(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const asyncio::OSError&) {
    // SSLError, SSLCertVerificationError, ConnectionResetError, ...: the expected clean errors.
  } catch (const asyncio::TimeoutError&) {
    fail("handshake hung (no error after 10 s)");
  } catch (const std::exception& ex) {
    fail(std::string("unexpected exception type from the handshake: ") + ex.what());
  } catch (const asyncio::CancelledError&) {
    fail("handshake cancelled unexpectedly");
  }
}

asyncio::Coro<std::shared_ptr<asyncio::Transport>> connect(int fd, bool server_side, bool v12,
                                                           std::shared_ptr<AppProtocol> proto) {
  const Contexts& c = contexts();
  asyncio::ConnectionOptions opts;
  if (server_side) {
    auto [plain, _] =
        co_await asyncio::create_connection([proto] { return proto; }, asyncio::Socket(fd), opts);
    co_return co_await asyncio::start_tls(plain, proto, v12 ? c.server12 : c.server, true,
                                          std::nullopt, 10s);
  }
  opts.ssl = v12 ? c.client12 : c.client;
  opts.server_hostname = "localhost";
  opts.ssl_handshake_timeout = 10s;
  auto [tr, _] =
      co_await asyncio::create_connection([proto] { return proto; }, asyncio::Socket(fd), opts);
  co_return tr;
}

asyncio::Coro<void> one_case(const std::uint8_t* data, std::size_t size) {
  const std::uint8_t flags = size > 0 ? data[0] : 0;
  std::uint32_t seed = size > 1 ? data[1] : 0;
  const std::uint8_t* p = size > 2 ? data + 2 : data;
  std::size_t n = size > 2 ? size - 2 : 0;
  const bool server_side = flags & 1;
  const bool v12 = flags & 2;
  const bool half_close = flags & 4;

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
    fail("socketpair failed");
  }
  const int lib_fd = sv[0];
  PeerEnd peer(sv[1]);
  auto proto = std::make_shared<AppProtocol>();
  asyncio::EventLoop& loop = asyncio::get_running_loop();
  auto task = loop.create_task(asyncio::wait_for(connect(lib_fd, server_side, v12, proto), 10s));

  // Feed the bytes in chunks of 1..64 (a small LCG picks the sizes), yielding in between.
  while (n > 0) {
    seed = seed * 1103515245u + 12345u;
    std::size_t chunk = 1 + (seed >> 16) % 64;
    if (chunk > n) chunk = n;
    co_await asyncio::sleep(0s);
    peer.drain();
    peer.send(p, chunk);
    p += chunk;
    n -= chunk;
  }
  co_await asyncio::sleep(0s);
  peer.drain();
  if (half_close) {
    ::shutdown(peer.fd, SHUT_WR);
  } else {
    peer.close_now();
  }

  std::shared_ptr<asyncio::Transport> transport;
  try {
    transport = co_await task;
  } catch (...) {
    check_exception(std::current_exception());
  }
  if (transport) transport->abort();  // a handshake the input completed (not expected)
  for (int i = 0; i < 4; ++i) co_await asyncio::sleep(0s);
  if (proto->made != proto->lost) {
    fail("connection_made() called " + std::to_string(proto->made) + " time(s) but " +
         "connection_lost() " + std::to_string(proto->lost));
  }
  if (::fcntl(lib_fd, F_GETFD) != -1 || errno != EBADF) {
    fail("the library's socket is still open after the connection failed");
  }
}

asyncio::Runner& runner() {
  static asyncio::Runner r;
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  runner().run(one_case(data, size));
  return 0;
}
