// Tests of Happy Eyeballs in create_connection (Python 3.12: happy_eyeballs_delay=,
// interleave=, staggered.staggered_race) against real listeners on 127.0.0.1 and ::1, a
// "black hole" (a listener whose accept queue is full: the kernel drops further SYNs, so a
// connect hangs) and refused ports. The race itself is driven through the internal
// happy_eyeballs_connect() with explicit addresses, since this machine's resolver may not map
// a name to both families; the end-to-end test through create_connection("localhost")
// runs where it does.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "../src/happy_eyeballs.hpp"
#include "asyncio/asyncio.hpp"
#include "net_helpers.hpp"

namespace {

using asyncio::AddrInfo;
using asyncio::Coro;
using asyncio::SockAddr;
using asyncio::Socket;
using namespace std::chrono_literals;

AddrInfo info(const std::string& ip, std::uint16_t port) {
  SockAddr a = SockAddr::inet(ip, port);
  return AddrInfo{a.family(), SOCK_STREAM, IPPROTO_TCP, "", a};
}

/// A listener whose accept queue is full: connects to it hang (SYNs are dropped).
struct BlackHole {
  Socket listener;
  Socket filler;
  std::uint16_t port = 0;
  explicit BlackHole(const std::string& ip, std::uint16_t want_port = 0) {
    SockAddr a = SockAddr::inet(ip, want_port);
    listener = Socket::create(a.family(), SOCK_STREAM);
    listener.bind(a);
    listener.listen(0);
    port = listener.getsockname().port();
    filler = Socket::create(a.family(), SOCK_STREAM);
    ::connect(filler.fd(), SockAddr::inet(ip, port).data(), SockAddr::inet(ip, port).size());
  }
};

/// A listener that accepts (the kernel completes the handshake; nobody needs to accept).
struct Listener {
  Socket sock;
  std::uint16_t port = 0;
  explicit Listener(const std::string& ip, std::uint16_t want_port = 0) {
    SockAddr a = SockAddr::inet(ip, want_port);
    sock = Socket::create(a.family(), SOCK_STREAM);
    if (a.family() == AF_INET6) sock.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1);
    sock.bind(a);
    sock.listen(16);
    port = sock.getsockname().port();
  }
};

/// A port with no listener on `ip` (bound, not listening: connects are refused).
struct Refusing {
  Socket sock;
  std::uint16_t port = 0;
  explicit Refusing(const std::string& ip) {
    SockAddr a = SockAddr::inet(ip, 0);
    sock = Socket::create(a.family(), SOCK_STREAM);
    sock.bind(a);
    port = sock.getsockname().port();
  }
};

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Python: _interleave_addrinfos([a6, b6, c6, a4, b4], n) for n = 1, 2, 5 gives
//   [a6, a4, b6, b4, c6] / [a6, b6, a4, c6, b4] / [a6, b6, c6, a4, b4]
TEST(HappyEyeballsTest, InterleaveOrderIsPythons) {
  std::vector<AddrInfo> in{info("::1", 1), info("::1", 2), info("::1", 3), info("127.0.0.1", 1),
                           info("127.0.0.1", 2)};
  auto names = [](const std::vector<AddrInfo>& v) {
    std::string s;
    for (const auto& i : v)
      s += (i.family == AF_INET6 ? "6:" : "4:") + std::to_string(i.addr.port()) + " ";
    return s;
  };
  EXPECT_EQ(names(asyncio::detail::interleave_addrinfos(in, 1)), "6:1 4:1 6:2 4:2 6:3 ");
  EXPECT_EQ(names(asyncio::detail::interleave_addrinfos(in, 2)), "6:1 6:2 4:1 6:3 4:2 ");
  EXPECT_EQ(names(asyncio::detail::interleave_addrinfos(in, 5)), "6:1 6:2 6:3 4:1 4:2 ");
}

