// StreamReader::readinto() (a C++ addition: read(n) into the caller's memory) and the reader's
// buffer that the socket transport receives into: partial reads, EOF, errors, cancellation,
// the limit's flow control, and large transfers over real sockets.

#include <sys/socket.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "net_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::StreamReader;
using asyncio::StreamWriter;

namespace {

std::uint16_t port_of(const asyncio::Server& s) {
  return s.sockets().at(0).getsockname().port();
}

std::string as_string(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

/// Deterministic bytes that differ at every offset (a shifted or repeated chunk shows).
std::string pattern(std::size_t n, std::size_t seed = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 131 + seed * 7 + i / 251) & 0xff);
  return s;
}

/// A blocking send of all of `s` on a raw socket.
bool send_all(int fd, std::string_view s) {
  return ::send(fd, s.data(), s.size(), 0) == static_cast<ssize_t>(s.size());
}

/// Reads with readinto() through a `chunk`-byte buffer until EOF.
Coro<std::string> readinto_all(StreamReader r, std::size_t chunk) {
  std::vector<std::byte> buf(chunk);
  std::string all;
  while (true) {
    std::size_t n = co_await r.readinto(buf);
    if (n == 0) break;
    EXPECT_LE(n, chunk);
    all += as_string(std::span(buf).first(n));
  }
  co_return all;
}

}  // namespace

// ---- Fed by hand -------------------------------------------------------------------------------

TEST(StreamReadintoTest, PartialReadsAndEof) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    r.feed_data("hello world");
    std::array<char, 5> small{};
    EXPECT_EQ(co_await r.readinto(small), 5u);
    EXPECT_EQ(std::string(small.data(), 5), "hello");
    EXPECT_EQ(r.buffered_size(), 6u);
    std::array<std::byte, 64> big{};
    EXPECT_EQ(co_await r.readinto(big), 6u);  // what is there, without waiting for more
    EXPECT_EQ(as_string(std::span(big).first(6)), " world");
    // An empty buffer returns 0 at once, even with nothing buffered.
    EXPECT_EQ(co_await r.readinto(std::span<char>()), 0u);
    asyncio::get_running_loop().call_later(0.01s, [r]() mutable { r.feed_data("late"); });
    EXPECT_EQ(co_await r.readinto(big), 4u);
    EXPECT_EQ(as_string(std::span(big).first(4)), "late");
    r.feed_eof();
    EXPECT_EQ(co_await r.readinto(big), 0u);
    EXPECT_TRUE(r.at_eof());
  }());
}

TEST(StreamReadintoTest, InterleavesWithTheOtherReads) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    r.feed_data("line one\nrest of it");
    EXPECT_EQ(co_await r.readline(), "line one\n");
    std::string buf(4, '\0');
    EXPECT_EQ(co_await r.readinto(buf), 4u);
    EXPECT_EQ(buf, "rest");
    EXPECT_EQ(co_await r.readexactly(3), " of");
    r.feed_data(" more");
    r.feed_eof();
    EXPECT_EQ(co_await r.read(), " it more");
  }());
}

TEST(StreamReadintoTest, ExceptionWakesAPendingReadintoAndStays) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    std::vector<std::byte> buf(16);
    auto t = asyncio::create_task([](StreamReader r, std::span<std::byte> b) -> Coro<std::size_t> {
      co_return co_await r.readinto(b);
    }(r, buf));
    co_await asyncio::sleep(0s);
    r.set_exception(std::make_exception_ptr(asyncio::ConnectionResetError(ECONNRESET, "reset")));
    EXPECT_THROW(co_await t, asyncio::ConnectionResetError);
    r.feed_data("too late");
    EXPECT_THROW(co_await r.readinto(buf), asyncio::ConnectionResetError);
  }());
}

