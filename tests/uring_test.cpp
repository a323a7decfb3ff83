// What only the io_uring backend's completion path has (src/uring_transport.cpp, the multishot
// accept in src/server.cpp): operations the kernel carries out on buffers we own, so the tests
// are about their ownership (cancel, close, abort, loop close, transport dropped while a send
// is in flight), the pause_reading() race (bytes the kernel received after the pause), and the
// provided-buffer group running dry. Every test runs on a loop built with Backend::io_uring and
// is skipped, with the reason, when the kernel refuses io_uring. The semantics every backend
// shares are covered by the whole suite, which CI runs once more with ASYNCIO_BACKEND=io_uring.

#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "net_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::Protocol;
using asyncio::Transport;

namespace {

/// A loop on the io_uring backend, or nullptr (then `why` says why not).
std::unique_ptr<asyncio::EventLoop> uring_loop(std::string& why) {
  try {
    auto loop = std::make_unique<asyncio::EventLoop>(asyncio::Backend::io_uring);
    if (std::string(loop->backend_name()) == "io_uring") return loop;
    why = std::string("the loop fell back to ") + loop->backend_name();
  } catch (const std::exception& e) {
    why = e.what();
  }
  return nullptr;
}

#define NEED_URING(loop)                                             \
  std::string why_##loop;                                            \
  auto loop = uring_loop(why_##loop);                                \
  if (!loop) GTEST_SKIP() << "io_uring unavailable: " << why_##loop; \
  struct CloseAtEnd {                                                \
    asyncio::EventLoop* l;                                           \
    ~CloseAtEnd() { l->close(); }                                    \
  } close_##loop {                                                   \
    loop.get()                                                       \
  }

template <class T>
T run_on(asyncio::EventLoop& loop, Coro<T> coro, asyncio::Duration limit = 30s) {
  return loop.run_until_complete(asyncio::wait_for(std::move(coro), limit));
}

std::uint16_t port_of(const asyncio::Server& s) {
  return s.sockets().at(0).getsockname().port();
}

/// `n` bytes of a pattern in which every offset is recognisable: losing, duplicating or
/// reordering a chunk shows as a mismatch at its offset.
std::string pattern(std::size_t n, std::size_t seed = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + i / 251 + seed) & 0xff);
  return s;
}

/// Collects what it receives; pauses reading after every data_received() (and resumes on the
/// next iteration) when `pausing`, so that CQEs keep arriving after pause_reading().
struct Collector : Protocol {
  Transport* transport = nullptr;
  std::string data;
  bool pausing = false;
  int losses = 0;
  std::exception_ptr lost_exc;
  asyncio::Future<void> done = asyncio::get_running_loop().create_future<void>();
  void connection_made(Transport& t) override { transport = &t; }
  void data_received(std::span<const std::byte> d) override {
    data.append(as_chars(d));
    if (pausing && transport->is_reading()) {
      transport->pause_reading();
      asyncio::get_running_loop().call_soon(
          [t = transport->shared_from_this()] { static_cast<Transport&>(*t).resume_reading(); });
    }
  }
  void connection_lost(std::exception_ptr exc) override {
    ++losses;
    lost_exc = exc;
    if (!done.done()) done.set_result();
  }
};

/// A BufferedProtocol with a small buffer that pauses reading from buffer_updated().
struct SmallBuffered : asyncio::BufferedProtocol {
  Transport* transport = nullptr;
  std::string data;
  std::array<std::byte, 1000> buf{};
  asyncio::Future<void> done = asyncio::get_running_loop().create_future<void>();
  void connection_made(Transport& t) override { transport = &t; }
  std::span<std::byte> get_buffer(std::ptrdiff_t) override { return buf; }
  void buffer_updated(std::size_t n) override {
    data.append(reinterpret_cast<const char*>(buf.data()), n);
    if (transport->is_reading()) {
      transport->pause_reading();
      asyncio::get_running_loop().call_soon(
          [t = transport->shared_from_this()] { static_cast<Transport&>(*t).resume_reading(); });
    }
  }
  void connection_lost(std::exception_ptr) override {
    if (!done.done()) done.set_result();
  }
};

