// Tests of AsyncGenerator (Python: async generators, `async for`): steps, exceptions,
// aclose/athrow, cancellation. Finalization: async_generator_finalize_test.cpp.
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
#include "asyncio/queues.hpp"
#include "asyncio/runners.hpp"
#include "asyncio/tasks.hpp"
#include "asyncio/timeouts.hpp"

using namespace std::chrono_literals;
using agtest::Events;
using agtest::Say;
using agtest::two_with_cleanup;
using asyncio::AsyncGenerator;
using asyncio::CancelledError;
using asyncio::Coro;
using asyncio::EventLoop;
using asyncio::GeneratorExit;
using asyncio::RuntimeError;
using asyncio::StopAsyncIteration;
using asyncio::ValueError;

namespace {

// async def ticker(delay, to):
//     """Yield numbers from 0 to *to* every *delay* seconds."""
//     for i in range(to):
//         yield i
//         await asyncio.sleep(delay)
AsyncGenerator<int> ticker(asyncio::Duration delay, int to) {
  for (int i = 0; i < to; ++i) {
    co_yield i;
    co_await asyncio::sleep(delay);
  }
}

}  // namespace

// ---- async for ------------------------------------------------------------------------------

// async def main():
//     async for i in ticker(0.01, 4): print(i)
TEST(AsyncGeneratorTest, TickerDocsExample) {
  auto main = []() -> Coro<std::vector<int>> {
    std::vector<int> got;
    auto gen = ticker(1ms, 4);
    while (auto i = co_await gen.next()) got.push_back(*i);
    co_return got;
  };
  EXPECT_EQ(asyncio::run(main()), (std::vector<int>{0, 1, 2, 3}));
}

// Python: [i async for i in ticker(0, 3)] inside a task that also prints; anext() twice after
// the end raises StopAsyncIteration (str '') both times.
TEST(AsyncGeneratorTest, ExhaustedGenerator) {
  auto main = []() -> Coro<Events> {
    Events ev;
    auto gen = ticker(0s, 2);
    ev.push_back(std::to_string(co_await gen.anext()));
    ev.push_back(std::to_string(co_await gen.anext()));
    for (int k = 0; k < 2; ++k) {
      try {
        co_await gen.anext();
        ev.push_back("no exception");
      } catch (const StopAsyncIteration& e) {
        ev.push_back(std::string("StopAsyncIteration '") + e.what() + "'");
      }
    }
    ev.push_back((co_await gen.next()).has_value() ? "value" : "nullopt");
    ev.push_back(gen.valid() ? "valid" : "finished");
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"0", "1", "StopAsyncIteration ''",
                                          "StopAsyncIteration ''", "nullopt", "finished"}));
}

// A generator yielding without awaiting, and lvalues (copied) vs rvalues (moved).
TEST(AsyncGeneratorTest, YieldsCopiesLvaluesAndMovesRvalues) {
  auto strings = []() -> AsyncGenerator<std::string> {
    std::string kept = "kept";
    co_yield kept;                // copied: the generator still has it
    co_yield std::string("tmp");  // moved
    co_yield kept;
  };
  auto main = [&]() -> Coro<Events> {
    Events ev;
    auto gen = strings();
    while (auto s = co_await gen.next()) ev.push_back(*s);
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"kept", "tmp", "kept"}));
}

// The generator awaits futures, locks and queues of the consumer's loop.
// async def drain(q):
//     while (item := await q.get()) is not None:
//         yield item * 2
TEST(AsyncGeneratorTest, AwaitsQueueAndTaskInsideTheConsumersTask) {
  auto drain = [](asyncio::Queue<int>& q) -> AsyncGenerator<int> {
    while (true) {
      int item = co_await q.get();
      if (item < 0) co_return;
      co_yield item * 2;
    }
  };
  auto producer = [](asyncio::Queue<int>& q) -> Coro<> {
    for (int i = 1; i <= 3; ++i) {
      co_await q.put(i);
      co_await asyncio::sleep(1ms);
    }
    co_await q.put(-1);
  };
  auto main = [&]() -> Coro<std::vector<int>> {
    asyncio::Queue<int> q;
    auto p = asyncio::create_task(producer(q));
    std::vector<int> got;
    auto gen = drain(q);
    while (auto v = co_await gen.next()) got.push_back(*v);
    co_await p;
    co_return got;
  };
  EXPECT_EQ(asyncio::run(main()), (std::vector<int>{2, 4, 6}));
}

// ---- exceptions -----------------------------------------------------------------------------

