// Tests of async generator finalization (Python: the loop's finalizer hook,
// loop.shutdown_asyncgens() in asyncio.run(), loop.close()).
//
// Each test quotes the Python program it ports; the expected events are CPython 3.12.1's output.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "async_gen_helpers.hpp"
#include "asyncio/async_generator.hpp"
#include "asyncio/events.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/timeouts.hpp"
#include "core_helpers.hpp"

using namespace std::chrono_literals;
using agtest::Events;
using agtest::Say;
using agtest::two_with_cleanup;
using asyncio::AsyncGenerator;
using asyncio::Coro;
using asyncio::EventLoop;
using asyncio::GeneratorExit;
using asyncio::ValueError;

namespace {

using coretest::HandlerLog;

std::string what_of(const std::exception& e) {
  return e.what();
}

// async def bad():
//     try: yield 1
//     finally:
//         await asyncio.sleep(0); raise ValueError("cleanup failed")
AsyncGenerator<int> bad_cleanup() {
  bool closing = false;
  try {
    co_yield 1;
  } catch (const GeneratorExit&) {
    closing = true;
  }
  if (closing) {
    co_await asyncio::sleep(0s);
    throw ValueError("cleanup failed");
  }
}

}  // namespace

// ---- finalization ---------------------------------------------------------------------------

// async def main():
//     g = gen()
//     async for v in g: print(v); break
//     del g
//     print("dropped")
//     for i in range(4): await asyncio.sleep(0); print("tick", i)
// -> 1, dropped, tick 0, cleanup start, tick 1, cleanup end, tick 2, tick 3
TEST(AsyncGeneratorTest, DroppedSuspendedGeneratorIsClosedByAFinalizerTask) {
  auto main = []() -> Coro<Events> {
    Events ev;
    {
      auto gen = two_with_cleanup(ev);
      while (auto v = co_await gen.next()) {
        ev.push_back(std::to_string(*v));
        break;
      }
    }
    ev.push_back("dropped");
    for (int i = 0; i < 4; ++i) {
      co_await asyncio::sleep(0s);
      ev.push_back("tick " + std::to_string(i));
    }
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"1", "dropped", "tick 0", "cleanup start", "tick 1",
                                          "cleanup end", "tick 2", "tick 3"}));
}

// async def main2():
//     global G
//     G = gen(); print(await anext(G)); print("main2 end")
// asyncio.run(main2()); print("after run2")
//   -> 1, main2 end, cleanup start, cleanup end, after run2   (loop.shutdown_asyncgens)
TEST(AsyncGeneratorTest, RunShutdownClosesSuspendedGenerators) {
  Events ev;
  AsyncGenerator<int> kept;
  auto main = [&]() -> Coro<> {
    kept = two_with_cleanup(ev);
    ev.push_back(std::to_string(co_await kept.anext()));
    ev.push_back("main end");
  };
  asyncio::run(main());
  ev.push_back("after run");
  EXPECT_EQ(ev, (Events{"1", "main end", "cleanup start", "cleanup end", "after run"}));
  EXPECT_FALSE(kept.valid());
}

// Python 3.12 prints only "cleanup start" for a generator that main() drops while suspended
// (the finalizer's aclose() task is created after main ends and run() cancels it before it
// starts). Here the generator is then left to shutdown_asyncgens(), which runs the whole
// cleanup (docs/python-mapping.md).
TEST(AsyncGeneratorTest, RunShutdownClosesAGeneratorDroppedAtTheEndOfMain) {
  Events ev;
  auto main = [&]() -> Coro<> {
    auto gen = two_with_cleanup(ev);
    ev.push_back(std::to_string(co_await gen.anext()));
    ev.push_back("main end");
  };
  asyncio::run(main());
  ev.push_back("after run");
  EXPECT_EQ(ev, (Events{"1", "main end", "cleanup start", "cleanup end", "after run"}));
}

// B = bad(); await anext(B)   (bad() as bad_cleanup() above; handler installed)
//   -> handler: an error occurred during closing of asynchronous generator
//      <async_generator object bad at 0x...> ValueError('cleanup failed')
TEST(AsyncGeneratorTest, ShutdownReportsErrorsThroughTheHandler) {
  HandlerLog log;
  AsyncGenerator<int> kept;
  {
    asyncio::Runner runner;
    log.install(runner.get_loop());
    runner.run([&]() -> Coro<> {
      kept = bad_cleanup();
      co_await kept.anext();
    }());
  }
  ASSERT_EQ(log.contexts.size(), 1u);
  const std::string prefix = "an error occurred during closing of asynchronous generator ";
  EXPECT_EQ(log.contexts[0].message.substr(0, prefix.size()), prefix);
  EXPECT_NE(log.contexts[0].message.find("<async_generator object bad_cleanup at 0x"),
            std::string::npos)
      << log.contexts[0].message;
  try {
    std::rethrow_exception(log.contexts[0].exception);
  } catch (const ValueError& e) {
    EXPECT_EQ(what_of(e), "cleanup failed");
  }
}