/// Sends `payload` on a new connection to `port`, then EOF.
Coro<> send_all(std::uint16_t port, std::string payload) {
  auto [r, w] = co_await asyncio::open_connection("127.0.0.1", port);
  for (std::size_t off = 0; off < payload.size(); off += 64 * 1024) {
    w.write(std::string_view(payload).substr(off, 64 * 1024));
    co_await w.drain();
  }
  w.write_eof();
  co_await r.read();  // until the server closes
  w.close();
}

}  // namespace

// pause_reading() inside data_received() while the multishot recv keeps filling buffers: what
// the kernel received after the pause is delivered on resume_reading(), nothing lost, in order.
TEST(UringTest, PauseReadingRaceKeepsEveryByteInOrder) {
  NEED_URING(loop);
  run_on(*loop, []() -> Coro<> {
    std::shared_ptr<Collector> sp;
    auto server = co_await asyncio::create_server(
        [&] {
          sp = std::make_shared<Collector>();
          sp->pausing = true;
          return sp;
        },
        "127.0.0.1", 0);
    const std::string payload = pattern(8 << 20);
    auto sender = asyncio::create_task(send_all(port_of(server), payload));
    while (!sp) co_await asyncio::sleep(1ms);
    while (sp->data.size() < payload.size() && !sp->done.done()) co_await asyncio::sleep(1ms);
    EXPECT_EQ(sp->data.size(), payload.size());
    EXPECT_TRUE(sp->data == payload) << "bytes lost or reordered";
    if (!sp->done.done()) sp->transport->close();
    co_await sender;
    server.close();
  }());
}

TEST(UringTest, BufferedProtocolPausingMidBufferKeepsTheRest) {
  NEED_URING(loop);
  run_on(*loop, []() -> Coro<> {
    std::shared_ptr<SmallBuffered> sp;
    auto server = co_await asyncio::create_server(
        [&] { return sp = std::make_shared<SmallBuffered>(); }, "127.0.0.1", 0);
    const std::string payload = pattern(2 << 20, 7);
    auto sender = asyncio::create_task(send_all(port_of(server), payload));
    while (!sp) co_await asyncio::sleep(1ms);
    while (sp->data.size() < payload.size() && !sp->done.done()) co_await asyncio::sleep(1ms);
    EXPECT_TRUE(sp->data == payload) << "got " << sp->data.size() << " of " << payload.size();
    if (!sp->done.done()) sp->transport->close();
    co_await sender;
    server.close();
  }());
}

// Many connections bursting at once run the provided-buffer group dry (-ENOBUFS ends a
// multishot recv, which is armed again): every connection still gets all its bytes, in order.
TEST(UringTest, ProvidedBuffersExhaustedNoDataLost) {
  NEED_URING(loop);
  run_on(*loop, []() -> Coro<> {
    std::vector<std::shared_ptr<Collector>> conns;
    auto server = co_await asyncio::create_server(
        [&] { return conns.emplace_back(std::make_shared<Collector>()); }, "127.0.0.1", 0);
    constexpr int kConns = 64;
    constexpr std::size_t kBytes = 1 << 20;
    std::vector<asyncio::Task<void>> senders;
    for (int i = 0; i < kConns; ++i) {
      senders.push_back(asyncio::create_task(send_all(port_of(server), pattern(kBytes, i))));
    }
    auto all_in = [&] {
      if (conns.size() < kConns) return false;
      for (auto& c : conns)
        if (c->data.size() < kBytes && !c->done.done()) return false;
      return true;
    };
    while (!all_in()) co_await asyncio::sleep(1ms);
    // Each connection's pattern has its own seed: find it from the first byte.
    std::vector<bool> seen(kConns, false);
    for (auto& c : conns) {
      EXPECT_EQ(c->data.size(), kBytes);
      int seed = c->data.empty() ? kConns : static_cast<unsigned char>(c->data[0]);
      EXPECT_LT(seed, kConns);
      if (seed >= kConns) continue;
      EXPECT_FALSE(seen[seed]);
      seen[seed] = true;
      EXPECT_TRUE(c->data == pattern(kBytes, seed)) << "connection " << seed;
      if (!c->done.done()) c->transport->close();
    }
    for (auto& s : senders) co_await s;
    server.close();
  }());
}