// async def raiser():
//     yield 1
//     raise ValueError("gen failed")
// async for v in raiser(): print("v", v)   -> v 1, then ValueError gen failed
TEST(AsyncGeneratorTest, ExceptionPropagatesToTheConsumer) {
  auto raiser = []() -> AsyncGenerator<int> {
    co_yield 1;
    throw ValueError("gen failed");
  };
  auto main = [&]() -> Coro<Events> {
    Events ev;
    auto gen = raiser();
    try {
      while (auto v = co_await gen.next()) ev.push_back("v " + std::to_string(*v));
    } catch (const ValueError& e) {
      ev.push_back(std::string("ValueError ") + e.what());
    }
    ev.push_back((co_await gen.next()) ? "value" : "nullopt");  // finished for good
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"v 1", "ValueError gen failed", "nullopt"}));
}

// async def bad():
//     raise StopAsyncIteration
//     yield 1
// await anext(bad())   -> RuntimeError('async generator raised StopAsyncIteration')
TEST(AsyncGeneratorTest, StopAsyncIterationInsideBecomesRuntimeError) {
  auto bad = []() -> AsyncGenerator<int> {
    throw StopAsyncIteration();
    co_yield 1;
  };
  auto main = [&]() -> Coro<std::string> {
    auto gen = bad();
    try {
      co_await gen.anext();
    } catch (const RuntimeError& e) {
      co_return e.what();
    }
    co_return "no exception";
  };
  EXPECT_EQ(asyncio::run(main()), "async generator raised StopAsyncIteration");
}

// ---- aclose ---------------------------------------------------------------------------------

// g = gen(); print(await anext(g)); await g.aclose(); await g.aclose(); await anext(g)
//   -> 1, cleanup start, cleanup end, StopAsyncIteration
TEST(AsyncGeneratorTest, AcloseRunsCleanupThatAwaits) {
  auto main = []() -> Coro<Events> {
    Events ev;
    auto gen = two_with_cleanup(ev);
    ev.push_back(std::to_string(co_await gen.anext()));
    co_await gen.aclose();
    ev.push_back("closed");
    co_await gen.aclose();  // a second aclose() does nothing
    try {
      co_await gen.anext();
    } catch (const StopAsyncIteration&) {
      ev.push_back("StopAsyncIteration");
    }
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()),
            (Events{"1", "cleanup start", "cleanup end", "closed", "StopAsyncIteration"}));
}

// b = gen(); await b.aclose(); await anext(b)  -> nothing runs; StopAsyncIteration
TEST(AsyncGeneratorTest, AcloseOfUnstartedGeneratorRunsNothing) {
  auto main = []() -> Coro<Events> {
    Events ev;
    auto gen = two_with_cleanup(ev);
    co_await gen.aclose();
    try {
      co_await gen.anext();
    } catch (const StopAsyncIteration&) {
      ev.push_back("StopAsyncIteration");
    }
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"StopAsyncIteration"}));
}

// async def g3():
//     try: yield 1
//     finally: yield 2
// await anext(g); await g.aclose()  -> RuntimeError async generator ignored GeneratorExit
TEST(AsyncGeneratorTest, YieldDuringAcloseIsRuntimeError) {
  auto g3 = []() -> AsyncGenerator<int> {
    bool closing = false;
    try {
      co_yield 1;
    } catch (const GeneratorExit&) {
      closing = true;
    }
    if (closing) co_yield 2;
  };
  auto main = [&]() -> Coro<std::string> {
    auto gen = g3();
    co_await gen.anext();
    try {
      co_await gen.aclose();
    } catch (const RuntimeError& e) {
      co_return e.what();
    }
    co_return "no exception";
  };
  EXPECT_EQ(asyncio::run(main()), "async generator ignored GeneratorExit");
}

// async def other():
//     try: yield 1
//     except GeneratorExit: raise KeyError("in close")
// await anext(o); await o.aclose() -> KeyError 'in close'; await o.aclose() -> ok
TEST(AsyncGeneratorTest, ErrorDuringAclosePropagates) {
  auto other = []() -> AsyncGenerator<int> {
    try {
      co_yield 1;
    } catch (const GeneratorExit&) {
      throw ValueError("in close");
    }
  };
  auto main = [&]() -> Coro<Events> {
    Events ev;
    auto gen = other();
    co_await gen.anext();
    try {
      co_await gen.aclose();
    } catch (const ValueError& e) {
      ev.push_back(std::string("aclose ValueError ") + e.what());
    }
    co_await gen.aclose();
    ev.push_back("aclose twice ok");
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"aclose ValueError in close", "aclose twice ok"}));
}

// ---- athrow ---------------------------------------------------------------------------------

