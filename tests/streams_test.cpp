// Streams (Python: test_asyncio/test_streams.py): StreamReader semantics (limits, partial
// reads, EOF, exceptions, cancellation), open_connection/start_server, drain backpressure,
// half-close, close while writing, a 100 MiB transfer.

#include <sys/socket.h>

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

/// FNV-1a, to check large transfers.
struct Checksum {
  std::uint64_t h = 1469598103934665603ull;
  void update(std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
  }
};

Coro<> echo_client_handler(StreamReader r, StreamWriter w) {
  while (true) {
    std::string data = co_await r.read(65536);
    if (data.empty()) break;
    w.write(data);
    co_await w.drain();
  }
  w.close();
  co_await w.wait_closed();
}

}  // namespace

// ---- StreamReader alone (fed by hand) ------------------------------------------------------

TEST(StreamReaderTest, ReadUpToN) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    r.feed_data("line1\nline2\n");
    EXPECT_EQ(co_await r.read(5), "line1");
    EXPECT_EQ(co_await r.read(0), "");
    EXPECT_EQ(co_await r.read(100), "\nline2\n");
    r.feed_eof();
    EXPECT_EQ(co_await r.read(100), "");
    EXPECT_TRUE(r.at_eof());
  }());
}

TEST(StreamReaderTest, ReadWaitsForDataAndEof) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    asyncio::get_running_loop().call_later(0.01s, [r]() mutable { r.feed_data("chunk"); });
    EXPECT_EQ(co_await r.read(30), "chunk");
    asyncio::get_running_loop().call_later(0.01s, [r]() mutable { r.feed_eof(); });
    EXPECT_EQ(co_await r.read(30), "");
  }());
}

TEST(StreamReaderTest, ReadAllUntilEof) {
  nettest::run([]() -> Coro<> {
    StreamReader r(4);  // small limit: reading to EOF is not limited by it
    auto t = asyncio::create_task(
        [](StreamReader r) -> Coro<std::string> { co_return co_await r.read(); }(r));
    for (int i = 0; i < 10; ++i) {
      r.feed_data("0123456789");
      co_await asyncio::sleep(0s);
    }
    EXPECT_FALSE(t.done());
    r.feed_eof();
    EXPECT_EQ((co_await t).size(), 100u);
    EXPECT_TRUE(r.at_eof());
  }());
}

TEST(StreamReaderTest, ReadExactly) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    auto t = asyncio::create_task(
        [](StreamReader r) -> Coro<std::string> { co_return co_await r.readexactly(10); }(r));
    r.feed_data("01234");
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(t.done());
    r.feed_data("56789abc");
    EXPECT_EQ(co_await t, "0123456789");
    EXPECT_EQ(co_await r.readexactly(0), "");
    r.feed_eof();
    try {
      co_await r.readexactly(5);
      ADD_FAILURE();
    } catch (const asyncio::IncompleteReadError& e) {
      EXPECT_EQ(e.partial(), "abc");
      EXPECT_EQ(e.expected(), std::optional<std::size_t>(5));
      EXPECT_STREQ(e.what(), "3 bytes read on a total of 5 expected bytes");
    }
    EXPECT_TRUE(r.at_eof());
  }());
}

TEST(StreamReaderTest, ReadExactlyMoreThanTheLimitResumesReading) {
  nettest::run([]() -> Coro<> {
    // readexactly(n) with n > 2*limit must not deadlock on a paused transport (Python).
    auto server = co_await asyncio::start_server(
        [](StreamReader, StreamWriter w) -> Coro<> {
          w.write(std::string(100000, 'e'));
          co_await w.drain();
          w.close();
        },
        "127.0.0.1", 0);
    auto r_w_pair =
        co_await asyncio::open_connection("127.0.0.1", port_of(server), {}, /*limit=*/1000);
    auto& [r, w] = r_w_pair;
    std::string got = co_await r.readexactly(100000);
    EXPECT_EQ(got.size(), 100000u);
    w.close();
    server.close();
  }());
}