TEST(StreamReadintoTest, CancelledReadintoCopiesNothingAndKeepsTheData) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    std::string buf(8, '.');
    auto t = asyncio::create_task([](StreamReader r, std::span<char> b) -> Coro<std::size_t> {
      co_return co_await r.readinto(b);
    }(r, buf));
    co_await asyncio::sleep(0s);
    // Data arrives and the task is cancelled before it runs: the data must stay buffered.
    r.feed_data("payload");
    t.cancel();
    EXPECT_THROW(co_await t, asyncio::CancelledError);
    EXPECT_EQ(buf, "........");
    EXPECT_EQ(r.buffered_size(), 7u);
    EXPECT_EQ(co_await r.read(100), "payload");
  }());
}

TEST(StreamReadintoTest, SecondWaiterIsRejected) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    auto t = asyncio::create_task(
        [](StreamReader r) -> Coro<std::string> { co_return co_await r.read(10); }(r));
    co_await asyncio::sleep(0s);
    std::string buf(4, '\0');
    try {
      co_await r.readinto(buf);
      ADD_FAILURE();
    } catch (const asyncio::RuntimeError& e) {
      EXPECT_STREQ(
          e.what(),
          "readinto() called while another coroutine is already waiting for incoming data");
    }
    r.feed_data("x");
    EXPECT_EQ(co_await t, "x");
  }());
}

// ---- Over real sockets -------------------------------------------------------------------------