// async def g():
//     try:
//         yield 1
//     except ValueError as e:
//         print("caught", e)
//         yield 10
//     yield 20
// x = g(); anext -> 1; athrow(ValueError("boom")) -> caught boom, 10; anext -> 20;
// athrow(KeyError("k")) -> KeyError 'k'; anext -> StopAsyncIteration
// y = g(); athrow(ValueError("u")) -> ValueError u (unstarted)
TEST(AsyncGeneratorTest, Athrow) {
  auto g = [](Events& ev) -> AsyncGenerator<int> {
    bool caught = false;
    try {
      co_yield 1;
    } catch (const ValueError& e) {
      ev.push_back(std::string("caught ") + e.what());
      caught = true;
    }
    if (caught) co_yield 10;
    co_yield 20;
  };
  auto main = [&]() -> Coro<Events> {
    Events ev;
    auto x = g(ev);
    ev.push_back(std::to_string(co_await x.anext()));
    ev.push_back(std::to_string(co_await x.athrow(ValueError("boom"))));
    ev.push_back(std::to_string(co_await x.anext()));
    try {
      co_await x.athrow(std::out_of_range("k"));
    } catch (const std::out_of_range& e) {
      ev.push_back(std::string("out_of_range ") + e.what());
    }
    try {
      co_await x.anext();
    } catch (const StopAsyncIteration&) {
      ev.push_back("stop after athrow");
    }
    auto y = g(ev);
    try {
      co_await y.athrow(ValueError("u"));
    } catch (const ValueError& e) {
      ev.push_back(std::string("unstarted athrow ") + e.what());
    }
    ev.push_back(y.valid() ? "valid" : "finished");
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"1", "caught boom", "10", "20", "out_of_range k",
                                          "stop after athrow", "unstarted athrow u", "finished"}));
}

// ---- already running ------------------------------------------------------------------------

// async def slow():
//     try:
//         yield 1
//         await asyncio.sleep(0.1)
//         yield 2
//     finally:
//         print("slow cleanup")
// r = slow(); await anext(r); t = ensure_future(anext(r)); await asyncio.sleep(0)
// anext(r) / r.aclose() / r.athrow(ValueError("x")) while t runs it -> RuntimeError:
//   anext(): asynchronous generator is already running
//   aclose(): asynchronous generator is already running
//   athrow(): asynchronous generator is already running
// print(await t) -> 2; await r.aclose() -> slow cleanup
TEST(AsyncGeneratorTest, StepWhileRunningIsRuntimeError) {
  auto slow = [](Events& ev) -> AsyncGenerator<int> {
    struct Cleanup {
      Events& ev;
      ~Cleanup() { ev.push_back("slow cleanup"); }
    } cleanup{ev};
    co_yield 1;
    co_await asyncio::sleep(10ms);
    co_yield 2;
  };
  auto main = [&]() -> Coro<Events> {
    Events ev;
    auto r = slow(ev);
    co_await r.anext();
    auto t = asyncio::create_task(
        [](AsyncGenerator<int>& g) -> Coro<int> { co_return co_await g.anext(); }(r));
    co_await asyncio::sleep(0s);
    try {
      co_await r.anext();
    } catch (const RuntimeError& e) {
      ev.push_back(e.what());
    }
    try {
      co_await r.aclose();
    } catch (const RuntimeError& e) {
      ev.push_back(e.what());
    }
    try {
      co_await r.athrow(ValueError("x"));
    } catch (const RuntimeError& e) {
      ev.push_back(e.what());
    }
    ev.push_back(std::to_string(co_await t));
    co_await r.aclose();
    ev.push_back("closed");
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"anext(): asynchronous generator is already running",
                                          "aclose(): asynchronous generator is already running",
                                          "athrow(): asynchronous generator is already running",
                                          "2", "slow cleanup", "closed"}));
}

// aw = anext(a); await aw; await aw -> RuntimeError cannot reuse already awaited
// __anext__()/asend()
TEST(AsyncGeneratorTest, AwaitingAStepTwiceIsRuntimeError) {
  auto main = []() -> Coro<std::string> {
    auto gen = ticker(0s, 3);
    auto step = gen.anext();
    co_await step;
    try {
      co_await step;
    } catch (const RuntimeError& e) {
      co_return e.what();
    }
    co_return "no exception";
  };
  EXPECT_EQ(asyncio::run(main()), "cannot reuse already awaited __anext__()/asend()");
}

// ---- cancellation of the consumer -----------------------------------------------------------