TEST(StreamReaderTest, Readline) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    r.feed_data("line1\nline2");
    EXPECT_EQ(co_await r.readline(), "line1\n");
    auto t = asyncio::create_task(
        [](StreamReader r) -> Coro<std::string> { co_return co_await r.readline(); }(r));
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(t.done());
    r.feed_data(" more\nrest");
    EXPECT_EQ(co_await t, "line2 more\n");
    r.feed_eof();
    EXPECT_EQ(co_await r.readline(), "rest");  // the partial line at EOF
    EXPECT_EQ(co_await r.readline(), "");
  }());
}

TEST(StreamReaderTest, ReadlineLimitRaisesValueError) {
  nettest::run([]() -> Coro<> {
    // Python's test_readline_limit_with_existing_data.
    {
      StreamReader r(3);
      r.feed_data("li");
      r.feed_data("ne1\nline2\n");
      EXPECT_THROW(co_await r.readline(), asyncio::ValueError);
      // The line and its separator were dropped.
      EXPECT_EQ(co_await r.read(100), "line2\n");
    }
    {
      StreamReader r(3);
      r.feed_data("li");
      r.feed_data("ne1");
      r.feed_data("li");
      EXPECT_THROW(co_await r.readline(), asyncio::ValueError);
      EXPECT_EQ(r.buffered_size(), 0u);  // no separator: the whole buffer is dropped
    }
    {
      // Python's test_readline_limit: the separator is found but the line is too long.
      StreamReader r(7);
      r.feed_data("1234567\n");
      EXPECT_EQ(co_await r.readline(), "1234567\n");
      r.feed_data("12345678\n");
      EXPECT_THROW(co_await r.readline(), asyncio::ValueError);
      EXPECT_EQ(r.buffered_size(), 0u);
    }
  }());
}

TEST(StreamReaderTest, ReaduntilSeparators) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    r.feed_data("aaa!!bb");
    auto t = asyncio::create_task(
        [](StreamReader r) -> Coro<std::string> { co_return co_await r.readuntil("!!!"); }(r));
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(t.done());
    r.feed_data("b!");
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(t.done());
    r.feed_data("!!ccc");
    EXPECT_EQ(co_await t, "aaa!!bbb!!!");
    EXPECT_THROW(co_await r.readuntil(""), asyncio::ValueError);
    r.feed_eof();
    try {
      co_await r.readuntil("!!!");
      ADD_FAILURE();
    } catch (const asyncio::IncompleteReadError& e) {
      EXPECT_EQ(e.partial(), "ccc");
      EXPECT_FALSE(e.expected().has_value());
    }
    EXPECT_EQ(r.buffered_size(), 0u);
  }());
}

TEST(StreamReaderTest, ReaduntilLimitOverrunKeepsTheData) {
  nettest::run([]() -> Coro<> {
    StreamReader r(3);
    r.feed_data("some dataAA");
    try {
      co_await r.readuntil("AAA");
      ADD_FAILURE();
    } catch (const asyncio::LimitOverrunError& e) {
      EXPECT_EQ(e.consumed(), 9u);
      EXPECT_STREQ(e.what(), "Separator is not found, and chunk exceed the limit");
    }
    EXPECT_EQ(r.buffered_size(), 11u);
    r.feed_data("A");
    try {
      co_await r.readuntil("AAA");
      ADD_FAILURE();
    } catch (const asyncio::LimitOverrunError& e) {
      EXPECT_EQ(e.consumed(), 9u);
      EXPECT_STREQ(e.what(), "Separator is found, but chunk is longer than limit");
    }
    EXPECT_EQ(r.buffered_size(), 12u);
  }());
}

TEST(StreamReaderTest, ExceptionWakesPendingRead) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    auto t = asyncio::create_task(
        [](StreamReader r) -> Coro<std::string> { co_return co_await r.readline(); }(r));
    co_await asyncio::sleep(0s);
    r.set_exception(std::make_exception_ptr(asyncio::ConnectionResetError(ECONNRESET, "reset")));
    EXPECT_THROW(co_await t, asyncio::ConnectionResetError);
    EXPECT_THROW(co_await r.read(1), asyncio::ConnectionResetError);
    EXPECT_TRUE(r.exception() != nullptr);
  }());
}