TEST(HappyEyeballsTest, HangingFirstAddressLosesToTheStaggeredSecond) {
  BlackHole hole("::1");
  Listener ok("127.0.0.1");
  int fds_before = nettest::count_fds();
  nettest::run([](std::uint16_t hole_port, std::uint16_t ok_port) -> Coro<> {
    std::vector<AddrInfo> infos{info("::1", hole_port), info("127.0.0.1", ok_port)};
    std::vector<std::exception_ptr> errors;
    SockAddr winner;
    double t0 = now();
    Socket s =
        co_await asyncio::detail::happy_eyeballs_connect(infos, std::nullopt, 0.2s, errors, winner);
    double elapsed = now() - t0;
    CO_ASSERT_TRUE(s.valid());
    EXPECT_EQ(winner, SockAddr::inet("127.0.0.1", ok_port));
    EXPECT_EQ(s.getpeername(), SockAddr::inet("127.0.0.1", ok_port));
    EXPECT_TRUE(errors.empty());
    // The second attempt started after the delay, not before, and long before the first
    // would have timed out (sequential attempts would hang here).
    EXPECT_GE(elapsed, 0.15);
    EXPECT_LT(elapsed, 5.0);
  }(hole.port, ok.port));
  // The hanging attempt was cancelled and its socket closed.
  EXPECT_EQ(nettest::count_fds(), fds_before);
}

TEST(HappyEyeballsTest, ARefusedAttemptStartsTheNextAtOnce) {
  Refusing refused("::1");
  Listener ok("127.0.0.1");
  nettest::run([](std::uint16_t bad, std::uint16_t good) -> Coro<> {
    std::vector<AddrInfo> infos{info("::1", bad), info("127.0.0.1", good)};
    std::vector<std::exception_ptr> errors;
    SockAddr winner;
    double t0 = now();
    // A 30 s delay: only the failure of the first attempt can start the second in time.
    Socket s =
        co_await asyncio::detail::happy_eyeballs_connect(infos, std::nullopt, 30s, errors, winner);
    EXPECT_LT(now() - t0, 5.0);
    CO_ASSERT_TRUE(s.valid());
    EXPECT_EQ(winner.family(), AF_INET);
  }(refused.port, ok.port));
}

TEST(HappyEyeballsTest, AllFailingGivesTheErrorsInAddressOrder) {
  Refusing r6("::1");
  Refusing r4("127.0.0.1");
  nettest::run([](std::uint16_t p6, std::uint16_t p4) -> Coro<> {
    std::vector<AddrInfo> infos{info("::1", p6), info("127.0.0.1", p4)};
    std::vector<std::exception_ptr> errors;
    SockAddr winner;
    Socket s = co_await asyncio::detail::happy_eyeballs_connect(infos, std::nullopt, 0.05s, errors,
                                                                winner);
    EXPECT_FALSE(s.valid());
    CO_ASSERT_EQ(errors.size(), 2u);
    auto text = [](const std::exception_ptr& e) -> std::string {
      try {
        std::rethrow_exception(e);
      } catch (const asyncio::ConnectionRefusedError& c) {
        return c.what();
      } catch (...) {
        return "?";
      }
    };
    EXPECT_NE(text(errors[0]).find("('::1', " + std::to_string(p6)), std::string::npos)
        << text(errors[0]);
    EXPECT_NE(text(errors[1]).find("('127.0.0.1', " + std::to_string(p4) + ")"), std::string::npos)
        << text(errors[1]);
  }(r6.port, r4.port));
}

TEST(HappyEyeballsTest, SeveralHangingAttemptsAllClosedWhenOneWins) {
  BlackHole h1("::1");
  BlackHole h2("127.0.0.1");
  BlackHole h3("::1");
  Listener ok("127.0.0.1");
  int fds_before = nettest::count_fds();
  nettest::run([](std::uint16_t a, std::uint16_t b, std::uint16_t c, std::uint16_t d) -> Coro<> {
    std::vector<AddrInfo> infos{info("::1", a), info("127.0.0.1", b), info("::1", c),
                                info("127.0.0.1", d)};
    std::vector<std::exception_ptr> errors;
    SockAddr winner;
    Socket s = co_await asyncio::detail::happy_eyeballs_connect(infos, std::nullopt, 0.05s, errors,
                                                                winner);
    CO_ASSERT_TRUE(s.valid());
    EXPECT_EQ(winner.port(), d);
  }(h1.port, h2.port, h3.port, ok.port));
  EXPECT_EQ(nettest::count_fds(), fds_before);
}

