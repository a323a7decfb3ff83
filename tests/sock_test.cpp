// Low-level socket operations on the loop (Python: test_asyncio/test_sock_lowlevel.py):
// sock_recv/sock_recv_into/sock_sendall/sock_connect/sock_accept/sock_recvfrom/sock_sendto,
// getaddrinfo/getnameinfo, cancellation of pending operations, errors.

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <numeric>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "net_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::SockAddr;
using asyncio::Socket;

namespace {

struct Listener {
  Socket sock;
  SockAddr addr;
};

Listener listen_on(const char* host, int backlog = 100) {
  SockAddr any = SockAddr::inet(host, 0);
  Socket s = Socket::create(any.family(), SOCK_STREAM);
  s.bind(any);
  s.listen(backlog);
  SockAddr bound = s.getsockname();
  return {std::move(s), bound};
}

std::pair<Socket, Socket> socket_pair() {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0)
    throw std::runtime_error("socketpair");
  return {Socket(fds[0]), Socket(fds[1])};
}

/// An address on loopback where nothing listens (bound, then closed).
SockAddr refused_address(const char* host) {
  Listener l = listen_on(host);
  return l.addr;
}

}  // namespace

TEST(SockTest, SendallAndRecvOverSocketpair) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = socket_pair();
    co_await asyncio::sock_sendall(a.fd(), "hello world");
    std::string got;
    while (got.size() < 11) got += co_await asyncio::sock_recv(b.fd(), 64);
    EXPECT_EQ(got, "hello world");
    a.close();
    EXPECT_EQ(co_await asyncio::sock_recv(b.fd(), 64), "");  // EOF
  }());
}

TEST(SockTest, RecvIntoWaitsForData) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = socket_pair();
    int fd = a.fd();
    asyncio::create_task([](int fd) -> Coro<> {
      co_await asyncio::sleep(0.02s);
      co_await asyncio::sock_sendall(fd, "abc");
    }(b.fd()));
    std::byte buf[16];
    std::size_t n = co_await asyncio::sock_recv_into(fd, buf);
    EXPECT_EQ(n, 3u);
    EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), n), "abc");
    co_await asyncio::sleep(0s);
  }());
}

static Coro<> connect_accept_roundtrip(const char* host) {
  Listener l = listen_on(host);
  int lfd = l.sock.fd();
  auto server = asyncio::create_task([](int lfd) -> Coro<std::string> {
    auto [conn, peer] = co_await asyncio::sock_accept(lfd);
    EXPECT_TRUE(peer.port() != 0);
    std::string data;
    while (true) {
      std::string chunk = co_await asyncio::sock_recv(conn.fd(), 1024);
      if (chunk.empty()) break;
      data += chunk;
    }
    co_await asyncio::sock_sendall(conn.fd(), "got:" + data);
    co_return data;
  }(lfd));
  Socket c = Socket::create(l.addr.family(), SOCK_STREAM);
  co_await asyncio::sock_connect(c.fd(), l.addr);
  EXPECT_EQ(c.getpeername(), l.addr);
  co_await asyncio::sock_sendall(c.fd(), "ping");
  c.shutdown(SHUT_WR);
  std::string reply;
  while (true) {
    std::string chunk = co_await asyncio::sock_recv(c.fd(), 1024);
    if (chunk.empty()) break;
    reply += chunk;
  }
  EXPECT_EQ(reply, "got:ping");
  EXPECT_EQ(co_await server, "ping");
}

TEST(SockTest, ConnectAcceptIPv4) {
  nettest::run(connect_accept_roundtrip("127.0.0.1"));
}
TEST(SockTest, ConnectAcceptIPv6) {
  nettest::run(connect_accept_roundtrip("::1"));
}

TEST(SockTest, ConnectByHostNameResolvesFirst) {
  nettest::run([]() -> Coro<> {
    Listener l = listen_on("127.0.0.1");
    int lfd = l.sock.fd();
    auto acc = asyncio::create_task([](int lfd) -> Coro<> {
      auto r = co_await asyncio::sock_accept(lfd);
      (void)r;
    }(lfd));
    Socket c = Socket::create(AF_INET, SOCK_STREAM);
    co_await asyncio::sock_connect(c.fd(), "localhost", l.addr.port());
    co_await acc;
  }());
}