// close() with a send in flight flushes it, then connection_lost(None) once; abort() with a
// send in flight drops it: connection_lost(None) once, nothing buffered any more.
TEST(UringTest, CloseFlushesAndAbortDropsSendsInFlight) {
  NEED_URING(loop);
  run_on(*loop, []() -> Coro<> {
    std::shared_ptr<Collector> sp;
    auto server = co_await asyncio::create_server(
        [&] { return sp = std::make_shared<Collector>(); }, "127.0.0.1", 0);
    auto tc = co_await asyncio::create_connection([] { return std::make_shared<Collector>(); },
                                                  "127.0.0.1", port_of(server));
    auto& [t, c] = tc;
    const std::string small = pattern(1000, 1);
    t->write(small);
    EXPECT_EQ(t->get_write_buffer_size(), 0u);  // handed to the send: Python's socket took it
    t->write(small);
    const std::string big = pattern(4 << 20, 2);
    t->write(big);
    t->close();
    EXPECT_TRUE(t->is_closing());
    co_await c->done;
    EXPECT_EQ(c->losses, 1);
    EXPECT_EQ(c->lost_exc, nullptr);
    while (!sp || !sp->done.done()) co_await asyncio::sleep(1ms);
    EXPECT_TRUE(sp->data == small + small + big);

    std::shared_ptr<Collector> sp2;
    sp = nullptr;
    auto tc2 = co_await asyncio::create_connection([] { return std::make_shared<Collector>(); },
                                                   "127.0.0.1", port_of(server));
    auto& [t2, c2] = tc2;
    while (!sp) co_await asyncio::sleep(1ms);
    sp->transport->pause_reading();  // the peer does not read: sends stay in flight
    for (int i = 0; i < 64; ++i) t2->write(big);
    EXPECT_GT(t2->get_write_buffer_size(), 0u);
    t2->abort();
    EXPECT_EQ(t2->get_write_buffer_size(), 0u);
    co_await c2->done;
    EXPECT_EQ(c2->losses, 1);
    EXPECT_EQ(c2->lost_exc, nullptr);
    co_await asyncio::sleep(10ms);
    EXPECT_EQ(c2->losses, 1);
    sp->transport->close();
    server.close();
  }());
}

// The application drops every reference to a transport it aborted while a send is still in
// the kernel's hands: the transport lives on until the final CQE (ASan checks the rest).
TEST(UringTest, TransportDroppedWhileSendInFlight) {
  NEED_URING(loop);
  int fds = nettest::count_fds();
  run_on(*loop, []() -> Coro<> {
    std::shared_ptr<Collector> sp;
    auto server = co_await asyncio::create_server(
        [&] { return sp = std::make_shared<Collector>(); }, "127.0.0.1", 0);
    std::shared_ptr<Collector> client;
    {
      auto tc = co_await asyncio::create_connection([] { return std::make_shared<Collector>(); },
                                                    "127.0.0.1", port_of(server));
      client = tc.second;
      while (!sp) co_await asyncio::sleep(1ms);
      sp->transport->pause_reading();
      const std::string big = pattern(16 << 20, 3);
      tc.first->write(big);
      tc.first->abort();
    }
    client->transport = nullptr;
    co_await client->done;
    for (int i = 0; i < 20; ++i) co_await asyncio::sleep(1ms);
    EXPECT_EQ(client->losses, 1);
    sp->transport->close();
    server.close();
    co_await server.wait_closed();
  }());
  run_on(*loop, []() -> Coro<> { co_await asyncio::sleep(10ms); }());
  EXPECT_EQ(nettest::count_fds(), fds);
}

