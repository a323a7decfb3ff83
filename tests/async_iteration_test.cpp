// Tests of the asynchronous iteration forms other than generators (Python: `async for line in
// reader`, 3.13's `async for t in asyncio.as_completed(aws)`).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "asyncio/async_generator.hpp"
#include "asyncio/gather.hpp"  // wait.hpp uses its FutureLike
#include "asyncio/runners.hpp"
#include "asyncio/streams.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/timeouts.hpp"
#include "asyncio/wait.hpp"

using namespace std::chrono_literals;
using asyncio::Coro;
using asyncio::StopAsyncIteration;
using Events = std::vector<std::string>;

// ---- async for over a StreamReader ----------------------------------------------------------

// reader = asyncio.StreamReader(); reader.feed_data(b"a\nb\nc"); reader.feed_eof()
// async for line in reader: print(line)        -> b'a\n', b'b\n', b'c'
// await anext(reader)                          -> StopAsyncIteration
TEST(AsyncIterationTest, StreamReaderLines) {
  auto main = []() -> Coro<Events> {
    Events ev;
    asyncio::StreamReader reader;
    reader.feed_data(std::string_view("a\nb\nc"));
    reader.feed_eof();
    while (auto line = co_await reader.next()) ev.push_back(*line);
    try {
      co_await reader.anext();
    } catch (const StopAsyncIteration&) {
      ev.push_back("StopAsyncIteration");
    }
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"a\n", "b\n", "c", "StopAsyncIteration"}));
}

// Over a real connection: the server writes three lines and closes; the client iterates.
// async def handler(r, w): w.write(b"one\ntwo\nthree\n"); await w.drain(); w.close()
// r, w = await asyncio.open_connection('127.0.0.1', port)
// async for line in r: print(line)
TEST(AsyncIterationTest, StreamReaderLinesOverTcp) {
  auto handler = [](asyncio::StreamReader, asyncio::StreamWriter w) -> Coro<> {
    w.write("one\ntwo\nthree\n");
    co_await w.drain();
    w.close();
    co_await w.wait_closed();
  };
  auto main = [&]() -> Coro<Events> {
    Events ev;
    auto server = co_await asyncio::start_server(handler, "127.0.0.1", 0);
    auto port = server.sockets().at(0).getsockname().port();
    auto conn = co_await asyncio::open_connection("127.0.0.1", port);
    auto& [r, w] = conn;
    while (auto line = co_await r.next()) ev.push_back(*line);
    w.close();
    co_await w.wait_closed();
    server.close();
    co_await server.wait_closed();
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(asyncio::wait_for(main(), 30s)), (Events{"one\n", "two\n", "three\n"}));
}

// ---- as_completed, 3.13 forms ---------------------------------------------------------------

// async def job(name, delay): await asyncio.sleep(delay); return name
// (Python 3.13)
// tasks = [create_task(job("slow", .03)), create_task(job("fast", .01)), create_task(job("mid",
// .02))] async for t in asyncio.as_completed(tasks):
//     print(t is tasks[i] for some i, t.result())   -> fast, mid, slow; the same Task objects
TEST(AsyncIterationTest, AsCompletedYieldsTheOriginalTasks) {
  auto job = [](std::string name, asyncio::Duration d) -> Coro<std::string> {
    co_await asyncio::sleep(d);
    co_return name;
  };
  auto main = [&]() -> Coro<Events> {
    Events ev;
    std::vector<asyncio::Task<std::string>> tasks;
    tasks.push_back(asyncio::create_task(job("slow", 30ms)));
    tasks.push_back(asyncio::create_task(job("fast", 10ms)));
    tasks.push_back(asyncio::create_task(job("mid", 20ms)));
    auto it = asyncio::as_completed(tasks);
    while (auto t = co_await it.next()) {
      bool original = false;
      for (const auto& o : tasks) original = original || o.impl() == t->impl();
      ev.push_back(std::string(original ? "original " : "new ") + (t->done() ? "done " : "") +
                   co_await *t);
    }
    try {
      co_await it.anext();
    } catch (const StopAsyncIteration&) {
      ev.push_back("StopAsyncIteration");
    }
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"original done fast", "original done mid",
                                          "original done slow", "StopAsyncIteration"}));
}

// Coroutines are wrapped in tasks, which the async form gives; a timeout raises TimeoutError
// for each remaining one (Python 3.13).
// async for t in as_completed([job("a", 0), job("b", 10)], timeout=0.02): ...
//   -> a, then TimeoutError
TEST(AsyncIterationTest, AsCompletedAsyncFormWithCoroutinesAndTimeout) {
  auto job = [](std::string name, asyncio::Duration d) -> Coro<std::string> {
    co_await asyncio::sleep(d);
    co_return name;
  };
  auto main = [&]() -> Coro<Events> {
    Events ev;
    std::vector<Coro<std::string>> coros;
    coros.push_back(job("a", 0s));
    coros.push_back(job("b", 10s));
    auto it = asyncio::as_completed(std::move(coros), 20ms);
    try {
      while (auto t = co_await it.next()) ev.push_back(co_await *t);
    } catch (const asyncio::TimeoutError&) {
      ev.push_back("TimeoutError");
    }
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"a", "TimeoutError"}));
}