TEST(SockTest, ConnectRefusedRaisesConnectionRefusedError) {
  nettest::run([]() -> Coro<> {
    for (const char* host : {"127.0.0.1", "::1"}) {
      SockAddr addr = refused_address(host);
      Socket c = Socket::create(addr.family(), SOCK_STREAM);
      try {
        co_await asyncio::sock_connect(c.fd(), addr);
        ADD_FAILURE() << "connect should fail";
      } catch (const asyncio::ConnectionRefusedError& e) {
        EXPECT_EQ(e.code(), std::errc::connection_refused);
        EXPECT_NE(std::string(e.what()).find("Connect call failed"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(std::to_string(addr.port())), std::string::npos)
            << e.what();
      }
    }
  }());
}

TEST(SockTest, SendallLargeBufferWhileReaderIsSlow) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = socket_pair();
    std::string big(8 << 20, 'x');
    for (std::size_t i = 0; i < big.size(); i += 4096)
      big[i] = static_cast<char>('a' + (i / 4096) % 26);
    int bfd = b.fd();
    auto reader = asyncio::create_task([](int fd, std::size_t want) -> Coro<std::string> {
      std::string got;
      while (got.size() < want) {
        co_await asyncio::sleep(0s);
        got += co_await asyncio::sock_recv(fd, 65536);
      }
      co_return got;
    }(bfd, big.size()));
    co_await asyncio::sock_sendall(a.fd(), big);
    EXPECT_TRUE((co_await reader) == big);
  }());
}

TEST(SockTest, ReaderAndWriterWaitOnTheSameFd) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = socket_pair();
    int afd = a.fd();
    int bfd = b.fd();
    // Fill a's send buffer so that a sendall on `a` must wait, while a recv on `a` waits too.
    std::string big(4 << 20, 'y');
    auto writer = asyncio::create_task([](int fd, std::string data) -> Coro<> {
      co_await asyncio::sock_sendall(fd, data);
    }(afd, big));
    auto reader = asyncio::create_task(
        [](int fd) -> Coro<std::string> { co_return co_await asyncio::sock_recv(fd, 10); }(afd));
    co_await asyncio::sleep(0.01s);
    EXPECT_FALSE(writer.done());
    EXPECT_FALSE(reader.done());
    co_await asyncio::sock_sendall(bfd, "pong");
    EXPECT_EQ(co_await reader, "pong");
    std::size_t total = 0;
    while (total < big.size()) total += (co_await asyncio::sock_recv(bfd, 1 << 20)).size();
    co_await writer;
    EXPECT_EQ(total, big.size());
  }());
}

TEST(SockTest, SecondConcurrentReaderRaisesRuntimeError) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = socket_pair();
    int afd = a.fd();
    auto first = asyncio::create_task(
        [](int fd) -> Coro<std::string> { co_return co_await asyncio::sock_recv(fd, 10); }(afd));
    co_await asyncio::sleep(0s);
    EXPECT_THROW(co_await asyncio::sock_recv(afd, 10), asyncio::RuntimeError);
    co_await asyncio::sock_sendall(b.fd(), "x");
    EXPECT_EQ(co_await first, "x");
  }());
}

TEST(SockTest, CancelPendingRecvUnregistersTheFd) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = socket_pair();
    int afd = a.fd();
    auto t = asyncio::create_task(
        [](int fd) -> Coro<std::string> { co_return co_await asyncio::sock_recv(fd, 10); }(afd));
    co_await asyncio::sleep(0s);
    t.cancel();
    EXPECT_THROW(co_await t, asyncio::CancelledError);
    // The fd is free again: a new reader works and gets the data.
    co_await asyncio::sock_sendall(b.fd(), "after");
    EXPECT_EQ(co_await asyncio::sock_recv(afd, 10), "after");
  }());
}

// Two cancel() calls before the task runs again: the first message wins, as in CPython (the
// awaited operation is cancelled with it; the second request is consumed with it).
TEST(SockTest, RepeatedCancelOfAPendingRecvKeepsTheFirstMessage) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = socket_pair();
    int afd = a.fd();
    auto t = asyncio::create_task([](int fd) -> Coro<std::string> {
      try {
        co_await asyncio::sock_recv(fd, 10);
      } catch (const asyncio::CancelledError& e) {
        co_return e.message();
      }
      co_return "not cancelled";
    }(afd));
    co_await asyncio::sleep(0s);
    t.cancel("one");
    t.cancel("two");
    EXPECT_EQ(co_await t, "one");
  }());
}