// A generator dropped while its loop is not running stays with the loop; an explicit
// loop.shutdown_asyncgens() closes it (Python: the finalizer's call_soon_threadsafe runs when
// the loop next runs).
TEST(AsyncGeneratorTest, DroppedOutsideTheLoopIsClosedByShutdownAsyncgens) {
  Events ev;
  {
    EventLoop loop;
    {
      AsyncGenerator<int> gen;
      loop.run_until_complete([&]() -> Coro<> {
        gen = two_with_cleanup(ev);
        co_await gen.anext();
      }());
    }  // dropped here: the loop is not running
    ev.push_back("dropped");
    loop.run_until_complete(loop.shutdown_asyncgens());
    ev.push_back("shut down");
    loop.close();
  }
  EXPECT_EQ(ev, (Events{"dropped", "cleanup start", "cleanup end", "shut down"}));
}

// Closing the loop destroys a generator that nobody closed (only its destructors run), and a
// consumer task abandoned while the generator is suspended inside an await: no leak (ASan).
TEST(AsyncGeneratorTest, LoopCloseDestroysWhatIsLeft) {
  Events ev;
  auto guarded = [](Events& ev) -> AsyncGenerator<int> {
    struct Guard {
      Events& ev;
      ~Guard() { ev.push_back("destroyed"); }
    } guard{ev};
    co_yield 1;
    co_await asyncio::sleep(1h);
    co_yield 2;
  };
  {
    EventLoop loop;
    HandlerLog log;
    log.install(loop);
    AsyncGenerator<int> left;
    loop.run_until_complete([&]() -> Coro<> {
      left = guarded(ev);
      co_await left.anext();
    }());
    auto consumer = [&]() -> Coro<> {
      auto g = guarded(ev);
      while (auto v = co_await g.next()) {
      }
    };
    auto t = loop.create_task(consumer());
    coretest::run_once(loop);
    coretest::run_once(loop);
    loop.close();  // the consumer is abandoned: its generator goes with its frame
    EXPECT_EQ(log.count("Task was destroyed but it is pending!"), 1u);
    EXPECT_EQ(ev, (Events{"destroyed"}));
  }  // `left` goes after its loop: destroyed at once
  EXPECT_EQ(ev, (Events{"destroyed", "destroyed"}));
}

// Dropping the generator while another task's step runs it: the step finishes (the step keeps
// the frame, as Python's anext() awaitable keeps a reference), then the generator is closed.
// r = slow(); await anext(r); t = ensure_future(anext(r)); await asyncio.sleep(0); del r
// print("dropped"); print(await t) ... -> dropped, 2, ..., slow cleanup (before run() returns)
TEST(AsyncGeneratorTest, DroppingTheOwnerWhileAStepRunsIsSafe) {
  Events ev;
  auto slow = [](Events& ev) -> AsyncGenerator<int> {
    Say say{ev, "slow cleanup"};
    co_yield 1;
    co_await asyncio::sleep(10ms);
    co_yield 2;
    co_yield 3;
  };
  auto main = [&]() -> Coro<> {
    auto r = slow(ev);
    co_await r.anext();
    auto t = asyncio::create_task(
        [](AsyncGenerator<int>& g) -> Coro<int> { co_return co_await g.anext(); }(r));
    co_await asyncio::sleep(0s);
    r = AsyncGenerator<int>();  // the step in `t` still runs the body
    ev.push_back("dropped");
    ev.push_back(std::to_string(co_await t));
  };
  // Bounded: had the frame gone with its owner, `t` would never wake.
  asyncio::run(asyncio::wait_for(main(), 10s));
  ev.push_back("after run");
  EXPECT_EQ(ev, (Events{"dropped", "2", "slow cleanup", "after run"}));
}

// shutdown_asyncgens() called by the program while another task still iterates a generator:
//   async def one():
//       yield 1
//   async def user(ev):
//       g = one(); await anext(g); await asyncio.sleep(0)
//       async for _ in g: pass          # exhausted in the iteration where the closer is queued
//       ev.append("user done")
//   async def main():
//       t = asyncio.create_task(user(ev)); await asyncio.sleep(0)
//       await asyncio.get_running_loop().shutdown_asyncgens(); await t
// The generator finishes and its owner drops it before the closer task's first step; the
// closer must not touch the freed frame (regression: it did, a heap-use-after-free under ASan).
namespace {
AsyncGenerator<int> one() {
  co_yield 1;
}
}  // namespace

TEST(AsyncGeneratorTest, ShutdownAsyncgensWhileAnotherTaskExhaustsTheGenerator) {
  Events ev;
  auto user = [&]() -> Coro<> {
    {
      auto g = one();
      ev.push_back(std::to_string(co_await g.anext()));
      co_await asyncio::sleep(0s);
      while (auto v = co_await g.next()) ev.push_back("unexpected");
    }
    ev.push_back("user done");
  };
  auto main = [&]() -> Coro<> {
    auto t = asyncio::create_task(user());
    co_await asyncio::sleep(0s);
    co_await asyncio::get_running_loop().shutdown_asyncgens();
    co_await t;
    ev.push_back("main done");
  };
  asyncio::run(main());
  EXPECT_EQ(ev, (Events{"1", "user done", "main done"}));
}