TEST(StreamReadintoTest, EchoServerOnReadintoCarriesEightMiBIntact) {
  nettest::run([]() -> Coro<> {
    auto server = co_await asyncio::start_server(
        [](StreamReader r, StreamWriter w) -> Coro<> {
          std::vector<std::byte> buf(16 * 1024);
          while (true) {
            std::size_t n = co_await r.readinto(buf);
            if (n == 0) break;
            w.write(std::span<const std::byte>(buf).first(n));
            co_await w.drain();
          }
          w.close();
        },
        "127.0.0.1", 0);
    auto r_w_pair = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    auto& [r, w] = r_w_pair;
    const std::string data = pattern(8 << 20);
    auto reading = asyncio::create_task(readinto_all(r, 7000));  // odd size: splits messages
    for (std::size_t off = 0; off < data.size(); off += 100'000) {
      w.write(std::string_view(data).substr(off, 100'000));
      co_await w.drain();
    }
    w.write_eof();
    std::string back = co_await reading;
    EXPECT_EQ(back.size(), data.size());
    EXPECT_TRUE(back == data) << "echoed bytes differ";
    w.close();
    co_await w.wait_closed();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST(StreamReadintoTest, PartialMessagesAndEofFromTheSocket) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    auto r_w_pair = co_await asyncio::open_connection(std::move(a));
    auto& [r, w] = r_w_pair;
    std::vector<std::byte> buf(64 * 1024);
    CO_ASSERT_TRUE(send_all(b.fd(), "0123456789"));
    EXPECT_EQ(co_await r.readinto(buf), 10u);  // does not wait to fill the buffer
    EXPECT_EQ(as_string(std::span(buf).first(10)), "0123456789");
    CO_ASSERT_TRUE(send_all(b.fd(), "abc"));
    ::shutdown(b.fd(), SHUT_WR);
    std::array<char, 2> two{};
    EXPECT_EQ(co_await r.readinto(two), 2u);
    EXPECT_EQ(std::string(two.data(), 2), "ab");
    EXPECT_EQ(co_await r.readinto(two), 1u);
    EXPECT_EQ(two[0], 'c');
    EXPECT_EQ(co_await r.readinto(buf), 0u);  // EOF
    EXPECT_TRUE(r.at_eof());
    w.close();
    co_await w.wait_closed();
  }());
}

TEST(StreamReadintoTest, ResetConnectionFailsAPendingReadinto) {
  nettest::run([]() -> Coro<> {
    auto server = co_await asyncio::start_server(
        [](StreamReader, StreamWriter w) -> Coro<> {
          // Close with RST: SO_LINGER 0.
          int fd = w.extra<asyncio::TransportSocket>("socket")->fileno();
          linger lg{1, 0};
          ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
          co_await asyncio::sleep(0.02s);
          w.transport()->abort();
        },
        "127.0.0.1", 0);
    auto r_w_pair = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    auto& [r, w] = r_w_pair;
    std::vector<std::byte> buf(1024);
    EXPECT_THROW(co_await r.readinto(buf), asyncio::ConnectionResetError);
    EXPECT_TRUE(r.exception() != nullptr);
    w.close();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST(StreamReadintoTest, CancelWhileWaitingOnASocketThenReadOn) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    auto r_w_pair = co_await asyncio::open_connection(std::move(a));
    auto& [r, w] = r_w_pair;
    std::vector<std::byte> buf(32);
    auto t = asyncio::create_task([](StreamReader r, std::span<std::byte> b) -> Coro<std::size_t> {
      co_return co_await r.readinto(b);
    }(r, buf));
    co_await asyncio::sleep(0.01s);
    EXPECT_FALSE(t.done());
    t.cancel();
    EXPECT_THROW(co_await t, asyncio::CancelledError);
    CO_ASSERT_TRUE(send_all(b.fd(), "after"));
    EXPECT_EQ(co_await asyncio::wait_for(r.readinto(buf), 5s), 5u);
    EXPECT_EQ(as_string(std::span(buf).first(5)), "after");
    w.close();
    co_await w.wait_closed();
  }());
}

// The limit pauses the transport once more than 2 * limit is buffered; readinto() takes data
// out in pieces smaller than what is buffered and must resume it (else this hangs), and is not
// bounded by the limit itself.
TEST(StreamReadintoTest, SmallLimitPausesAndReadintoResumes) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    auto r_w_pair = co_await asyncio::open_connection(std::move(a), {}, /*limit=*/100);
    auto& [r, w] = r_w_pair;
    auto peer_w = co_await asyncio::open_connection(std::move(b));
    StreamWriter pw = peer_w.second;
    const std::string data = pattern(2 << 20, 3);
    auto writing = asyncio::create_task([](StreamWriter pw, std::string data) -> Coro<> {
      for (std::size_t off = 0; off < data.size(); off += 65536) {
        pw.write(std::string_view(data).substr(off, 65536));
        co_await pw.drain();
      }
      pw.write_eof();
    }(pw, data));
    co_await asyncio::sleep(0.02s);
    // Paused: the reader holds more than 2 * limit but not the whole transfer.
    EXPECT_GT(r.buffered_size(), 200u);
    EXPECT_LT(r.buffered_size(), data.size());
    std::vector<std::byte> big(1 << 20);
    std::size_t first = co_await r.readinto(big);
    EXPECT_GT(first, 100u);  // more than the limit at once
    std::string got = as_string(std::span(big).first(first));
    got += co_await readinto_all(r, 333);
    co_await writing;
    EXPECT_EQ(got.size(), data.size());
    EXPECT_TRUE(got == data) << "bytes differ";
    w.close();
    pw.close();
  }());
}