TEST(SockTest, CancelPendingAccept) {
  nettest::run([]() -> Coro<> {
    Listener l = listen_on("127.0.0.1");
    int lfd = l.sock.fd();
    auto t = asyncio::create_task([](int fd) -> Coro<> {
      auto r = co_await asyncio::sock_accept(fd);
      (void)r;
    }(lfd));
    co_await asyncio::sleep(0.01s);
    t.cancel();
    EXPECT_THROW(co_await t, asyncio::CancelledError);
    // Still usable afterwards.
    auto acc = asyncio::create_task([](int fd) -> Coro<> {
      auto r = co_await asyncio::sock_accept(fd);
      (void)r;
    }(lfd));
    Socket c = Socket::create(AF_INET, SOCK_STREAM);
    co_await asyncio::sock_connect(c.fd(), l.addr);
    co_await acc;
  }());
}

TEST(SockTest, CancelPendingConnect) {
  nettest::run([]() -> Coro<> {
    // A listener whose accept queue is full and never drained: further SYNs are dropped, so
    // connects stay pending.
    Listener l = listen_on("127.0.0.1", 0);
    std::vector<Socket> fillers;
    std::vector<asyncio::Task<>> pending;
    for (int i = 0; i < 4; ++i) {
      fillers.push_back(Socket::create(AF_INET, SOCK_STREAM));
      pending.push_back(asyncio::create_task([](int fd, SockAddr a) -> Coro<> {
        co_await asyncio::sock_connect(fd, a);
      }(fillers.back().fd(), l.addr)));
    }
    co_await asyncio::sleep(0.1s);
    int still_pending = 0;
    for (auto& t : pending) {
      if (!t.done()) {
        ++still_pending;
        t.cancel();
        EXPECT_THROW(co_await t, asyncio::CancelledError);
      }
    }
    EXPECT_GE(still_pending, 1);
  }());
}

TEST(SockTest, SendallToClosedPeerRaisesBrokenPipeWithoutSigpipe) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = socket_pair();
    b.close();
    std::string data(1 << 16, 'z');
    try {
      for (int i = 0; i < 100; ++i) co_await asyncio::sock_sendall(a.fd(), data);
      ADD_FAILURE() << "sendall to a closed peer should fail";
    } catch (const asyncio::BrokenPipeError& e) {
      EXPECT_EQ(e.code(), std::errc::broken_pipe);
    }
  }());
}

TEST(SockTest, RecvfromAndSendtoUdp) {
  nettest::run([]() -> Coro<> {
    for (const char* host : {"127.0.0.1", "::1"}) {
      SockAddr any = SockAddr::inet(host, 0);
      Socket srv = Socket::create(any.family(), SOCK_DGRAM);
      srv.bind(any);
      SockAddr srv_addr = srv.getsockname();
      Socket cli = Socket::create(any.family(), SOCK_DGRAM);
      cli.bind(any);
      int sfd = srv.fd();
      auto echo = asyncio::create_task([](int fd) -> Coro<> {
        auto [data, from] = co_await asyncio::sock_recvfrom(fd, 2048);
        co_await asyncio::sock_sendto(fd, "echo:" + data, from);
      }(sfd));
      EXPECT_EQ(co_await asyncio::sock_sendto(cli.fd(), "dgram", srv_addr), 5u);
      std::byte buf[64];
      auto [n, from] = co_await asyncio::sock_recvfrom_into(cli.fd(), buf);
      EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), n), "echo:dgram");
      EXPECT_EQ(from, srv_addr);
      co_await echo;
    }
  }());
}