TEST(StreamReaderTest, ConcurrentReadsAreRejected) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    auto t = asyncio::create_task(
        [](StreamReader r) -> Coro<std::string> { co_return co_await r.read(10); }(r));
    co_await asyncio::sleep(0s);
    try {
      co_await r.readline();
      ADD_FAILURE();
    } catch (const asyncio::RuntimeError& e) {
      EXPECT_STREQ(
          e.what(),
          "readuntil() called while another coroutine is already waiting for incoming data");
    }
    r.feed_data("x");
    EXPECT_EQ(co_await t, "x");
  }());
}

TEST(StreamReaderTest, CancelledReadLeavesTheBuffer) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    r.feed_data("partial");
    auto t = asyncio::create_task(
        [](StreamReader r) -> Coro<std::string> { co_return co_await r.readexactly(100); }(r));
    co_await asyncio::sleep(0s);
    t.cancel();
    EXPECT_THROW(co_await t, asyncio::CancelledError);
    EXPECT_EQ(r.buffered_size(), 7u);
    EXPECT_EQ(co_await r.read(100), "partial");
  }());
}

TEST(StreamReaderTest, RepeatedCancelOfAPendingReadKeepsTheFirstMessage) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    auto t = asyncio::create_task([](StreamReader r) -> Coro<std::string> {
      try {
        co_await r.readline();
      } catch (const asyncio::CancelledError& e) {
        co_return e.message();
      }
      co_return "not cancelled";
    }(r));
    co_await asyncio::sleep(0s);
    t.cancel("one");
    t.cancel("two");
    EXPECT_EQ(co_await t, "one");
    EXPECT_EQ(t.cancelling(), 2);
  }());
}

TEST(StreamReaderTest, LimitMustBePositive) {
  EXPECT_THROW(StreamReader(0), asyncio::ValueError);
}

// ---- Streams over real connections ----------------------------------------------------------

static Coro<> echo_roundtrip(std::string host) {
  auto server = co_await asyncio::start_server(echo_client_handler, host, 0);
  auto r_w_pair = co_await asyncio::open_connection(host, port_of(server));
  auto& [r, w] = r_w_pair;
  w.write("hello\n");
  w.writelines({"wor", "ld\n"});
  co_await w.drain();
  EXPECT_EQ(co_await r.readline(), "hello\n");
  EXPECT_EQ(co_await r.readline(), "world\n");
  EXPECT_EQ(w.extra<asyncio::SockAddr>("peername")->port(), port_of(server));
  w.close();
  EXPECT_TRUE(w.is_closing());
  co_await w.wait_closed();
  server.close();
  co_await server.wait_closed();
}

TEST(StreamsTest, EchoIPv4) {
  nettest::run(echo_roundtrip("127.0.0.1"));
}
TEST(StreamsTest, EchoIPv6) {
  nettest::run(echo_roundtrip("::1"));
}
TEST(StreamsTest, EchoLocalhostName) {
  nettest::run(echo_roundtrip("localhost"));
}

TEST(StreamsTest, UnixStreams) {
  nettest::TempDir dir;
  nettest::run([](std::string path) -> Coro<> {
    auto server = co_await asyncio::start_unix_server(echo_client_handler, path);
    auto r_w_pair = co_await asyncio::open_unix_connection(path);
    auto& [r, w] = r_w_pair;
    w.write("unix line\n");
    EXPECT_EQ(co_await r.readline(), "unix line\n");
    w.write_eof();  // half-close: the server sees EOF, finishes, closes
    EXPECT_EQ(co_await r.read(), "");
    EXPECT_TRUE(r.at_eof());
    w.close();
    co_await w.wait_closed();
    server.close();
    co_await server.wait_closed();
  }(dir.file("s.sock")));
}

TEST(StreamsTest, HalfCloseRequestResponse) {
  nettest::run([]() -> Coro<> {
    auto server = co_await asyncio::start_server(
        [](StreamReader r, StreamWriter w) -> Coro<> {
          std::string request = co_await r.read();  // until the client's EOF
          w.write("got " + std::to_string(request.size()) + " bytes");
          co_await w.drain();
          w.close();
        },
        "127.0.0.1", 0);
    auto r_w_pair = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    auto& [r, w] = r_w_pair;
    EXPECT_TRUE(w.can_write_eof());
    w.write(std::string(300000, 'r'));
    w.write_eof();
    EXPECT_EQ(co_await r.read(), "got 300000 bytes");
    w.close();
    server.close();
  }());
}

