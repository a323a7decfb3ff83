// Tests of Runner(loop_factory=...), run(main, loop_factory) and new_event_loop() /
// set_event_loop() / get_event_loop(), against CPython 3.12.1's behaviour (quoted).

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <thread>

#include "asyncio/asyncio.hpp"

namespace {

using asyncio::Coro;
using asyncio::EventLoop;

std::string get_event_loop_error() {
  try {
    (void)asyncio::get_event_loop();
  } catch (const asyncio::RuntimeError& e) {
    return e.what();
  }
  return "";
}

// Python: asyncio.set_event_loop(None); asyncio.get_event_loop() →
//   RuntimeError: There is no current event loop in thread 'MainThread'.
TEST(EventLoopGettersTest, NoCurrentLoopIsPythonsRuntimeError) {
  asyncio::set_event_loop(nullptr);
  EXPECT_EQ(get_event_loop_error(), "There is no current event loop in thread 'MainThread'.");
  // Python: in a threading.Thread: "There is no current event loop in thread 'Thread-1 (t)'."
  std::string other;
  std::thread([&] { other = get_event_loop_error(); }).join();
  EXPECT_EQ(other.rfind("There is no current event loop in thread 'Thread-", 0), 0u) << other;
}

// Python: l = new_event_loop(); set_event_loop(l); get_event_loop() is l → True, also once l
// is closed.
TEST(EventLoopGettersTest, SetEventLoopMakesItCurrentUntilClearedOrDestroyed) {
  std::unique_ptr<EventLoop> loop = asyncio::new_event_loop();
  asyncio::set_event_loop(loop.get());
  EXPECT_EQ(&asyncio::get_event_loop(), loop.get());
  loop->close();
  EXPECT_EQ(&asyncio::get_event_loop(), loop.get());
  // C++: destroying the current loop makes it stop being current (no dangling reference).
  loop.reset();
  EXPECT_NE(get_event_loop_error(), "");
  // The current loop can run coroutines, and inside it get_event_loop() is the running loop.
  std::unique_ptr<EventLoop> l2 = asyncio::new_event_loop();
  asyncio::set_event_loop(l2.get());
  EventLoop* seen = nullptr;
  l2->run_until_complete([](EventLoop*& seen) -> Coro<> {
    seen = &asyncio::get_event_loop();
    co_return;
  }(seen));
  EXPECT_EQ(seen, l2.get());
  asyncio::set_event_loop(nullptr);
  EXPECT_NE(get_event_loop_error(), "");
}

// Python: r = Runner(); r.get_loop(); get_event_loop() is r.get_loop() → True; after
// r.close(): RuntimeError (no current loop).
TEST(RunnerLoopFactoryTest, RunnerWithoutFactorySetsTheCurrentLoopUntilClose) {
  asyncio::set_event_loop(nullptr);
  {
    asyncio::Runner r;
    EventLoop& loop = r.get_loop();
    EXPECT_EQ(&asyncio::get_event_loop(), &loop);
    r.close();
    EXPECT_NE(get_event_loop_error(), "");
  }
}

// Python: asyncio.run(m(), loop_factory=fac) prints "factory", returns the loop, which is
// closed afterwards; Runner(loop_factory=fac, debug=True).get_loop().get_debug() → True.
TEST(RunnerLoopFactoryTest, FactoryMakesTheLoopAndDebugIsApplied) {
  asyncio::set_event_loop(nullptr);
  int calls = 0;
  EventLoop* made = nullptr;
  auto factory = [&]() {
    ++calls;
    auto loop = asyncio::new_event_loop();
    loop->set_exception_handler(nullptr);
    made = loop.get();
    return loop;
  };
  EventLoop* ran =
      asyncio::run([]() -> Coro<EventLoop*> { co_return &asyncio::get_running_loop(); }(), factory);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(ran, made);
  {
    asyncio::Runner r(true, factory);
    EXPECT_TRUE(r.get_loop().get_debug());
    EXPECT_EQ(calls, 2);
    // A factory's loop is not made the current loop (Python sets it only without one).
    EXPECT_NE(get_event_loop_error(), "");
    EXPECT_EQ(r.run([]() -> Coro<int> { co_return 7; }()), 7);
  }
  {
    asyncio::Runner r{asyncio::LoopFactory(factory)};
    EXPECT_FALSE(r.get_loop().get_debug());
  }
  {
    // A captureless lambda is a factory, not a `debug` flag (it converts to bool).
    asyncio::Runner r([] { return asyncio::new_event_loop(); });
    EXPECT_FALSE(r.get_loop().get_debug());
  }
  EXPECT_EQ(
      asyncio::run([]() -> Coro<int> { co_return 3; }(), [] { return asyncio::new_event_loop(); }),
      3);
  // run(main, debug, loop_factory)
  EXPECT_EQ(
      asyncio::run([]() -> Coro<bool> { co_return asyncio::get_running_loop().get_debug(); }(),
                   true, factory),
      true);
}

TEST(RunnerLoopFactoryTest, FactoryReturningNullIsARuntimeError) {
  asyncio::Runner r([] { return std::unique_ptr<EventLoop>(); });
  try {
    (void)r.get_loop();
    ADD_FAILURE() << "no error";
  } catch (const asyncio::RuntimeError& e) {
    EXPECT_STREQ(e.what(), "loop_factory returned no event loop");
  }
}

}  // namespace