// The loop closes with receives and sends in flight and connections never closed: close()
// drains the ring (every final CQE delivered) before anything they own is freed.
TEST(UringTest, LoopCloseWithOperationsInFlight) {
  int fds = nettest::count_fds();
  {
    NEED_URING(loop);
    run_on(*loop, []() -> Coro<> {
      std::vector<std::shared_ptr<Collector>> keep;
      auto server = co_await asyncio::create_server(
          [&] {
            auto p = std::make_shared<Collector>();
            keep.push_back(p);
            return p;
          },
          "127.0.0.1", 0);
      for (int i = 0; i < 8; ++i) {
        auto tc = co_await asyncio::create_connection([] { return std::make_shared<Collector>(); },
                                                      "127.0.0.1", port_of(server));
        tc.first->write(pattern(8 << 20, static_cast<std::size_t>(i)));  // a send in flight
      }
      while (keep.size() < 8) co_await asyncio::sleep(1ms);
      for (auto& p : keep) p->transport->pause_reading();
      co_await asyncio::sleep(5ms);
      // Leave everything open: the loop's close() has to clean up.
    }());
  }
  EXPECT_EQ(nettest::count_fds(), fds);
}

// A cancelled sock_recv_into whose buffer (in the cancelled coroutine's frame) is gone before
// the peer sends: the kernel must not write into it (ASan/valgrind would see the frame reused).
TEST(UringTest, CancelledRecvIntoLeavesNoWriteBehind) {
  NEED_URING(loop);
  run_on(*loop, []() -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    auto reader = asyncio::create_task([](int fd) -> Coro<std::size_t> {
      std::array<std::byte, 4096> buf{};
      co_return co_await asyncio::sock_recv_into(fd, buf);
    }(a.fd()));
    co_await asyncio::sleep(1ms);
    reader.cancel();
    EXPECT_THROW(co_await reader, asyncio::CancelledError);
    // The frame (and its buffer) is gone; fill the heap where it was, then send.
    std::vector<std::string> filler;
    for (int i = 0; i < 64; ++i) filler.emplace_back(4096, 'f');
    co_await asyncio::sock_sendall(b.fd(), "not for the cancelled reader");
    co_await asyncio::sleep(5ms);
    for (auto& f : filler) EXPECT_EQ(f, std::string(4096, 'f'));
    std::string got = co_await asyncio::sock_recv(a.fd(), 100);
    EXPECT_EQ(got, "not for the cancelled reader");  // the cancelled read took nothing
  }());
}

// server.close() refuses new connections at once although a multishot accept was in flight.
TEST(UringTest, ServerCloseRefusesConnectionsAtOnce) {
  NEED_URING(loop);
  run_on(*loop, []() -> Coro<> {
    auto server = co_await asyncio::create_server([] { return std::make_shared<Collector>(); },
                                                  "127.0.0.1", 0);
    std::uint16_t port = port_of(server);
    co_await asyncio::sleep(1ms);  // the accept is in the kernel now
    server.close();
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);  // blocking: no loop iteration in between
    auto addr = asyncio::SockAddr::inet("127.0.0.1", port);
    int rc = ::connect(fd, addr.data(), addr.size());
    int err = errno;
    ::close(fd);
    EXPECT_EQ(rc, -1);
    EXPECT_EQ(err, ECONNREFUSED);
    co_await server.wait_closed();
  }());
}