// read() on the transport's receive path (the reader's own buffer since it is a
// BufferedProtocol): several messages per loop iteration, split reads, and many connections.
TEST(StreamReadintoTest, ManyConnectionsEchoSixteenKiBMessages) {
  nettest::run([]() -> Coro<> {
    auto server = co_await asyncio::start_server(
        [](StreamReader r, StreamWriter w) -> Coro<> {
          while (true) {
            std::string d = co_await r.read(64 * 1024);
            if (d.empty()) break;
            w.write(d);
            co_await w.drain();
          }
          w.close();
        },
        "127.0.0.1", 0);
    const std::uint16_t port = port_of(server);
    auto client = [](std::uint16_t port, std::size_t seed) -> Coro<bool> {
      auto rw = co_await asyncio::open_connection("127.0.0.1", port);
      auto& [r, w] = rw;
      std::vector<char> back(16 * 1024);
      bool ok = true;
      for (int i = 0; i < 20; ++i) {
        const std::string msg = pattern(16 * 1024, seed * 100 + i);
        w.write(msg);
        co_await w.drain();
        std::size_t got = 0;
        while (got < back.size()) {
          std::size_t n = co_await r.readinto(std::span(back).subspan(got));
          if (n == 0) co_return false;
          got += n;
        }
        ok = ok && std::memcmp(back.data(), msg.data(), msg.size()) == 0;
      }
      w.close();
      co_await w.wait_closed();
      co_return ok;
    };
    std::vector<asyncio::Task<bool>> clients;
    for (std::size_t i = 0; i < 16; ++i) clients.push_back(asyncio::create_task(client(port, i)));
    for (auto& c : clients) EXPECT_TRUE(co_await c);
    server.close();
    co_await server.wait_closed();
  }());
}

// Zero-copy hand-off: a readinto() waiting on an empty buffer lends its own buffer to the
// transport. The bytes then belong to that call (they are not in the reader's buffer); if the
// task is cancelled before it runs, they go back to the reader, in order, and nothing is lost.
TEST(StreamReadintoTest, HandOffThenCancelPutsTheBytesBack) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    auto r_w_pair = co_await asyncio::open_connection(std::move(a));
    auto& [r, w] = r_w_pair;
    std::string buf(16, '.');
    auto t = asyncio::create_task([](StreamReader r, std::span<char> b) -> Coro<std::size_t> {
      co_return co_await r.readinto(b);
    }(r, buf));
    co_await asyncio::sleep(0.01s);
    CO_ASSERT_TRUE(!t.done());
    CO_ASSERT_TRUE(send_all(b.fd(), "payload"));
    // This task's sleep(0) wake-ups are queued before the reader's wake-up of the iteration
    // that receives the bytes, so it runs in between and sees the hand-off.
    bool seen = false;
    for (int i = 0; i < 100000 && !seen; ++i) {
      co_await asyncio::sleep(0s);
      seen = buf != std::string(16, '.');
    }
    CO_ASSERT_TRUE(seen);
    EXPECT_FALSE(t.done());
    EXPECT_EQ(buf.substr(0, 7), "payload");  // received straight into the caller's buffer
    EXPECT_EQ(r.buffered_size(), 0u);        // and owned by that call
    t.cancel();
    EXPECT_THROW(co_await t, asyncio::CancelledError);
    EXPECT_EQ(r.buffered_size(), 7u);
    CO_ASSERT_TRUE(send_all(b.fd(), " more"));
    std::string got;
    while (got.size() < 12) got += co_await r.read(100);
    EXPECT_EQ(got, "payload more");
    w.close();
    co_await w.wait_closed();
  }());
}

// Without cancellation the hand-off completes the call with the received bytes, and data that
// arrives while the reader's buffer is not empty goes to the buffer (order is kept).
TEST(StreamReadintoTest, HandOffKeepsTheOrderWithBufferedData) {
  nettest::run([]() -> Coro<> {
    auto [a, b] = asyncio::socketpair();
    auto r_w_pair = co_await asyncio::open_connection(std::move(a));
    auto& [r, w] = r_w_pair;
    std::string expect;
    std::string got;
    std::vector<std::byte> small(3);
    for (int i = 0; i < 50; ++i) {
      std::string msg = "msg" + std::to_string(i) + ";";
      expect += msg;
      CO_ASSERT_TRUE(send_all(b.fd(), msg));
      // 3 bytes at a time: the first call may take them from the socket straight into
      // `small`, the rest come from the buffer.
      std::size_t n = co_await r.readinto(small);
      got += as_string(std::span(small).first(n));
    }
    ::shutdown(b.fd(), SHUT_WR);
    got += co_await readinto_all(r, 5);
    EXPECT_EQ(got, expect);
    w.close();
    co_await w.wait_closed();
  }());
}