TEST(HappyEyeballsTest, CancellingTheRaceClosesEveryAttempt) {
  BlackHole h1("::1");
  BlackHole h2("127.0.0.1");
  int fds_before = nettest::count_fds();
  nettest::run([](std::uint16_t a, std::uint16_t b) -> Coro<> {
    std::vector<AddrInfo> infos{info("::1", a), info("127.0.0.1", b)};
    std::vector<std::exception_ptr> errors;
    SockAddr winner;
    auto task = asyncio::create_task(
        asyncio::detail::happy_eyeballs_connect(infos, std::nullopt, 0.01s, errors, winner));
    co_await asyncio::sleep(0.1s);  // both attempts are hanging now
    task.cancel();
    bool cancelled = false;
    try {
      (void)co_await task;
    } catch (const asyncio::CancelledError&) {
      cancelled = true;
    }
    EXPECT_TRUE(cancelled);
  }(h1.port, h2.port));
  EXPECT_EQ(nettest::count_fds(), fds_before);
}

// End to end: create_connection with happy_eyeballs_delay on a numeric host (one address)
// and, where "localhost" resolves to both families, with a black hole on one of them.
TEST(HappyEyeballsTest, CreateConnectionWithHappyEyeballsOptions) {
  Listener ok("127.0.0.1");
  nettest::run([](std::uint16_t port) -> Coro<> {
    auto [r, w] = co_await asyncio::open_connection(
        "127.0.0.1", port, {.happy_eyeballs_delay = 0.25s, .interleave = 1});
    EXPECT_EQ(w.extra<SockAddr>("peername"), SockAddr::inet("127.0.0.1", port));
    w.close();
    co_await w.wait_closed();
    // Python: ConnectionRefusedError [Errno 111] Connect call failed ('127.0.0.1', 1)
    bool refused = false;
    try {
      (void)co_await asyncio::open_connection("127.0.0.1", 1, {.happy_eyeballs_delay = 0.1s});
    } catch (const asyncio::ConnectionRefusedError&) {
      refused = true;
    }
    EXPECT_TRUE(refused);
  }(ok.port));
}

TEST(HappyEyeballsTest, LocalhostWithBothFamiliesEndToEnd) {
  std::vector<AddrInfo> infos =
      asyncio::detail::getaddrinfo_blocking("localhost", "80", AF_UNSPEC, SOCK_STREAM, 0, 0);
  bool v4 = false, v6 = false;
  for (const auto& i : infos) {
    if (i.family == AF_INET) v4 = true;
    if (i.family == AF_INET6) v6 = true;
  }
  if (!v4 || !v6) GTEST_SKIP() << "localhost does not resolve to both ::1 and 127.0.0.1 here";
  int first = infos.front().family;
  // A black hole on the family tried first, a listener on the other, same port.
  std::string hole_ip = first == AF_INET6 ? "::1" : "127.0.0.1";
  std::string ok_ip = first == AF_INET6 ? "127.0.0.1" : "::1";
  BlackHole hole(hole_ip);
  Listener ok(ok_ip, hole.port);
  nettest::run([](std::uint16_t port, std::string ok_ip) -> Coro<> {
    auto [r, w] =
        co_await asyncio::open_connection("localhost", port, {.happy_eyeballs_delay = 0.2s});
    EXPECT_EQ(w.extra<SockAddr>("peername")->host(), ok_ip);
    w.close();
    co_await w.wait_closed();
  }(hole.port, ok_ip));
}

}  // namespace