TEST(SockTest, GetaddrinfoNumericAndLocalhost) {
  nettest::run([]() -> Coro<> {
    auto infos = co_await asyncio::getaddrinfo("127.0.0.1", 80, AF_INET, SOCK_STREAM);
    CO_ASSERT_EQ(infos.size(), 1u);
    EXPECT_EQ(infos[0].addr.to_string(), "('127.0.0.1', 80)");
    auto local = co_await asyncio::getaddrinfo("localhost", "8080", 0, SOCK_STREAM);
    CO_ASSERT_TRUE(!local.empty());
    for (const auto& i : local) EXPECT_EQ(i.addr.port(), 8080);
    auto v6 = co_await asyncio::getaddrinfo("::1", 443, AF_INET6, SOCK_STREAM);
    CO_ASSERT_EQ(v6.size(), 1u);
    EXPECT_EQ(v6[0].addr.to_string(), "('::1', 443, 0, 0)");
  }());
}

TEST(SockTest, GetaddrinfoFailureIsGaierrorNamingTheHost) {
  nettest::run([]() -> Coro<> {
    try {
      // AI_NUMERICHOST: fails locally, no DNS query leaves the machine.
      co_await asyncio::getaddrinfo("no-such-host.invalid", 80, 0, SOCK_STREAM, 0, AI_NUMERICHOST);
      ADD_FAILURE() << "should fail";
    } catch (const asyncio::gaierror& e) {
      EXPECT_EQ(e.code().category(), asyncio::netdb_category());
      EXPECT_EQ(e.code().value(), EAI_NONAME);
      EXPECT_STREQ(e.what(), "[Errno -2] Name or service not known");  // CPython 3.12's str()
      EXPECT_EQ(e.strerror(), "Name or service not known");
    }
  }());
}

TEST(SockTest, CancelGetaddrinfoDropsTheResult) {
  nettest::run([]() -> Coro<> {
    auto t = asyncio::create_task(asyncio::getaddrinfo("localhost", 80));
    co_await asyncio::sleep(0s);
    t.cancel();
    EXPECT_THROW(co_await t, asyncio::CancelledError);
    co_await asyncio::sleep(0.05s);  // the worker finishes; its result is dropped safely
  }());
}

TEST(SockTest, Getnameinfo) {
  nettest::run([]() -> Coro<> {
    auto [host, port] = co_await asyncio::getnameinfo(SockAddr::inet("127.0.0.1", 8080),
                                                      NI_NUMERICHOST | NI_NUMERICSERV);
    EXPECT_EQ(host, "127.0.0.1");
    EXPECT_EQ(port, "8080");
  }());
}

TEST(SockTest, SockAddrFormatsLikePython) {
  EXPECT_EQ(SockAddr::inet("10.1.2.3", 80).to_string(), "('10.1.2.3', 80)");
  EXPECT_EQ(SockAddr::inet("::1", 80).to_string(), "('::1', 80, 0, 0)");
  EXPECT_EQ(SockAddr::unix_path("/tmp/s").to_string(), "'/tmp/s'");
  EXPECT_EQ(SockAddr::unix_path("/tmp/s").path(), "/tmp/s");
  EXPECT_THROW(SockAddr::inet("localhost", 80), asyncio::ValueError);
}

TEST(SockTest, DebugModeRejectsBlockingSockets) {
  asyncio::run(
      []() -> Coro<> {
        int fds[2];
        CO_ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
        Socket a(fds[0]), b(fds[1]);
        EXPECT_THROW(co_await asyncio::sock_recv(a.fd(), 1), asyncio::ValueError);
      }(),
      true);
}

TEST(SockTest, NoFdLeaks) {
  int before = nettest::count_fds();
  nettest::run([]() -> Coro<> {
    Listener l = listen_on("127.0.0.1");
    for (int i = 0; i < 20; ++i) {
      int lfd = l.sock.fd();
      auto acc = asyncio::create_task([](int fd) -> Coro<> {
        auto r = co_await asyncio::sock_accept(fd);
        (void)r;
      }(lfd));
      Socket c = Socket::create(AF_INET, SOCK_STREAM);
      co_await asyncio::sock_connect(c.fd(), l.addr);
      co_await acc;
      SockAddr refused = refused_address("127.0.0.1");
      Socket d = Socket::create(AF_INET, SOCK_STREAM);
      try {
        co_await asyncio::sock_connect(d.fd(), refused);
      } catch (const asyncio::ConnectionRefusedError&) {
      }
    }
  }());
  EXPECT_EQ(nettest::count_fds(), before);
}