TEST(StreamsTest, DrainBlocksOnSlowReaderAndMemoryStaysBounded) {
  nettest::run([]() -> Coro<> {
    asyncio::Future<void> start_reading = asyncio::get_running_loop().create_future<void>();
    std::size_t server_got = 0;
    auto server = co_await asyncio::start_server(
        [&](StreamReader r, StreamWriter w) -> Coro<> {
          co_await start_reading;
          while (true) {
            std::string d = co_await r.read(1 << 16);
            if (d.empty()) break;
            server_got += d.size();
          }
          w.close();
        },
        "127.0.0.1", 0);
    auto r_w_pair = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    auto& [r, w] = r_w_pair;
    std::string chunk(64 * 1024, 'd');
    std::size_t sent = 0;
    std::size_t max_buffered = 0;
    bool blocked = false;
    // Write until drain() really blocks: the kernel buffers and the server's reader are full.
    while (sent < (512u << 20)) {
      w.write(chunk);
      sent += chunk.size();
      max_buffered = std::max(max_buffered, w.transport()->get_write_buffer_size());
      auto d = asyncio::create_task([](StreamWriter w) -> Coro<> { co_await w.drain(); }(w));
      co_await asyncio::sleep(0.005s);
      if (!d.done()) {
        blocked = true;
        // A pending drain can be cancelled.
        d.cancel();
        EXPECT_THROW(co_await d, asyncio::CancelledError);
        break;
      }
      co_await d;
    }
    EXPECT_TRUE(blocked) << "drain() never blocked after " << sent << " bytes";
    EXPECT_LE(max_buffered, 64u * 1024 + chunk.size())
        << "the write buffer grew past the high water mark";
    start_reading.set_result();
    co_await w.drain();
    w.write_eof();
    while (server_got < sent) co_await asyncio::sleep(0.005s);
    EXPECT_EQ(server_got, sent);
    w.close();
    server.close();
  }());
}

TEST(StreamsTest, HundredMiBTransferArrivesIntact) {
  nettest::run(
      []() -> Coro<> {
        constexpr std::size_t kTotal = 100u << 20;
        Checksum server_sum;
        std::size_t server_got = 0;
        auto server = co_await asyncio::start_server(
            [&](StreamReader r, StreamWriter w) -> Coro<> {
              while (true) {
                std::string d = co_await r.read(1 << 20);
                if (d.empty()) break;
                server_sum.update(d);
                server_got += d.size();
              }
              w.write(std::to_string(server_got));
              w.close();
            },
            "127.0.0.1", 0);
        auto r_w_pair = co_await asyncio::open_connection("127.0.0.1", port_of(server));
        auto& [r, w] = r_w_pair;
        Checksum client_sum;
        std::string block(1 << 20, '\0');
        std::uint32_t x = 12345;
        for (std::size_t sent = 0; sent < kTotal; sent += block.size()) {
          for (std::size_t i = 0; i < block.size(); i += 4) {
            x = x * 1664525u + 1013904223u;
            std::memcpy(&block[i], &x, 4);
          }
          client_sum.update(block);
          w.write(block);
          co_await w.drain();
        }
        w.write_eof();
        EXPECT_EQ(co_await r.read(), std::to_string(kTotal));
        EXPECT_EQ(server_got, kTotal);
        EXPECT_EQ(server_sum.h, client_sum.h);
        w.close();
        server.close();
      }(),
      90s);
}