// async def ticker():
//     try:
//         i = 0
//         while True:
//             yield i; i += 1; await asyncio.sleep(0.05)
//     finally:
//         print("ticker cleanup"); await asyncio.sleep(0); print("ticker cleanup done")
// async def consumer():
//     async for v in ticker(): print("got", v)
// c = create_task(consumer()); await asyncio.sleep(0.12); c.cancel(); await c
//   -> got 0, got 1, got 2, ticker cleanup, ticker cleanup done, consumer cancelled
TEST(AsyncGeneratorTest, CancellingTheConsumerCancelsInsideTheGenerator) {
  auto forever = [](Events& ev) -> AsyncGenerator<int> {
    std::exception_ptr error;
    try {
      for (int i = 0;; ++i) {
        co_yield i;
        co_await asyncio::sleep(50ms);
      }
    } catch (...) {
      error = std::current_exception();
    }
    ev.push_back("ticker cleanup");
    co_await asyncio::sleep(0s);
    ev.push_back("ticker cleanup done");
    std::rethrow_exception(error);
  };
  auto consumer = [&](Events& ev) -> Coro<> {
    auto gen = forever(ev);
    while (auto v = co_await gen.next()) ev.push_back("got " + std::to_string(*v));
  };
  auto main = [&]() -> Coro<Events> {
    Events ev;
    auto c = asyncio::create_task(consumer(ev));
    co_await asyncio::sleep(120ms);
    c.cancel();
    try {
      co_await c;
    } catch (const CancelledError&) {
      ev.push_back("consumer cancelled");
    }
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"got 0", "got 1", "got 2", "ticker cleanup",
                                          "ticker cleanup done", "consumer cancelled"}));
}

// ---- composition ----------------------------------------------------------------------------

// async def g():
//     try:
//         yield 1; await asyncio.sleep(1); yield 2
//     finally: print("g cleanup")
// print(await anext(x)); await asyncio.wait_for(anext(x), 0.01) -> TimeoutError;
// await anext(x) -> StopAsyncIteration
//   -> 1, g cleanup, TimeoutError, StopAsyncIteration
TEST(AsyncGeneratorTest, WaitForAStepCancelsInsideTheGenerator) {
  auto g = [](Events& ev) -> AsyncGenerator<int> {
    Say say{ev, "g cleanup"};
    co_yield 1;
    co_await asyncio::sleep(1s);
    co_yield 2;
  };
  auto main = [&]() -> Coro<Events> {
    Events ev;
    auto x = g(ev);
    ev.push_back(std::to_string(co_await x.anext()));
    try {
      co_await asyncio::wait_for(
          [](AsyncGenerator<int>& gen) -> Coro<int> { co_return co_await gen.anext(); }(x), 10ms);
    } catch (const asyncio::TimeoutError&) {
      ev.push_back("TimeoutError");
    }
    try {
      co_await x.anext();
    } catch (const StopAsyncIteration&) {
      ev.push_back("StopAsyncIteration");
    }
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()), (Events{"1", "g cleanup", "TimeoutError", "StopAsyncIteration"}));
}

// async def inner():
//     try:
//         for i in range(3): yield i
//     finally: print("inner cleanup")
// async def outer():
//     try:
//         async for x in inner(): yield x * 10
//     finally: print("outer cleanup")
// o = outer(); print(await anext(o), await anext(o)); await o.aclose(); print("outer closed")
// await asyncio.sleep(0); await asyncio.sleep(0); print("end")
//   -> 0 10, outer cleanup, outer closed, inner cleanup, end
// (the inner generator, dropped while suspended, is closed by the finalizer's task)
TEST(AsyncGeneratorTest, GeneratorConsumingAGenerator) {
  auto inner = [](Events& ev) -> AsyncGenerator<int> {
    Say say{ev, "inner cleanup"};
    for (int i = 0; i < 3; ++i) co_yield i;
  };
  auto outer = [&](Events& ev) -> AsyncGenerator<int> {
    Say say{ev, "outer cleanup"};
    auto in = inner(ev);
    while (auto x = co_await in.next()) co_yield *x * 10;
  };
  auto main = [&]() -> Coro<Events> {
    Events ev;
    auto o = outer(ev);
    int a = co_await o.anext();
    int b = co_await o.anext();
    ev.push_back(std::to_string(a) + " " + std::to_string(b));
    co_await o.aclose();
    ev.push_back("outer closed");
    co_await asyncio::sleep(0s);
    co_await asyncio::sleep(0s);
    ev.push_back("end");
    co_return ev;
  };
  EXPECT_EQ(asyncio::run(main()),
            (Events{"0 10", "outer cleanup", "outer closed", "inner cleanup", "end"}));
}

// athrow() on an exhausted generator throws StopAsyncIteration (CPython 3.12 returns None).
TEST(AsyncGeneratorTest, AthrowOnExhaustedGenerator) {
  auto main = []() -> Coro<std::string> {
    auto gen = ticker(0s, 1);
    while (auto v = co_await gen.next()) {
    }
    try {
      co_await gen.athrow(ValueError("late"));
    } catch (const StopAsyncIteration&) {
      co_return "StopAsyncIteration";
    } catch (const ValueError&) {
      co_return "ValueError";
    }
    co_return "no exception";
  };
  EXPECT_EQ(asyncio::run(main()), "StopAsyncIteration");
}