// A BufferedProtocol that hands the connection to a plain Protocol from buffer_updated(), in
// the middle of one completion's bytes: the rest goes to the new protocol at once, in order.
TEST(UringTest, SetProtocolMidCompletionHandsTheRestOn) {
  NEED_URING(loop);
  run_on(*loop, []() -> Coro<> {
    struct Switching : asyncio::BufferedProtocol {
      Transport* transport = nullptr;
      std::string data;
      std::array<std::byte, 100> buf{};
      std::shared_ptr<Collector> next;
      void connection_made(Transport& t) override { transport = &t; }
      std::span<std::byte> get_buffer(std::ptrdiff_t) override { return buf; }
      void buffer_updated(std::size_t n) override {
        data.append(reinterpret_cast<const char*>(buf.data()), n);
        if (!next) {
          next = std::make_shared<Collector>();
          next->transport = transport;
          transport->set_protocol(next);
        }
      }
    };
    std::shared_ptr<Switching> sp;
    auto server = co_await asyncio::create_server(
        [&] { return sp = std::make_shared<Switching>(); }, "127.0.0.1", 0);
    const std::string payload = pattern(3000, 5);
    auto [r, w] = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    w.write(payload);  // no EOF: nothing else comes that could flush what was kept back
    co_await w.drain();
    for (int i = 0; i < 1000; ++i) {
      if (sp && sp->next && sp->data.size() + sp->next->data.size() >= payload.size()) break;
      co_await asyncio::sleep(1ms);
    }
    CO_ASSERT_TRUE(sp && sp->next);
    EXPECT_EQ(sp->data.size(), 100u);
    EXPECT_TRUE(sp->data + sp->next->data == payload)
        << "got " << sp->data.size() + sp->next->data.size() << " of " << payload.size();
    w.close();
    co_await w.wait_closed();
    server.close();
  }());
}

// An echo protocol writes back the bytes data_received() views: the send goes out from the
// provided buffer itself, which returns to the group when the send completes. Connections
// whose peer does not read keep their buffer lent; the others must still get every byte, in
// order, and closing everything returns the buffers (ASan: nothing sent from a recycled one).
TEST(UringTest, EchoFromProvidedBuffersWithStuckPeers) {
  NEED_URING(loop);
  run_on(*loop, []() -> Coro<> {
    struct Echo : Protocol {
      Transport* t = nullptr;
      void connection_made(Transport& tr) override { t = &tr; }
      void data_received(std::span<const std::byte> d) override { t->write(d); }
    };
    auto server =
        co_await asyncio::create_server([] { return std::make_shared<Echo>(); }, "127.0.0.1", 0);
    std::uint16_t port = port_of(server);
    std::vector<asyncio::StreamWriter> stuck;
    for (int i = 0; i < 16; ++i) {
      auto [r, w] = co_await asyncio::open_connection("127.0.0.1", port);
      w.write(pattern(2 << 20, static_cast<std::size_t>(i)));  // never read back
      stuck.push_back(w);
    }
    auto echo_one = [](std::uint16_t port, std::size_t seed) -> Coro<bool> {
      auto [r, w] = co_await asyncio::open_connection("127.0.0.1", port);
      const std::string payload = pattern(256 * 1024, seed);
      auto writer = asyncio::create_task([](asyncio::StreamWriter w, std::string p) -> Coro<> {
        for (std::size_t off = 0; off < p.size(); off += 1000) {
          w.write(std::string_view(p).substr(off, 1000));
          co_await w.drain();
        }
      }(w, payload));
      std::string got = co_await r.readexactly(payload.size());
      co_await writer;
      w.close();
      co_await w.wait_closed();
      co_return got == payload;
    };
    std::vector<asyncio::Task<bool>> echoes;
    for (int i = 0; i < 16; ++i) {
      echoes.push_back(asyncio::create_task(echo_one(port, 100 + static_cast<std::size_t>(i))));
    }
    for (auto& e : echoes) EXPECT_TRUE(co_await e) << "echo lost or reordered bytes";
    for (auto& w : stuck) w.transport()->abort();
    server.close();
    co_await server.wait_closed();
  }());
}