TEST(StreamsTest, ConnectionLostMakesDrainAndReadFail) {
  nettest::run([]() -> Coro<> {
    auto server = co_await asyncio::start_server(
        [](StreamReader, StreamWriter w) -> Coro<> {
          // Reset the connection.
          auto ts = w.extra<asyncio::TransportSocket>("socket");
          linger lg{1, 0};
          ::setsockopt(ts->fileno(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
          w.transport()->abort();
          co_return;
        },
        "127.0.0.1", 0);
    auto r_w_pair = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    auto& [r, w] = r_w_pair;
    EXPECT_THROW(co_await r.read(), asyncio::ConnectionResetError);
    // The connection is gone: drain() raises.
    EXPECT_THROW(co_await w.drain(), asyncio::ConnectionResetError);
    EXPECT_THROW(co_await w.wait_closed(), asyncio::ConnectionResetError);
    server.close();
  }());
}

TEST(StreamsTest, OpenConnectionErrors) {
  nettest::run([]() -> Coro<> {
    std::uint16_t port;
    {
      auto s = asyncio::Socket::create(AF_INET, SOCK_STREAM);
      s.bind(asyncio::SockAddr::inet("127.0.0.1", 0));
      port = s.getsockname().port();
    }
    EXPECT_THROW(co_await asyncio::open_connection("127.0.0.1", port),
                 asyncio::ConnectionRefusedError);
    try {
      co_await asyncio::open_connection("no.such.host.invalid", 80, {.flags = AI_NUMERICHOST});
      ADD_FAILURE();
    } catch (const asyncio::gaierror& e) {
      EXPECT_STREQ(e.what(), "[Errno -2] Name or service not known");  // CPython 3.12's str()
    }
  }());
}

TEST(StreamsTest, HandlerExceptionIsReportedAndClosesTheConnection) {
  nettest::run([]() -> Coro<> {
    std::vector<std::string> reports;
    asyncio::get_running_loop().set_exception_handler(
        [&](asyncio::EventLoop&, const asyncio::ExceptionContext& ctx) {
          reports.push_back(ctx.message);
        });
    auto server = co_await asyncio::start_server(
        [](StreamReader r, StreamWriter) -> Coro<> {
          co_await r.readline();
          throw std::runtime_error("handler failed");
        },
        "127.0.0.1", 0);
    auto r_w_pair = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    auto& [r, w] = r_w_pair;
    w.write("trigger\n");
    EXPECT_EQ(co_await r.read(), "");  // closed by the server
    EXPECT_EQ(reports, std::vector<std::string>{"Unhandled exception in client_connected_cb"});
    w.close();
    server.close();
    asyncio::get_running_loop().set_exception_handler(nullptr);
  }());
}

TEST(StreamsTest, DroppingTheWriterClosesTheConnection) {
  nettest::run([]() -> Coro<> {
    auto server = co_await asyncio::start_server(
        [](StreamReader, StreamWriter w) -> Coro<> {
          w.write("bye");
          co_return;  // no close(): dropping the last writer handle closes it
        },
        "127.0.0.1", 0);
    auto r_w_pair = co_await asyncio::open_connection("127.0.0.1", port_of(server));
    auto& [r, w] = r_w_pair;
    EXPECT_EQ(co_await r.read(), "bye");
    EXPECT_TRUE(r.at_eof());
    w.close();
    server.close();
    co_await server.wait_closed();
  }());
}

TEST(StreamsTest, ManyConcurrentClientsWithGather) {
  int before = nettest::count_fds();
  nettest::run([]() -> Coro<> {
    auto server = co_await asyncio::start_server(echo_client_handler, "127.0.0.1", 0);
    std::uint16_t port = port_of(server);
    std::vector<Coro<std::string>> clients;
    for (int i = 0; i < 200; ++i) {
      clients.push_back([](std::uint16_t port, int i) -> Coro<std::string> {
        auto r_w_pair = co_await asyncio::open_connection("127.0.0.1", port);
        auto& [r, w] = r_w_pair;
        w.write("msg " + std::to_string(i) + "\n");
        std::string line = co_await r.readline();
        w.close();
        co_await w.wait_closed();
        co_return line;
      }(port, i));
    }
    auto lines = co_await asyncio::gather(std::move(clients));
    for (int i = 0; i < 200; ++i)
      EXPECT_EQ(lines[static_cast<std::size_t>(i)], "msg " + std::to_string(i) + "\n");
    server.close();
    co_await server.wait_closed();
  }());
  EXPECT_EQ(nettest::count_fds(), before);
}
