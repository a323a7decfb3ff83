// Python 3.13 additions to streams and servers: StreamReader.readuntil() with several
// separators, Server.close_clients() and Server.abort_clients(). Expected values follow
// CPython 3.13's streams.py (readuntil(tuple): separators sorted by length, the match that
// ends first wins) and base_events.py (close_clients() closes every transport attached to the
// server, abort_clients() aborts them).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net_helpers.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::StreamReader;
using asyncio::StreamWriter;

namespace {

template <class E>
Coro<std::string> error_of(Coro<std::string> c) {
  try {
    (void)co_await std::move(c);
  } catch (const E& e) {
    co_return e.what();
  }
  co_return "<no exception>";
}

TEST(StreamReader313Test, ReaduntilSeveralSeparatorsShortestChunkWins) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    r.feed_data("ab\r\ncd\nxxENDyy|z");
    // "\n" and "\r\n" end at the same byte: the chunk is the same either way.
    EXPECT_EQ(co_await r.readuntil("\r\n", "\n"), "ab\r\n");
    EXPECT_EQ(co_await r.readuntil("\r\n", "\n"), "cd\n");
    // "END" ends before "|": the earlier end wins whatever the order given.
    EXPECT_EQ(co_await r.readuntil("|", "END"), "xxEND");
    std::vector<std::string_view> seps{"|"};
    EXPECT_EQ(co_await r.readuntil(std::span<const std::string_view>(seps)), "yy|");
    // Completes across feeds.
    auto t = asyncio::create_task(r.readuntil("STOP", "!!"));
    co_await asyncio::sleep(0s);
    r.feed_data("zz!");
    co_await asyncio::sleep(0s);
    EXPECT_FALSE(t.done());
    r.feed_data("!rest");
    EXPECT_EQ(co_await t, "zzz!!");
    r.feed_eof();
    try {
      (void)co_await r.readuntil("\n", "X");
      ADD_FAILURE() << "no IncompleteReadError";
    } catch (const asyncio::IncompleteReadError& e) {
      EXPECT_EQ(e.partial(), "rest");
      EXPECT_FALSE(e.expected().has_value());
    }
  }());
}

TEST(StreamReader313Test, ReaduntilSeveralSeparatorsErrors) {
  nettest::run([]() -> Coro<> {
    StreamReader r;
    std::vector<std::string_view> none;
    EXPECT_EQ(co_await error_of<asyncio::ValueError>(
                  r.readuntil(std::span<const std::string_view>(none))),
              "Separator should contain at least one element");
    EXPECT_EQ(co_await error_of<asyncio::ValueError>(r.readuntil("a", "")),
              "Separator should be at least one-byte string");
    // The limit: CPython's offset = buflen + 1 - longest separator.
    StreamReader small(4);
    small.feed_data("abcdefgh");
    try {
      (void)co_await small.readuntil("XY", "Z");
      ADD_FAILURE() << "no LimitOverrunError";
    } catch (const asyncio::LimitOverrunError& e) {
      EXPECT_STREQ(e.what(), "Separator is not found, and chunk exceed the limit");
      EXPECT_EQ(e.consumed(), 7u);
    }
    small.feed_data("Z");
    try {
      (void)co_await small.readuntil("XY", "Z");
      ADD_FAILURE() << "no LimitOverrunError";
    } catch (const asyncio::LimitOverrunError& e) {
      EXPECT_STREQ(e.what(), "Separator is found, but chunk is longer than limit");
      EXPECT_EQ(e.consumed(), 8u);
    }
    EXPECT_EQ(co_await small.read(100), "abcdefghZ");  // the data stays in the buffer
  }());
}

// The server writes 32 MiB to each client without draining and the client reads nothing until
// the server ends its connections: close_clients() still sends everything buffered,
// abort_clients() drops it. Both leave the server's wait_closed() free to finish.
Coro<std::size_t> serve_and_end(bool abort) {
  constexpr std::size_t kSize = 32u << 20;
  asyncio::Event ready;
  auto server = co_await asyncio::start_server(
      [&](StreamReader r, StreamWriter w) -> Coro<> {
        w.write(std::string(kSize, 'x'));
        ready.set();
        (void)co_await r.read();  // until the connection ends
      },
      "127.0.0.1", 0);
  auto port = server.sockets().at(0).getsockname().port();
  auto [r, w] = co_await asyncio::open_connection("127.0.0.1", port);
  co_await ready.wait();
  server.close();
  if (abort) {
    server.abort_clients();
  } else {
    server.close_clients();
  }
  std::size_t got = 0;
  try {
    while (true) {
      std::string chunk = co_await r.read(1 << 20);
      if (chunk.empty()) break;
      got += chunk.size();
    }
  } catch (const asyncio::ConnectionResetError&) {
  }
  w.close();
  co_await asyncio::wait_for(server.wait_closed(), 10s);
  co_return got;
}

TEST(Server313Test, CloseClientsFlushesAndEndsConnections) {
  EXPECT_EQ(nettest::run(serve_and_end(false)), 32u << 20);
}

TEST(Server313Test, AbortClientsDropsBufferedData) {
  EXPECT_LT(nettest::run(serve_and_end(true)), 32u << 20);
}

}  // namespace
